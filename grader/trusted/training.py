"""Trusted training: the grader trains the submitted architecture itself, with fixed seeds.

No submitted code runs here. The layers were validated by architecture.parse and the compile
settings by compilation.parse; the data were prepared with the reference solution's functions.

What is trained is the canonical description of the layers (architecture.canonical), the one
grader.trusted.memo keys the training by, and what the built model says it is is read back from it
(`Trained.layers`): memo keeps a training only under the key of what was actually trained.

Everything here is bounded: architecture.build refuses a model over the assignment's limits on
parameters, multiply-adds per image and the memory training it needs, so one training step and one
prediction cost at most a known amount; the process's data segment is bounded while it trains
(RLIMIT_DATA), so an estimate that falls short gives an error, not the machine's memory; fitting
stops at the wall-clock budget, and so does predicting the test images (a model that cannot be
evaluated in time raises OutOfTime). A loss that stops being a number
(a learning rate far too large, typically) stops training at once and is reported in
`Trained.diverged`, never as a crash; non-finite outputs count as wrong answers.
"""

from __future__ import annotations

import contextlib
import math
import resource
import time
from dataclasses import dataclass
from typing import Iterator

import keras
import numpy as np

from grader import timings
from grader.trusted import architecture, model_cost
from grader.trusted.compilation import CompileSettings
from grader.assignment.spec import Limits, Training


@dataclass(frozen=True)
class Trained:
    """A trained model and what training measured."""

    model: keras.Model
    accuracy: float
    history: dict[str, list[float]]
    seconds: float
    stopped_early: bool
    probabilities: np.ndarray
    train_samples: int
    test_samples: int
    diverged: str = ""  # how training diverged ("the loss became nan at batch 3 of epoch 1"), or ""
    layers: tuple[architecture.Layer, ...] = ()  # what was trained, read back from the built model (canonical)


class OutOfTime(Exception):
    """Evaluating the trained model did not finish within the budget."""


HEADROOM_MB = 1024  # beyond the model's own limit while training: TensorFlow's graphs, threads and batches


class _Budget(keras.callbacks.Callback):
    """Stops training, or predicting, once the wall-clock budget is spent (for predicting, the compute bound makes
    this a last resort)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.deadline = time.monotonic() + seconds
        self.stopped = False

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.monotonic() > self.deadline:
            self.model.stop_training = True
            self.stopped = True

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.monotonic() > self.deadline:
            self.model.stop_predicting = True
            self.stopped = True


class _Divergence(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is not a finite number, and says where it happened."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.where = ""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.where = f"the loss became {float(loss)} at batch {batch + 1} of epoch {self.epoch + 1}"
            self.model.stop_training = True


def seed_everything(seed: int) -> None:
    """Make model initialisation, shuffling and dropout repeatable."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notes are about the grader's own calls, not the submission
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train(layers: tuple[architecture.Layer, ...], settings: CompileSettings, x_train: np.ndarray, y_train: np.ndarray,
          x_test: np.ndarray, y_test: np.ndarray, training: Training, limits: Limits) -> Trained:
    """Build, compile, train within the budget and evaluate on the held-out test split."""
    started = time.monotonic()
    with timings.stage("training: seed, build and compile"):
        seed_everything(training.seed)
        model = architecture.build(architecture.canonical(layers, construct=True), tuple(x_train.shape[1:]), limits,
                                   batch_size=training.batch_size)
        model.compile(**settings.build())
        trained_layers = architecture.described(model, construct=True)  # as it always has: see architecture._shaped
    budget, divergence = _Budget(training.max_seconds), _Divergence()
    with bounded_memory((limits.max_training_mb + HEADROOM_MB) * 2**20):
        with timings.stage("training: fit"):
            fitted = model.fit(x_train, y_train, epochs=training.epochs, batch_size=training.batch_size, shuffle=True,
                               verbose=0, callbacks=[budget, divergence])
        with timings.stage("training: predict the test images"):
            probabilities = predict(model, x_test, seconds=training.max_seconds)
    diverged = divergence.where
    if not diverged and not np.isfinite(probabilities).all():
        diverged = "the model's outputs on the test images are not all finite numbers"
    probabilities = np.nan_to_num(probabilities, nan=0.0, posinf=1.0, neginf=0.0)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
    history = {k: [_number(v) for v in values] for k, values in fitted.history.items()}
    return Trained(model, accuracy, history, time.monotonic() - started, budget.stopped, probabilities,
                   len(x_train), len(x_test), diverged, trained_layers)


def predict(model: keras.Model, images: np.ndarray, *, seconds: float) -> np.ndarray:
    """The model's outputs on `images`, or OutOfTime if they take longer than `seconds`."""
    budget = _Budget(seconds)
    outputs = model.predict(images, batch_size=model_cost.PREDICT_BATCH, verbose=0, callbacks=[budget])
    if len(outputs) != len(images):
        raise OutOfTime(f"predicting {len(images):,} test images took more than {seconds:g} s")
    return outputs


@contextlib.contextmanager
def bounded_memory(allowance: int) -> Iterator[None]:
    """Bound this process's data segment to what it holds now plus `allowance` bytes while the block runs (a soft
    limit, restored afterwards). An allocation past it makes TensorFlow raise ResourceExhaustedError, not the kernel
    kill the grader; an estimate that falls short is then a failed training, never a lost batch."""
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    bound = _data_segment() + allowance
    if hard != resource.RLIM_INFINITY:
        bound = min(bound, hard)
    if soft != resource.RLIM_INFINITY and soft <= bound:
        yield  # already bounded as tightly (a sandbox's limits, or a caller's)
        return
    resource.setrlimit(resource.RLIMIT_DATA, (bound, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _data_segment() -> int:
    """Bytes of this process's data segment now (what RLIMIT_DATA counts), from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def _number(value: float) -> float | None:
    """A history value for results.json: rounded, or None if it is not a finite number (JSON has no NaN)."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None

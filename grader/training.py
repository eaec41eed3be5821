"""Trusted training: the grader trains the submitted architecture itself, with fixed seeds.

No submitted code runs here. The layers were validated by architecture.parse and the compile
settings by compilation.parse; the data were prepared with the reference solution's functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np

from grader import architecture
from grader.compilation import CompileSettings
from grader.spec import Limits, Training


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


class _Budget(keras.callbacks.Callback):
    """Stops training once the wall-clock budget is spent."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.deadline = time.monotonic() + seconds
        self.stopped = False

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.monotonic() > self.deadline:
            self.model.stop_training = True
            self.stopped = True


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
    seed_everything(training.seed)
    model = architecture.build(layers, tuple(x_train.shape[1:]), limits)
    model.compile(**settings.build())
    budget = _Budget(training.max_seconds)
    fitted = model.fit(x_train, y_train, epochs=training.epochs, batch_size=training.batch_size, shuffle=True,
                       verbose=0, callbacks=[budget])
    probabilities = model.predict(x_test, batch_size=500, verbose=0)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
    history = {k: [round(float(v), 6) for v in values] for k, values in fitted.history.items()}
    return Trained(model, accuracy, history, time.monotonic() - started, budget.stopped, probabilities,
                   len(x_train), len(x_test))

"""What every check gets: the assignment, the data, the trusted reference, the sandboxed submission."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from grader.assignment.data import Dataset
from grader.sandbox.runner import Runner, SubmissionError
from grader.trusted import architecture, comparison
from grader.assignment.spec import Assignment, CheckSpec, SpecError

if TYPE_CHECKING:
    import keras

    from grader.checks.reference import CodeReference, KitReference, Recorder
    from grader.trusted.ahead import Ahead
    from grader.trusted.compilation import CompileSettings, Fallback
    from grader.trusted.memo import Cache
    from grader.trusted.training import Trained


@dataclass(frozen=True)
class Blocker:
    """Why a later check has nothing to build on: the check that failed and what it said."""

    check: str
    reason: str
    error: SubmissionError | None = None  # the module's failed import, which fails every later check the same way


@dataclass
class Findings:
    """What checks found that later checks build on; each field is set by one kind and read by others."""

    model: architecture.ParsedModel | None = None  # model: the submission's layers, validated
    built: keras.Model | None = None               # model: those layers, built by the grader
    model_blocker: Blocker | None = None           # model: why there is no model to train
    compile: CompileSettings | None = None         # compile: the submission's settings, when they passed
    compile_fallback: Fallback | None = None       # compile: what training may use of settings that did not pass
    trained: Trained | None = None                 # training: the model the grader trained, and its accuracy
    answers: dict[str, Any] = field(default_factory=dict)  # predict, model_output: answers asked early, by check


@dataclass
class Context:
    """Shared by the checks of one submission; `found` carries typed results from one check to the next."""

    assignment: Assignment
    dataset: Dataset
    reference: CodeReference | KitReference | Recorder  # the expected answers (grader.checks.reference)
    runner: Runner
    found: Findings = field(default_factory=Findings)
    trainings: Cache | None = None  # memoized trainings shared with the other submissions of a run, if any
    ahead: Ahead | None = None      # the expected training, started before the checks (a single grade), if any

    def probe(self, split: str, count: int | None, prepare: list[str] | tuple[str, ...]) -> np.ndarray:
        """The first `count` images of a split, prepared with the reference functions named in `prepare`."""
        if split not in ("train_images", "test_images"):
            raise SpecError(f"probe {split!r} is not train_images or test_images; the test labels are never a probe.")
        images = getattr(self.dataset, split)
        images = images[:count] if count else images
        return self.prepare(images, prepare)

    @property
    def model_check(self) -> CheckSpec:
        """The assignment's model check: the expected layers and input shape live in its parameters."""
        return next(c for c in self.assignment.checks if c.kind == "model")

    def expected_layers(self) -> tuple[architecture.Layer, ...]:
        """The layers the assignment expects, as the model check's spec lists them."""
        return comparison.expected_layers(self.model_check.params["layers"])

    def build(self, layers: tuple[architecture.Layer, ...]):
        """A keras model of `layers` on the model check's input shape, within the assignment's size limits."""
        return architecture.build(layers, tuple(self.model_check.params["input_shape"]), self.assignment.limits,
                                  batch_size=self.assignment.training.batch_size)

    def prepare(self, images: np.ndarray, steps: list[str] | tuple[str, ...]) -> np.ndarray:
        """Apply the reference solution's functions to a copy of `images`."""
        out = np.array(images, copy=True)
        for step in steps:
            out = np.asarray(self.reference.call(step, out))
        return out


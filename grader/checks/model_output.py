"""The model-output check: a function of (model, images) whose answer must equal, within a tolerance, what
the trusted side computes from that model's own output, e.g. softmax probabilities from a model that
outputs logits.

The function gets a model the grader trained (or, if none could be trained, the expected model with
freshly initialised weights) and prepared images; it is asked again with a second set of weights, so
an answer that ignores the model cannot pass. `transform` (the spec's) says what the answer must be:
`softmax` of the model's outputs, or the outputs themselves (`identity`).
"""

from __future__ import annotations

import time

import numpy as np

from grader.trusted.bounds import shorten
from grader.checks.common import from_error
from grader.checks import models
from grader.checks.context import Context
from grader.results import CheckResult
from grader.sandbox.runner import SubmissionError
from grader.assignment.spec import CheckSpec

TRANSFORMS = ("softmax", "identity")
SUM_TOLERANCE = 1e-3  # rows of probabilities further than this from 1 do not sum to 1


def run(check: CheckSpec, ctx: Context) -> CheckResult:
    """Call the function on two models and compare its answer with the transform of each model's output."""
    started = time.monotonic()
    fn, params = check.function, check.params
    images = models.probe(check, ctx)  # the images the re-initialised model was asked with early, too
    transform = params.get("transform", "softmax")
    problems: list[tuple[str, str]] = []
    try:
        answers, note = models.answers(ctx, check, images)
    except SubmissionError as error:
        return from_error(check, error).timed(time.monotonic() - started)
    for answer in answers:
        outputs = answer.model_outputs(images).astype(np.float64)
        found = diagnose(fn, answer.result, outputs, transform, answer.header,
                         atol=float(params.get("atol", 1e-5)), rtol=float(params.get("rtol", 1e-4)))
        if answer.header.get("input_modified"):
            found.append(("input_modified", f"{fn}() changed the images it was given."))
        if answer.header.get("weights_changed"):
            found.append(("weights_changed", f"{fn}() changed the model's weights; it should only read them "
                                              "(no fit or set_weights)."))
        if found:
            problems = [(code, f"With the {answer.label} model: {text}" if i == 0 else text)
                        for i, (code, text) in enumerate(found)]
            break
    extra = {"images": len(images), "models": [answer.label for answer in answers], "transform": transform}
    if problems:
        hints = params.get("hints", {})
        code = problems[0][0]
        return CheckResult.failed(check.name, check.points, " ".join(t for _, t in problems) + note,
                                  hint=hints.get(code) or hints.get("values", ""), visibility=check.visibility,
                                  extra={**extra, "problems": [c for c, _ in problems]}).timed(time.monotonic() - started)
    what = "the softmax of the model's outputs" if transform == "softmax" else "the model's outputs"
    return CheckResult.passed(check.name, check.points,
                              f"{fn}() returned {what} for {len(images)} images, for {len(answers)} different sets "
                              f"of weights.{note}", visibility=check.visibility, extra=extra).timed(time.monotonic() - started)


def softmax(outputs: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64."""
    shifted = outputs - outputs.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def diagnose(fn: str, got: np.ndarray | None, outputs: np.ndarray, transform: str, header: dict, *,
             atol: float, rtol: float) -> list[tuple[str, str]]:
    """Every way `got` differs from the transform of `outputs`, as (code, sentence) pairs, most telling first."""
    expected = softmax(outputs) if transform == "softmax" else outputs
    n, classes = expected.shape
    if got is None:
        return [("not_array", f"{fn}() returned {shorten(header.get('returned', 'something'))}; expected a float "
                              f"array of shape ({n}, {classes}).")]
    if got.shape == (n,):
        return [("argmax", f"{fn}() returned shape ({n},), one class per image; expected every class's value for "
                           f"each image, shape ({n}, {classes}).")]
    if got.shape != expected.shape:
        return [("shape", f"{fn}() returned shape {got.shape} for {n} images; expected ({n}, {classes}).")]
    if got.dtype.kind != "f":
        return [("dtype", f"{fn}() returned {got.dtype} values; expected floats.")]
    values = got.astype(np.float64)
    if not np.all(np.isfinite(values)):
        return [("values", f"{fn}() returned NaN or infinite values; expected finite numbers.")]
    if np.allclose(values, expected, rtol=rtol, atol=atol):
        return []
    if transform == "softmax":
        sums = values.sum(axis=1)
        if np.allclose(values, outputs, rtol=rtol, atol=atol):
            return [("logits", f"{fn}() returned the model's raw outputs (logits): each row should sum to 1, but "
                               f"they sum to {_range(sums)}. Expected their softmax.")]
        if not np.allclose(sums, 1.0, atol=SUM_TOLERANCE):
            if np.allclose(values.sum(axis=0), 1.0, atol=SUM_TOLERANCE):
                return [("axis", f"{fn}() normalised over the images (axis 0): each column sums to 1, but each row, "
                                 f"one image's values, sums to {_range(sums)}. Expected softmax over the last axis.")]
            return [("not_normalised", f"{fn}() returned rows that sum to {_range(sums)}; expected each image's "
                                       "values to sum to 1.")]
        if np.allclose(values, softmax(expected), rtol=rtol, atol=atol):
            return [("twice", f"{fn}() applied softmax twice: its rows sum to 1 but are flatter than the softmax of "
                              "the model's outputs.")]
    wrong = ~np.isclose(values, expected, rtol=rtol, atol=atol)
    i, j = (int(k) for k in np.unravel_index(int(np.argmax(wrong)), values.shape))
    return [("values", f"{fn}() returned {int(wrong.sum()):,} of {values.size:,} values that differ from the expected "
                       f"ones by more than {atol:g} (image {i}, class {j}: got {values[i, j]:.6g}, expected "
                       f"{expected[i, j]:.6g}).")]


def _range(values: np.ndarray) -> str:
    low, high = float(values.min()), float(values.max())
    return f"{low:.4g}" if np.isclose(low, high) else f"{low:.4g} to {high:.4g}"


def prefetch(check: CheckSpec, ctx: Context) -> None:
    """While the training runs: ask for the answer that does not need it (see grader.checks.models.prefetch)."""
    models.prefetch(check, ctx)

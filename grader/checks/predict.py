"""The predict check: predict() must return the model's most likely class for each image.

The submission's predict gets a model the grader trained (or, if none could be trained, the
expected architecture with fresh weights) and images; its answer is compared with the argmax of
that model's output computed on the trusted side. It is asked twice, with two different sets of
weights, so a predict that ignores the model it is given cannot pass.
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

TIE = 1e-4  # top-two probabilities closer than this may be ordered either way


def run(check: CheckSpec, ctx: Context) -> CheckResult:
    """Call predict on two models and compare with their argmax."""
    started = time.monotonic()
    fn, params = check.function, check.params
    images = models.probe(check, ctx)  # the images the re-initialised model was asked with early, too
    problems: list[str] = []
    hint = ""
    try:
        answers, note = models.answers(ctx, check, images)
    except SubmissionError as error:
        return from_error(check, error).timed(time.monotonic() - started)
    for answer in answers:
        expected_probs = _probabilities(ctx, answer, images, params)
        found, hint = _compare(fn, answer.result, expected_probs, answer.header)
        if answer.header.get("input_modified"):
            found.append(f"{fn}() changed the images it was given.")
        if answer.header.get("weights_changed"):
            found.append(f"{fn}() changed the model's weights; it should only read them (no fit or set_weights).")
            hint = hint or f"{fn}() should only call the model, not train it."
        if found:
            problems = [f"With the {answer.label} model: " + " ".join(found)]
            break
    extra = {"images": len(images), "models": [answer.label for answer in answers]}
    if problems:
        return CheckResult.failed(check.name, check.points, " ".join(problems) + note, hint=hint,
                                  visibility=check.visibility, extra=extra).timed(time.monotonic() - started)
    return CheckResult.passed(check.name, check.points,
                              f"{fn}() returned the most likely class of each of {len(images)} images, for "
                              f"{len(answers)} different sets of weights.{note}",
                              visibility=check.visibility, extra=extra).timed(time.monotonic() - started)


def _probabilities(ctx: Context, answer: models.Answer, images: np.ndarray, params: dict) -> np.ndarray:
    """The model's outputs for `images`; for the trained model on the first test images, those training predicted."""
    trained, budget = ctx.found.trained, ctx.assignment.training
    if (trained is not None and answer.model is trained.model and params.get("probe", "test_images") == "test_images"
            and tuple(params.get("prepare", [])) == tuple(budget.prepare) and len(images) <= trained.test_samples):
        return trained.probabilities[: len(images)]  # the same weights and images: no second prediction
    return answer.model_outputs(images)


def _compare(fn: str, got: np.ndarray | None, probs: np.ndarray, header: dict) -> tuple[list[str], str]:
    n, classes = probs.shape
    expected = np.argmax(probs, axis=1)
    if got is None:
        return [f"{fn}() returned {shorten(header.get('returned'))}; expected an int array of shape ({n},)."], "Return np.argmax(probabilities, axis=1)."
    if got.ndim == 0:
        return [f"{fn}() returned the single number {got.item():g} for {n} images; expected one class index per "
                f"image, shape ({n},). np.argmax without an axis takes the largest of all {n * classes} outputs "
                "together and returns its position in them."], \
            "Give np.argmax the axis of the classes: np.argmax(model.predict(images), axis=1) returns one index per image."
    if got.shape == probs.shape:
        return [f"{fn}() returned the probabilities, shape {got.shape}; expected one class index per image, shape ({n},)."], \
            "Take the index of the largest output (probability or logit): np.argmax(model.predict(images), axis=1)."
    if got.shape == (classes,) and n != classes:
        return [f"{fn}() returned shape {got.shape}: the argmax was taken over the images (axis 0); expected shape ({n},)."], \
            "Use axis=1 (or axis=-1): one argmax per image, over its probabilities."
    if got.size == n and got.shape != (n,):
        return [f"{fn}() returned shape {got.shape}; expected a flat array of shape ({n},)."], "Flatten the result, e.g. with .reshape(-1)."
    if got.shape != (n,):
        return [f"{fn}() returned shape {got.shape} for {n} images; expected ({n},)."], "Return one class index per image."
    problems, hint = [], ""
    if got.dtype.kind not in "iu":
        if got.dtype.kind == "f" and np.all(np.isfinite(got)) and np.array_equal(got, np.round(got)):
            problems.append(f"{fn}() returned {got.dtype} values; expected integers.")
            hint = "Convert with .astype(int); np.argmax already returns integers."
        else:
            problems.append(f"{fn}() returned {got.dtype} values that are not whole class numbers; expected integer class indices.")
            hint = "Return np.argmax(probabilities, axis=1), not the probabilities themselves."
    values = got.astype(np.float64)
    top2 = np.sort(probs, axis=1)[:, -2:]
    tie = (top2[:, 1] - top2[:, 0]) < TIE
    wrong = (values != expected) & ~tie
    if wrong.any():
        i = int(np.argmax(wrong))
        problems.append(f"{int(wrong.sum())} of {n} answers differ from the class with the highest probability "
                        f"(image {i}: got {got[i]}, the model's most likely class is {expected[i]}).")
        hint = hint or "Call the model passed in and return np.argmax(model.predict(images), axis=1)."
    return problems, hint


def prefetch(check: CheckSpec, ctx: Context) -> None:
    """While the training runs: ask for the answer that does not need it (see grader.checks.models.prefetch)."""
    models.prefetch(check, ctx)

"""The models a function of (model, images) is tested with, by the predict and model_output checks.

The first is the model the grader trained (when training worked), else a freshly initialised one;
the second the same layers re-initialised with another seed, so a function that ignores the model
it is given cannot pass. Both are built by the grader from validated layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from grader.trusted import training
from grader.checks.context import Context


@dataclass(frozen=True)
class Answer:
    """What the submission's function answered for one model: its result if it was an array, and the reply's notes
    (`returned`: the result's type; `input_modified`, `weights_changed`)."""

    label: str
    model: keras.Model
    result: np.ndarray | None
    header: dict


def trusted(ctx: Context, fn: str) -> tuple[list[tuple[str, keras.Model]], str]:
    """[(label, model), (label, model)] and a note for the student when the first is not their trained model."""
    trained, seed = ctx.found.trained, ctx.assignment.training.seed
    if trained is not None and not trained.diverged:
        layers, label, first, note = ctx.found.model.layers, "trained", trained.model, ""
    else:
        if trained is not None:  # a diverged model's outputs are NaN: nothing to compare with
            layers, label = ctx.found.model.layers, "initialised"
            note = f" (Your model's training diverged, so {fn}() was tested with freshly initialised weights.)"
        else:
            layers, label = ctx.expected_layers(), "expected"
            note = f" (Your own model could not be trained, so {fn}() was tested with the expected model.)"
        training.seed_everything(seed)
        first = ctx.build(layers)
    training.seed_everything(seed + 1)
    return [(label, first), ("re-initialised", ctx.build(layers))], note


def ask(ctx: Context, fn: str, models: list[tuple[str, keras.Model]], images: np.ndarray,
        timeout: float | None = None) -> list[Answer]:
    """Call `fn(model, images)` in the sandbox for each of `models` (the same layers, other weights) in one request:
    the sandbox builds the layers once and sets each model's weights in turn. Raises SubmissionError."""
    arrays: dict[str, np.ndarray] = {"images": images}
    count = 0
    for k, (_, model) in enumerate(models):
        weights = model.get_weights()
        count = len(weights)
        arrays.update({f"w{k}_{i}": w for i, w in enumerate(weights)})
    reply = ctx.runner.request({"op": "predict", "function": fn, "weights": count, "sets": len(models),
                                "model": keras.saving.serialize_keras_object(models[0][1])}, arrays,
                               stage=f"{fn}()", timeout=timeout)
    notes = reply.header.get("answers")
    if not isinstance(notes, list) or len(notes) != len(models) or not all(isinstance(n, dict) for n in notes):
        notes = [{"returned": "no answer"}] * len(models)
    return [Answer(label, model, reply.arrays.get(f"result{k}"), notes[k])
            for k, (label, model) in enumerate(models)]

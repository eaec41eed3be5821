"""The models a function of (model, images) is tested with, by the predict and model_output checks.

The first is the model the grader trained (when training worked), else a freshly initialised one;
the second the same layers re-initialised with another seed, so a function that ignores the model
it is given cannot pass. Both are built by the grader from validated layers.
"""

from __future__ import annotations

import keras

from grader.trusted import training
from grader.checks.context import Context


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

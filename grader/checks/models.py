"""The models a function of (model, images) is tested with, by the predict and model_output checks.

The first is the model the grader trained (when training worked), else a freshly initialised one;
the second the same layers re-initialised with another seed, so a function that ignores the model
it is given cannot pass. Both are built by the grader from validated layers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras
import numpy as np

from grader.assignment.spec import CheckSpec
from grader.checks.context import Context
from grader.sandbox.runner import SubmissionError
from grader.trusted import training


@dataclass(frozen=True)
class Answer:
    """What the submission's function answered for one model: its result if it was an array, and the reply's notes
    (`returned`: the result's type; `input_modified`, `weights_changed`)."""

    label: str
    model: keras.Model | Sent
    result: np.ndarray | None
    header: dict
    outputs: np.ndarray | None = None  # the model's own outputs for the images, if worked out already

    def model_outputs(self, images: np.ndarray) -> np.ndarray:
        """The model's outputs for `images` (those worked out while the training ran, for an answer asked early)."""
        if self.outputs is not None:
            return self.outputs
        return keras.ops.convert_to_numpy(self.model(images, training=False))  # eager: no tracing for a few images


def answers(ctx: Context, check: CheckSpec, images: np.ndarray) -> tuple[list[Answer], str]:
    """The submission's answers for the two models, first model first, and a note for the student when the first is
    not their trained model. Raises SubmissionError.

    The re-initialised model is always asked first: alone, earlier, if `prefetch` asked it while the training ran;
    else in one request with the first model.
    """
    fn, timeout = check.function, check.params.get("timeout")
    label, first, layers, note = _first(ctx, fn)
    early = ctx.found.answers.get(check.name)
    if early is not None and early.layers == layers:
        if isinstance(early.answer, SubmissionError):
            raise early.answer
        (answer,) = ask(ctx, fn, [(label, first)], images, timeout)
        return [answer, early.answer], note
    second, answer = ask(ctx, fn, [("re-initialised", reinitialised(ctx, layers)), (label, first)], images, timeout)
    return [answer, second], note


def prefetch(check: CheckSpec, ctx: Context) -> None:
    """Ask for the re-initialised model's answer now, while the training runs elsewhere: it does not need the training;
    and work out that model's own outputs meanwhile, or take both from the training started ahead, which worked them
    out for the expected layers (`initialised`) when the submission's are those.

    Kept in ctx.found.answers for `answers`, which uses it if the training leaves the layers as they are (an error
    included, reported in the check's turn, as it would have been then)."""
    if ctx.found.model is None:
        return
    layers, images = ctx.found.model.layers, probe(check, ctx)
    sent = _sent_ahead(ctx, check, layers, images)
    try:
        if sent is not None:
            model, outputs = sent
            (answer,) = ask(ctx, check.function, [("re-initialised", model)], images, check.params.get("timeout"))
        else:
            (answer,) = ask(ctx, check.function, [("re-initialised", reinitialised(ctx, layers))], images,
                            check.params.get("timeout"))
            outputs = answer.model_outputs(images)
        answer = dataclasses.replace(answer, outputs=outputs)
    except SubmissionError as error:
        answer = error
    ctx.found.answers[check.name] = Early(layers, answer)


def probe(check: CheckSpec, ctx: Context) -> np.ndarray:
    """The images a check of a function of (model, images) passes: its `probe` split's first `count`, prepared."""
    params = check.params
    return ctx.probe(params.get("probe", "test_images"), params.get("count", 50), params.get("prepare", []))


ASKED_EARLY = ("predict", "model_output")  # the kinds of check whose re-initialised model is asked for early


def initialised(ctx: Context, layers: tuple) -> tuple[dict, bytes]:
    """For the training started ahead, given the layers it trains (the expected ones): those layers re-initialised, as
    plain data, with their outputs on the probe of each check that asks early; (a JSON-able header, an npz)."""
    import io

    model = reinitialised(ctx, layers)
    weights = model.get_weights()
    arrays = {f"w{i}": w for i, w in enumerate(weights)}
    for check in ctx.assignment.checks:
        if check.kind in ASKED_EARLY:
            images = probe(check, ctx)
            arrays[f"outputs_{check.name}"] = keras.ops.convert_to_numpy(model(images, training=False))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    header = {"layers": _signature(ctx, layers), "config": layers_config(model), "weights": len(weights)}
    return header, buffer.getvalue()


@dataclass(frozen=True)
class Sent:
    """A model as data, sent by the training started ahead: what `ask` needs of it, with no Keras model built here."""

    config: dict
    weights: list

    def get_weights(self) -> list:
        return list(self.weights)


def _sent_ahead(ctx: Context, check: CheckSpec, layers: tuple, images: np.ndarray) -> tuple[Sent, np.ndarray] | None:
    """The re-initialised model of `layers` and its outputs on `images`, if the training started ahead sent them for
    these layers; else None."""
    if ctx.ahead is None:
        return None
    sent = ctx.ahead.initialised()
    if sent is None:
        return None
    header, arrays = sent
    outputs = arrays.get(f"outputs_{check.name}")
    count = header.get("weights")
    if (header.get("layers") != _signature(ctx, layers) or outputs is None or len(outputs) != len(images)
            or not isinstance(count, int) or not isinstance(header.get("config"), dict)
            or any(f"w{i}" not in arrays for i in range(count))):
        return None
    return Sent(header["config"], [arrays[f"w{i}"] for i in range(count)]), outputs


def _signature(ctx: Context, layers: tuple) -> str:
    """What makes the re-initialised model of `layers` what it is: the layers (canonical), the input and the seed."""
    import hashlib
    import json

    from grader.trusted import memo

    material = {"layers": memo.layers_material(layers), "input_shape": list(ctx.model_check.params["input_shape"]),
                "seed": ctx.assignment.training.seed + 1}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Early:
    """An answer asked for before its check's turn, and the layers of the model it was asked with."""

    layers: tuple
    answer: Answer | SubmissionError


def reinitialised(ctx: Context, layers: tuple) -> keras.Model:
    """`layers` with fresh weights from the seed after the assignment's: the same weights every time."""
    training.seed_everything(ctx.assignment.training.seed + 1)
    return ctx.build(layers)


def _first(ctx: Context, fn: str) -> tuple[str, keras.Model, tuple, str]:
    """The first model (label, model), the layers of both, and the note for the student."""
    trained, seed = ctx.found.trained, ctx.assignment.training.seed
    if trained is not None and not trained.diverged:
        return "trained", trained.model, ctx.found.model.layers, ""
    if trained is not None:  # a diverged model's outputs are NaN: nothing to compare with
        layers, label = ctx.found.model.layers, "initialised"
        note = f" (Your model's training diverged, so {fn}() was tested with freshly initialised weights.)"
    else:
        layers, label = ctx.expected_layers(), "expected"
        note = f" (Your own model could not be trained, so {fn}() was tested with the expected model.)"
    training.seed_everything(seed)
    return label, ctx.build(layers), layers, note


def ask(ctx: Context, fn: str, models: list[tuple[str, keras.Model | Sent]], images: np.ndarray,
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
                                "model": layers_config(models[0][1])}, arrays,
                               stage=f"{fn}()", timeout=timeout)
    notes = reply.header.get("answers")
    if not isinstance(notes, list) or len(notes) != len(models) or not all(isinstance(n, dict) for n in notes):
        notes = [{"returned": "no answer"}] * len(models)
    return [Answer(label, model, reply.arrays.get(f"result{k}"), notes[k])
            for k, (label, model) in enumerate(models)]


def layers_config(model: keras.Model | Sent) -> dict:
    """The model's serialized config with fixed names in place of the numbered ones Keras gave it and its layers, and
    without its compile settings: the same for every model of the same layers, so the sandbox, which keeps the model
    of the last request's config, builds it once for every request with other weights (the re-initialised model's,
    then the trained one's). A predicting function gets an uncompiled model either way."""
    if isinstance(model, Sent):
        return model.config
    config = keras.saving.serialize_keras_object(model)
    inner = {**config.get("config", {}), "name": "model"}
    if isinstance(inner.get("layers"), list):
        inner["layers"] = [{**layer, "config": {**layer["config"], "name": f"layer_{n}"}}
                           if isinstance(layer, dict) and isinstance(layer.get("config"), dict) else layer
                           for n, layer in enumerate(inner["layers"])]
    return {k: v for k, v in {**config, "config": inner}.items() if k != "compile_config"}

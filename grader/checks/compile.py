"""The compile check: which optimizer, loss and metrics compile_model sets, and whether they fit.

The function compiles the model the assignment expects (the reference architecture), not the
submission's own: whether the loss must be told `from_logits` is judged against the expected
model's output, so a mistake in build_model costs build_model only. Settings that do not pass
leave their optimizer to the training check (compilation.fallback): a compile function made
worse on purpose must not be trained with better settings than its own.
"""

from __future__ import annotations

import time

import keras

from grader.trusted import architecture, comparison, compilation
from grader.trusted.bounds import shorten
from grader.checks.common import from_error
from grader.checks.context import Context
from grader.results import CheckResult
from grader.sandbox.runner import SubmissionError
from grader.assignment.spec import CheckSpec

_LOSS_ADVICE = {
    "categorical_crossentropy": "categorical_crossentropy expects one-hot labels, but the labels here are integers "
                                "0..{last}",
    "binary_crossentropy": "binary_crossentropy is for two classes, and here there are {classes}",
    "mean_squared_error": "mean squared error is a regression loss: it treats the class labels as numbers to approach",
    "mean_absolute_error": "mean absolute error is a regression loss: it treats the class labels as numbers to approach",
}


def run(check: CheckSpec, ctx: Context) -> CheckResult:
    """Compile a model in the sandbox with the submission's function and judge the settings it chose."""
    started = time.monotonic()
    fn, params = check.function, check.params
    model, output_activation = _reference_model(ctx)
    try:
        reply = ctx.runner.request({"op": "compile", "function": fn, "model": keras.saving.serialize_keras_object(model)},
                                   stage=f"{fn}()", timeout=params.get("timeout"))
    except SubmissionError as error:
        return from_error(check, error).timed(time.monotonic() - started)
    header = reply.header
    if "compiled" not in header:
        return _fail(check, started, f"{fn}() returned {shorten(header.get('returned'))}; expected the compiled model (or None after "
                                     "compiling it in place).", f"End {fn} with `return model`.")
    if not header["compiled"]:
        return _fail(check, started, f"{fn}() did not compile the model.",
                     f"Call model.compile(optimizer={params['optimizer'].lower()!r}, loss={params['loss']!r}, "
                     f"metrics=[{params['metric']!r}]) and return the model.")
    try:
        settings = compilation.parse(header.get("config"))
    except compilation.CompileError as error:
        ctx.found.compile_fallback = compilation.fallback(header.get("config"))
        return _fail(check, started, f"The grader cannot use {fn}()'s settings: {error}",
                     "Use Keras' own optimizer, loss and metric, by name or class.", fault="unsafe")
    problems, codes = [], []
    if settings.optimizer != params["optimizer"]:
        problems.append(f"the optimizer is {settings.optimizer}; expected {params['optimizer']}.")
    expected_loss = compilation.loss_name(params["loss"])
    classes = ctx.assignment.data.num_classes
    if settings.loss != expected_loss:
        why = _LOSS_ADVICE.get(settings.loss, f"{settings.loss} does not fit integer class labels")
        problems.append(f"the loss is {settings.loss}; expected {expected_loss}: "
                        f"{why.format(classes=classes, last=classes - 1)}.")
        codes.append("loss")
    elif settings.from_logits and output_activation == "softmax":
        problems.append("the loss has from_logits=True, but the expected model, which the grader gave it to compile, "
                        "ends in softmax: its outputs are probabilities, not logits; drop from_logits=True.")
        codes.append("from_logits_wrong")
    elif not settings.from_logits and output_activation == "linear":
        problems.append("the expected model, which the grader gave it to compile, outputs logits (its last layer has no "
                        "activation), so the loss needs from_logits=True.")
        codes.append("from_logits_missing")
    if not settings.has_accuracy:
        problems.append(f"no accuracy metric (metrics are [{', '.join(settings.metrics)}]); expected {params['metric']!r}.")
        codes.append("metric")
    extra = {"settings": settings.describe(), "optimizer": settings.optimizer, "loss": settings.loss,
             "from_logits": settings.from_logits, "metrics": list(settings.metrics)}
    if problems:
        ctx.found.compile_fallback = compilation.fallback(None, settings)
        hints = params.get("hints", {})
        loss = (f"keras.losses.{compilation.LOSSES[expected_loss][0]}(from_logits=True)"
                if output_activation == "linear" else repr(params["loss"]))
        hint = next((hints[code] for code in codes if code in hints),
                    f"Compile with model.compile(optimizer={params['optimizer'].lower()!r}, loss={loss}, "
                    f"metrics=[{params['metric']!r}]).")
        return CheckResult.failed(check.name, check.points, f"{fn}() compiles with {settings.describe()}: " + " ".join(problems),
                                  hint=hint, visibility=check.visibility, extra={**extra, "problems": codes}
                                  ).timed(time.monotonic() - started)
    ctx.found.compile = settings
    if header.get("returned") == "NoneType":  # compiled in place: right, but the caller gets nothing
        return CheckResult.passed(check.name, check.points,
                                  f"{fn}() compiles with {settings.describe()}. Note: it compiles the model in place "
                                  f"and returns None, so the notebook's `model = {fn}(model)` leaves model as None; "
                                  "end it with `return model`.",
                                  hint=f"End {fn} with `return model`.", visibility=check.visibility,
                                  extra={**extra, "returned_none": True}).timed(time.monotonic() - started)
    return CheckResult.passed(check.name, check.points, f"{fn}() compiles with {settings.describe()}.",
                              visibility=check.visibility, extra=extra).timed(time.monotonic() - started)


def _reference_model(ctx: Context) -> tuple[keras.Model, str]:
    """The expected model, to be compiled by the submission, and its output activation. The model check's build of
    the submission's model is sent instead when its layers are the expected ones: the same model, built once."""
    expected = ctx.expected_layers()
    parsed, built = ctx.found.model, ctx.found.built
    same = (parsed is not None and built is not None and len(architecture.fold_activations(parsed.layers)) == len(expected)
            and all(row.status == "same" and row.expected_shape == row.got_shape for row in comparison.compare(
                expected, architecture.fold_activations(parsed.layers), tuple(ctx.model_check.params["input_shape"]))))
    model = built if same else ctx.build(expected)
    return model, architecture.fold_activations(expected)[-1].args.get("activation", "linear")


def _fail(check: CheckSpec, started: float, message: str, hint: str, fault: str | None = None) -> CheckResult:
    return CheckResult.failed(check.name, check.points, message, hint=hint, visibility=check.visibility,
                              fault=fault).timed(time.monotonic() - started)

"""The compile check: which optimizer, loss and metrics compile_model sets, and whether they fit."""

from __future__ import annotations

import time

import keras

from grader import architecture, compilation
from grader.bounds import shorten
from grader.checks.common import from_error
from grader.context import Context
from grader.results import CheckResult
from grader.runner import SubmissionError
from grader.spec import CheckSpec

_LOSS_ADVICE = {
    "categorical_crossentropy": "categorical_crossentropy expects one-hot labels, but the labels here are integers 0-9",
    "binary_crossentropy": "binary_crossentropy is for two classes, and here there are ten",
    "mean_squared_error": "mean squared error is a regression loss: it treats the digit labels as numbers to approach",
    "mean_absolute_error": "mean absolute error is a regression loss: it treats the digit labels as numbers to approach",
}


def run(check: CheckSpec, ctx: Context) -> CheckResult:
    """Compile a model in the sandbox with the submission's function and judge the settings it chose."""
    started = time.monotonic()
    fn, params = check.function, check.params
    model, output_activation = _model_to_compile(ctx)
    try:
        reply = ctx.runner.request({"op": "compile", "function": fn, "model": keras.saving.serialize_keras_object(model)},
                                   stage=f"{fn}()", timeout=params.get("timeout"))
    except SubmissionError as error:
        return from_error(check, error).timed(time.monotonic() - started)
    header = reply.header
    if "compiled" not in header:
        return _fail(check, started, f"{fn}() returned {shorten(header.get('returned'))}; expected the compiled model (or None after "
                                     "compiling it in place).", "End compile_model with `return model`.")
    if not header["compiled"]:
        return _fail(check, started, f"{fn}() did not compile the model.",
                     f"Call model.compile(optimizer={params['optimizer'].lower()!r}, loss={params['loss']!r}, "
                     f"metrics=[{params['metric']!r}]) and return the model.")
    try:
        settings = compilation.parse(header.get("config"))
    except compilation.CompileError as error:
        return _fail(check, started, f"The grader cannot use {fn}()'s settings: {error}",
                     "Use Keras' own optimizer, loss and metric, by name or class.", fault="unsafe")
    problems = []
    if settings.optimizer != params["optimizer"]:
        problems.append(f"the optimizer is {settings.optimizer}; expected {params['optimizer']}.")
    expected_loss = compilation.loss_name(params["loss"])
    if settings.loss != expected_loss:
        why = _LOSS_ADVICE.get(settings.loss, f"{settings.loss} does not fit integer class labels")
        problems.append(f"the loss is {settings.loss}; expected {expected_loss}: {why}.")
    elif settings.from_logits and output_activation == "softmax":
        problems.append("the loss has from_logits=True, but the model already ends in softmax, so its outputs are "
                        "probabilities, not logits; drop from_logits=True.")
    elif not settings.from_logits and output_activation == "linear":
        problems.append("the model's last layer has no softmax, so it outputs logits; use the loss with from_logits=True "
                        "or add the softmax.")
    if not settings.has_accuracy:
        problems.append(f"no accuracy metric (metrics are [{', '.join(settings.metrics)}]); expected {params['metric']!r}.")
    extra = {"settings": settings.describe(), "optimizer": settings.optimizer, "loss": settings.loss,
             "from_logits": settings.from_logits, "metrics": list(settings.metrics)}
    if problems:
        hint = (f"model.compile(optimizer={params['optimizer'].lower()!r}, loss={params['loss']!r}, "
                f"metrics=[{params['metric']!r}])")
        return CheckResult.failed(check.name, check.points, f"{fn}() compiles with {settings.describe()}: " + " ".join(problems),
                                  hint=f"Compile with {hint}.", visibility=check.visibility, extra=extra
                                  ).timed(time.monotonic() - started)
    ctx.state["compile"] = settings
    return CheckResult.passed(check.name, check.points, f"{fn}() compiles with {settings.describe()}.",
                              visibility=check.visibility, extra=extra).timed(time.monotonic() - started)


def _model_to_compile(ctx: Context) -> tuple[keras.Model, str]:
    """The submission's own model when it could be rebuilt (so from_logits can be judged), else the expected one."""
    parsed = ctx.state.get("model")
    layers = parsed.layers if parsed else ctx.expected_layers()
    try:
        model = ctx.build(layers)
    except architecture.ModelError:
        layers = ctx.expected_layers()
        model = ctx.build(layers)
    last = architecture.fold_activations(layers)[-1]
    return model, last.args.get("activation", "linear")


def _fail(check: CheckSpec, started: float, message: str, hint: str, fault: str | None = None) -> CheckResult:
    return CheckResult.failed(check.name, check.points, message, hint=hint, visibility=check.visibility,
                              fault=fault).timed(time.monotonic() - started)

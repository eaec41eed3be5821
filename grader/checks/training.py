"""The training check: the grader trains the submitted model and measures its test accuracy.

The model is the submission's architecture; the compile settings are the submission's when its
compile function passed (judged on the expected model), with from_logits fitted to this model's
output. When they did not pass, the model is trained with their optimizer (how it learns is the
submission's own choice, and a function made worse on purpose must not earn the reference's) and
the reference loss and metrics (every accepted loss of the expected name trains as the reference's,
and metrics do not change the weights); an optimizer the grader cannot rebuild fails this check
with the reason. Only a compile function that gave no settings at all is trained with the spec's
reference settings. Which were used is stated in the feedback and the report.
"""

from __future__ import annotations

import dataclasses
import math
import time

from grader.trusted import architecture, comparison, compilation, memo, training
from grader.checks.common import blocked, from_error
from grader.trusted.compilation import CompileSettings
from grader.checks.context import Blocker, Context
from grader.results import CheckResult
from grader.assignment.spec import CheckSpec
from grader.sandbox.protocol import as_sent


def run(check: CheckSpec, ctx: Context) -> CheckResult:
    """Train the model that build_model and compile_model describe and compare its accuracy with the threshold."""
    started = time.monotonic()
    parsed = ctx.found.model
    if ctx.ahead is not None and (parsed is None or _wrong_output(ctx, "")):
        ctx.ahead.stop()  # nothing will be trained: free its core now
    model_check = next((c for c in ctx.assignment.checks if c.kind == "model"), None)
    builder = model_check.function if model_check is not None else "the model function"
    if parsed is None:
        cause = ctx.found.model_blocker or Blocker(model_check.name if model_check else "", f"{builder}() gave no model.")
        if cause.error is not None:  # the import failed: one failure for every check, not a step that waits
            return from_error(check, cause.error).timed(time.monotonic() - started)
        return blocked(check, f"Could not train a model, so no accuracy could be measured. {cause.reason}",
                       f"Fix {cause.check} first; this check trains the model {builder}() returns.", fault="blocked",
                       waits_for=(cause.check,))
    wrong_output = _wrong_output(ctx, builder)
    if wrong_output:
        return blocked(check, wrong_output, f"Fix {model_check.name} first; this check trains the model {builder}() "
                       "returns.", fault="blocked", waits_for=(model_check.name,))
    budget = ctx.assignment.training
    settings, source = _settings(ctx, parsed.layers, ctx.found.compile, builder)
    if settings is None:
        compile_check = next((c.name for c in ctx.assignment.checks if c.kind == "compile"), "")
        if ctx.ahead is not None:
            ctx.ahead.stop()
        return blocked(check, f"Could not train the model, so no accuracy could be measured: {source}",
                       f"Fix {compile_check} first: the grader trains with its optimizer.", fault="blocked",
                       waits_for=(compile_check,))
    note = f" Trained with {source} ({settings.describe()})."
    data = memo.prepared(ctx, budget)  # prepared once per process, not once per submission
    try:
        trained, provenance = _within_budget(ctx, parsed.layers, settings, data)
    except _Stopped as exc:
        return blocked(check, f"The grader's machine was too slow to train this model: {exc}, twice, so no accuracy "
                              f"could be measured.{note} Within the assignment's limits on its size, the model trains "
                              f"well within the budget on a machine that is not overloaded.",
                       "This is not your fault: ask for a regrade.", fault="grader")
    except architecture.TooCostly as exc:
        return blocked(check, f"The grader will not train this model: {exc}", "Make the model smaller: fewer layers, "
                       "units or filters, and pooling early.", fault="training")
    except Exception as exc:  # noqa: BLE001 - a submitted architecture can make Keras fail in many ways
        if type(exc).__name__ == "ResourceExhaustedError":  # past the bound on the training's memory
            return blocked(check, f"Training the model ran out of the memory the grader allows it "
                           f"({ctx.assignment.limits.max_training_mb:,} MB).{note}",
                           "Make the model smaller: fewer layers, units or filters, and pooling early.", fault="training")
        return blocked(check, f"Training the model failed: {type(exc).__name__}: {str(exc)[:500]}.{note}",
                       "Check that the model's last layer has one unit per class and that the loss fits integer labels.",
                       fault="training")
    ctx.found.trained = trained
    threshold = float(check.params["min_accuracy"])
    extra = {
        "accuracy": round(trained.accuracy, 6),
        "min_accuracy": threshold,
        "history": trained.history,
        "epochs": budget.epochs,
        "batch_size": budget.batch_size,
        "train_samples": trained.train_samples,
        "test_samples": trained.test_samples,
        "seed": budget.seed,
        "training_seconds": round(trained.seconds, 2),
        "stopped_early": trained.stopped_early,
        "compile_settings": f"{source}: {settings.describe()}",
    }
    if provenance is not None:  # the report says it was trained once for the submissions with the same model
        extra["training_cache"] = provenance.to_dict()
    spent = f"{budget.epochs} epoch(s) on {trained.train_samples:,} images, batch {budget.batch_size}, seed {budget.seed}"
    if trained.diverged:
        result = CheckResult.failed(check.name, check.points, _diverged(trained, settings, spent) + note,
                                    hint="Use the optimizer's default learning rate (optimizer='adam' uses 0.001) or a "
                                         "smaller one, and check that the images are normalised to [0, 1].",
                                    visibility=check.visibility, extra={**extra, "diverged": trained.diverged})
    elif trained.accuracy >= threshold:
        borrowed = "" if ctx.found.compile is not None else (
            f"Trained with {source}: fix that function so that the grader trains with your own settings.")
        result = CheckResult.passed(check.name, check.points,
                                    f"Test accuracy {trained.accuracy:.4f} on {trained.test_samples:,} held-out images "
                                    f"(minimum {threshold:.2f}) after {spent}.{note}",
                                    hint=borrowed, visibility=check.visibility, extra=extra)
    else:
        found = likely_causes(ctx, parsed.layers, settings) + curve(trained, ctx.assignment.data.num_classes)
        causes = [cause for cause, _ in found]
        why = (" Likely causes, most likely first: " + " ".join(f"({n}) {c}" for n, c in enumerate(causes, 1))
               if causes else "")
        fix = next((fix for _, fix in found if fix), "")
        result = CheckResult.failed(check.name, check.points,
                                    f"Test accuracy {trained.accuracy:.4f} on {trained.test_samples:,} held-out images is "
                                    f"below the minimum {threshold:.2f} after {spent}.{note}{why}",
                                    hint=fix or ("Compare your layers and compile settings with the expected ones; a "
                                                 "missing activation, a wrong loss or a too-small model trains poorly."),
                                    visibility=check.visibility, extra={**extra, "causes": causes})
    return result.timed(time.monotonic() - started)


def likely_causes(ctx: Context, layers: tuple[architecture.Layer, ...],
                  settings: CompileSettings) -> list[tuple[str, str]]:
    """How the model trained differs from the reference's, most likely to lower its accuracy first, each with its fix:
    the learning rate, the optimizer and its other settings, the loss, then the layers (as the model check names
    them)."""
    try:
        _, reference = planned(ctx)
    except Exception:  # noqa: BLE001 - without the reference's settings there is nothing to compare with
        return []
    causes: list[tuple[str, str]] = []
    name = reference.optimizer
    rate, wanted = settings.optimizer_config.get("learning_rate"), reference.optimizer_config.get("learning_rate")
    if settings.optimizer != name:
        causes.append((f"the optimizer is {settings.optimizer}; the reference trains with {name}.",
                       f"Compile with optimizer={name.lower()!r}."))
    if _number(rate) and _number(wanted) and not math.isclose(rate, wanted, rel_tol=0.01):
        size = "far too large" if rate > 10 * wanted else "too large" if rate > wanted else "too small"
        default = f" ({name}'s default)" if settings.optimizer == name else ""
        causes.insert(0, (f"the learning rate is {rate:g}, {size}: the reference trains with {wanted:g}{default}.",
                          f"Use learning_rate={wanted:g}{default}, or give optimizer={name.lower()!r} by name."))
    elif settings.optimizer == name:
        changed = sorted(k for k in set(settings.optimizer_config) | set(reference.optimizer_config)
                         if k not in ("name", "learning_rate") and _differs(settings.optimizer_config.get(k),
                                                                           reference.optimizer_config.get(k)))
        if changed:
            causes.append((f"the optimizer's {', '.join(changed[:3])} differ from the reference's {name}.",
                           f"Give optimizer={name.lower()!r} by name, with its default settings."))
    if settings.loss != reference.loss:
        causes.append((f"the loss is {settings.loss}; the reference trains with {reference.loss}.",
                       f"Compile with loss={reference.loss!r}."))
    rows = comparison.compare(comparison.expected_layers(ctx.model_check.params["layers"]),
                              architecture.fold_activations(layers))
    causes += [(f"layer {n}: {row.note}.", f"Build layer {n} as {row.expected}." if row.expected else "")
               for n, row in enumerate(rows, 1) if row.status != "same"][:3]
    return causes


def curve(trained: training.Trained, classes: int) -> list[tuple[str, str]]:
    """What the training curve shows: a loss that never fell (stalled), or training accuracy far above the test's
    (over-fitted); diverged trainings are reported on their own."""
    loss, accuracy = trained.history.get("loss") or [], trained.history.get("accuracy") or []
    chance = math.log(classes) if classes > 1 else 1.0
    if loss and _number(loss[-1]) and loss[-1] > 0.9 * chance:
        return [(f"the training stalled: its loss ended at {loss[-1]:.3f}, about what guessing among {classes} "
                 f"classes gives ({chance:.3f}), so the model learnt almost nothing.",
                 "Check that the images are normalised to [0, 1] and the learning rate is not tiny.")]
    if accuracy and _number(accuracy[-1]) and accuracy[-1] - trained.accuracy > 0.15:
        return [(f"the model over-fitted: it scored {accuracy[-1]:.3f} on its training images but "
                 f"{trained.accuracy:.3f} on held-out ones.", "Keep the Dropout layer and the expected layer sizes.")]
    return []


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _differs(a: object, b: object) -> bool:
    if _number(a) and _number(b):
        return not math.isclose(a, b, rel_tol=1e-6)
    return a != b


class _Stopped(Exception):
    """The wall-clock budget stopped a training (fitting or predicting) every time it was tried."""


def _within_budget(ctx: Context, layers: tuple[architecture.Layer, ...], settings: CompileSettings,
                   data: memo.Prepared) -> tuple[training.Trained, memo.Provenance | None]:
    """Train; a training the wall-clock budget stopped is trained once more, from scratch, and is never a verdict.

    The limits on parameters and multiply-adds keep any accepted model's training well within the budget, and every
    sandbox is bounded to its share of the cores; what still stops one is load on the machine from outside this
    grade, which must not decide a student's accuracy (a model fitted on part of its epochs scores lower).
    """
    budget, why = ctx.assignment.training, ""
    for attempt in range(2):
        try:
            trained, provenance = memo.train(ctx.trainings, layers, settings, data, budget, ctx.assignment.limits,
                                             ahead=ctx.ahead if attempt == 0 else None)
        except training.OutOfTime as exc:
            why = str(exc)
            continue
        if not trained.stopped_early:
            return trained, provenance
        why = f"fitting stopped at the {budget.max_seconds:g} s budget before the end of its {budget.epochs} epoch(s)"
    raise _Stopped(why)


def planned(ctx: Context) -> tuple[tuple[architecture.Layer, ...], CompileSettings]:
    """What this check trains for a submission whose functions are the reference solution's: the expected layers,
    with the settings the reference's compile function sets, read as the compile check reads a submission's.

    Creates Keras objects; grader.trusted.ahead calls it in the process it forks to train ahead.
    """
    import keras

    model = ctx.build(ctx.expected_layers())  # its layers as the model check parses a submitted model's config:
    layers = architecture.parse(as_sent(keras.saving.serialize_keras_object(model))).layers  # every default spelt out
    compiler = next((c.function for c in ctx.assignment.checks if c.kind == "compile"), None)
    own = None
    if compiler is not None and ctx.reference.defines(compiler):
        own = compilation.parse(ctx.reference.compile_config(compiler, model))
    return layers, _settings(ctx, layers, own, "the model function")[0]


def _settings(ctx: Context, layers: tuple[architecture.Layer, ...], own: CompileSettings | None,
              builder: str) -> tuple[CompileSettings | None, str]:
    """The settings to train `layers` with and where they come from: the submission's compile settings `own` if they
    passed the compile check, else their optimizer with the reference loss and metrics, else (no settings at all) the
    spec's reference settings; either way from_logits fits the last activation. (None, why) when the optimizer of
    settings that did not pass cannot be rebuilt."""
    budget = ctx.assignment.training
    logits = architecture.fold_activations(layers)[-1].args.get("activation", "linear") == "linear"
    compiler = next((c.function for c in ctx.assignment.checks if c.kind == "compile"), None)
    if own is None:
        base = dataclasses.replace(compilation.reference(budget.optimizer, budget.loss, budget.metrics),
                                   from_logits=logits)
        fallback = ctx.found.compile_fallback
        if fallback is not None and fallback.refused:
            return None, (f"{compiler}()'s optimizer cannot be rebuilt ({fallback.refused.rstrip('.')}), and the "
                          "grader trains a model with its own compile function's optimizer only.")
        if fallback is not None:
            return (dataclasses.replace(base, optimizer=fallback.optimizer, optimizer_config=fallback.optimizer_config),
                    f"{compiler}()'s optimizer and the reference loss and metrics, since its settings did not pass")
        why = f", since {compiler}() gave no settings" if compiler else ""
        return base, f"the reference settings{why}"
    if own.from_logits != logits:
        return (dataclasses.replace(own, from_logits=logits),
                f"{compiler}()'s settings, with from_logits fitted to {builder}()'s output")
    return own, f"{compiler}()'s settings"


def _wrong_output(ctx: Context, builder: str) -> str:
    """Why the built model cannot be trained on the labels (its output is not one value per class), or ''."""
    built, classes = ctx.found.built, ctx.assignment.data.num_classes
    if built is None:
        return ""
    shape = tuple(built.output_shape)
    if shape == (None, classes):
        return ""
    return (f"Could not train {builder}()'s model, so no accuracy could be measured: it outputs shape {shape}, and the "
            f"integer labels need one output per class, shape (None, {classes}).")


def _diverged(trained: training.Trained, settings: compilation.CompileSettings, spent: str) -> str:
    """What happened when training diverged, and the usual cause: a learning rate far too large."""
    rate = settings.optimizer_config.get("learning_rate")
    rate_text = f"learning_rate={rate:g}" if isinstance(rate, (int, float)) else "its default learning rate"
    return (f"Training diverged: {trained.diverged} ({spent}), so the model's outputs are not numbers and its test "
            f"accuracy ({trained.accuracy:.4f}) means nothing. Expected a loss that stays finite and falls. This "
            f"usually means the learning rate is far too large: the model was trained with {settings.optimizer}, "
            f"{rate_text}.")

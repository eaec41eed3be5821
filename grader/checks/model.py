"""The model check: build_model's architecture, validated, rebuilt and compared layer by layer."""

from __future__ import annotations

import time
from dataclasses import asdict

from grader.trusted import architecture, comparison
from grader.trusted.bounds import shorten
from grader.checks.common import from_error
from grader.checks.context import Blocker, Context
from grader.results import CheckResult
from grader.sandbox.runner import SubmissionError
from grader.assignment.spec import CheckSpec


def run(check: CheckSpec, ctx: Context) -> CheckResult:
    """Ask the submission for its model's config, rebuild it safely and diff it against the spec."""
    started = time.monotonic()
    params = check.params
    fn = check.function
    try:
        reply = ctx.runner.request({"op": "build", "function": fn, "kwargs": params.get("kwargs", {})},
                                   stage=f"{fn}()", timeout=params.get("timeout"))
    except SubmissionError as error:
        ctx.found.model_blocker = Blocker(check.name, f"{fn}() failed: {error.message}",
                                          error if error.at_import else None)
        return from_error(check, error).timed(time.monotonic() - started)
    if "config" not in reply.header:
        message = (f"{fn}() returned {shorten(reply.header.get('returned'))}; expected a keras.Model "
                   "such as keras.Sequential([...]).")
        ctx.found.model_blocker = Blocker(check.name, message)
        return CheckResult.failed(check.name, check.points, message, hint=f"End {fn} with `return model`.",
                                  visibility=check.visibility).timed(time.monotonic() - started)
    expected = comparison.expected_layers(params["layers"])
    input_shape = tuple(params["input_shape"])
    try:
        parsed = architecture.parse(reply.header["config"])
        model = ctx.build(parsed.layers)
    except architecture.ModelError as error:
        verb = "will not train" if isinstance(error, architecture.TooCostly) else "cannot rebuild"
        message = f"The grader {verb} the model from {fn}(): {error}"
        ctx.found.model_blocker = Blocker(check.name, message)
        hint = ("Make the model smaller: fewer layers, units or filters, and pooling before Flatten."
                if isinstance(error, architecture.TooCostly) else
                "Build the model from Keras' own layers only: no Lambda layers, no custom classes.")
        return CheckResult.failed(check.name, check.points, message, fault="unsafe", visibility=check.visibility,
                                  hint=hint).timed(time.monotonic() - started)
    ctx.found.model, ctx.found.built = parsed, model  # for the compile, training and prediction checks
    rows = comparison.compare(expected, architecture.fold_activations(parsed.layers), input_shape)
    output = tuple(model.output_shape)
    params_got, params_wanted = (architecture.cost(layers, input_shape).params for layers in (parsed.layers, expected))
    problems, codes = differences(rows, params, parsed, output, params_got, params_wanted)
    extra = {
        "diff": [asdict(row) for row in rows],
        "layers": architecture.summary(model),
        "expected_layers": [e.describe() for e in expected],
        "total_params": int(model.count_params()),
        "expected_params": params_wanted,
        "input_shape": str((None, *input_shape)),
        "output_shape": str(output),
    }
    table = _table(rows)
    if problems:
        message = f"{fn}()'s model differs from the expected one: " + " ".join(problems)
        result = CheckResult.failed(check.name, check.points, message, details=table, visibility=check.visibility,
                                    hint=_hint(params.get("hints", {}), codes, rows, expected),
                                    extra={**extra, "problems": codes})
    else:  # every compared argument, layer output and the parameter count as expected
        message = (f"{fn}() builds the expected model: {len(parsed.layers)} layers, {params_got:,} parameters, "
                   f"output {output}.")
        result = CheckResult.passed(check.name, check.points, message, details=table, visibility=check.visibility,
                                    extra=extra)
    return result.timed(time.monotonic() - started)


def differences(rows: list[comparison.DiffRow], params: dict, parsed: architecture.ParsedModel, output: tuple,
                params_got: int, params_wanted: int) -> tuple[list[str], list[str]]:
    """What the student reads of each difference, in order (input, layers, first layer output shape, parameters,
    model output), and the hint code of each."""
    problems = [f"layer {i + 1}: {row.note}." for i, row in enumerate(rows) if row.status != "same"]
    codes = problem_codes(rows)
    input_shape = tuple(params["input_shape"])
    if parsed.input_shape is not None and tuple(parsed.input_shape) != input_shape:
        problems.insert(0, f"the model's input shape is {(None, *parsed.input_shape)}; expected {(None, *input_shape)}.")
        codes.insert(0, "input_shape")
    shaped = next(((i, row) for i, row in enumerate(rows) if row.expected_shape and row.got_shape
                   and row.expected_shape != row.got_shape), None)
    if shaped is not None:
        i, row = shaped
        problems.append(f"layer {i + 1} ({(row.got or '').split('(')[0]}) outputs {row.got_shape}; "
                        f"expected {row.expected_shape}.")
        codes.append("layer_shape")
    if params_got != params_wanted:
        problems.append(f"the model has {params_got:,} parameters; expected {params_wanted:,}.")
        codes.append("params")
    wanted_output = (None, *params.get("output_shape", []))
    if params.get("output_shape") and output != wanted_output:
        problems.append(f"the model's output shape is {output}; expected {wanted_output}.")
        codes.append("output_shape")
    return problems, codes


def _hint(hints: dict[str, str], codes: list[str], rows: list[comparison.DiffRow],
          expected: tuple[architecture.Layer, ...]) -> str:
    """The spec's hint for the first code that has one, else the expected layers in order."""
    hint = next((hints[code] for code in codes if code in hints), None)
    if hint is not None:
        return hint
    hint = "Compare your layers with the table below, in order: " + " -> ".join(e.describe() for e in expected) + "."
    if any(comparison.KERAS_DEFAULT in row.note for row in rows):
        hint += " An argument the expected layers do not list keeps Keras' default: leave it out of your layer."
    return hint


def problem_codes(rows: list[comparison.DiffRow]) -> list[str]:
    """A code per differing row, for the spec's hints: output_activation (the last expected layer's activation),
    missing_<Class>, extra_<Class> or changed_<Class>."""
    codes = []
    last = max((i for i, row in enumerate(rows) if row.expected is not None), default=None)
    for i, row in enumerate(rows):
        if row.status == "same":
            continue
        if row.status == "changed" and i == last and "activation" in row.args:
            codes.append("output_activation")
            continue
        layer = (row.expected if row.status != "extra" else row.got) or ""
        codes.append(f"{row.status}_{layer.split('(')[0]}")
    return codes


def _table(rows: list[comparison.DiffRow]) -> str:
    """The layer diff as fixed-width text for results.json and terminals."""
    width = max([len(r.expected or "") for r in rows] + [8])
    lines = [f"    {'expected':<{width}}  got"]
    for row in rows:
        mark = {"same": " ", "changed": "!", "missing": "-", "extra": "+"}[row.status]
        note = f"   <- {row.note}" if row.note else ""
        lines.append(f"  {mark} {row.expected or '':<{width}}  {row.got or ''}{note}")
    return "\n".join(lines)

"""The model check: build_model's architecture, validated, rebuilt and compared layer by layer."""

from __future__ import annotations

import time
from dataclasses import asdict

from grader.trusted import architecture
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
        ctx.found.model_blocker = Blocker(check.name, f"{fn}() failed: {error.message}")
        return from_error(check, error).timed(time.monotonic() - started)
    if "config" not in reply.header:
        message = (f"{fn}() returned {shorten(reply.header.get('returned'))}; expected a keras.Model "
                   "such as keras.Sequential([...]).")
        ctx.found.model_blocker = Blocker(check.name, message)
        return CheckResult.failed(check.name, check.points, message, hint=f"End {fn} with `return model`.",
                                  visibility=check.visibility).timed(time.monotonic() - started)
    expected = architecture.expected_layers(params["layers"])
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
    rows = architecture.compare(expected, architecture.fold_activations(parsed.layers))
    layers = architecture.summary(model)
    problems = [f"layer {i + 1}: {row.note}." for i, row in enumerate(rows) if row.status != "same"]
    codes = problem_codes(rows, expected)
    ctx.found.model, ctx.found.built = parsed, model  # for the compile, training and prediction checks
    if parsed.input_shape is not None and tuple(parsed.input_shape) != input_shape:
        problems.insert(0, f"the model's input shape is {(None, *parsed.input_shape)}; expected {(None, *input_shape)}.")
        codes.insert(0, "input_shape")
    output = tuple(model.output_shape)
    wanted_output = (None, *params.get("output_shape", []))
    if params.get("output_shape") and output != wanted_output:
        problems.append(f"the model's output shape is {output}; expected {wanted_output}.")
        codes.append("output_shape")
    extra = {
        "diff": [asdict(row) for row in rows],
        "layers": layers,
        "expected_layers": [e.describe() for e in expected],
        "total_params": int(model.count_params()),
        "input_shape": str((None, *input_shape)),
        "output_shape": str(output),
    }
    table = _table(rows)
    if problems:
        hints = params.get("hints", {})
        hint = next((hints[code] for code in codes if code in hints),
                    "Compare your layers with the table below, in order: " + " -> ".join(e.describe() for e in expected) + ".")
        result = CheckResult.failed(check.name, check.points, f"{fn}()'s model differs from the expected one: " + " ".join(problems),
                                    hint=hint, details=table, visibility=check.visibility,
                                    extra={**extra, "problems": codes})
    else:
        result = CheckResult.passed(check.name, check.points,
                                    f"{fn}() builds the expected model: {len(parsed.layers)} layers, {model.count_params():,} parameters, output {output}.",
                                    details=table, visibility=check.visibility, extra=extra)
    return result.timed(time.monotonic() - started)


def problem_codes(rows: list[architecture.DiffRow], expected: tuple[architecture.Layer, ...]) -> list[str]:
    """A code per differing row, for the spec's hints: output_activation (the last layer's activation),
    missing_<Class>, extra_<Class> or changed_<Class>."""
    codes = []
    last = expected[-1].describe() if expected else None
    for row in rows:
        if row.status == "same":
            continue
        if row.status == "changed" and row.expected == last and "activation should be" in row.note:
            codes.append("output_activation")
            continue
        layer = (row.expected if row.status != "extra" else row.got) or ""
        codes.append(f"{row.status}_{layer.split('(')[0]}")
    return codes


def _table(rows: list[architecture.DiffRow]) -> str:
    """The layer diff as fixed-width text for results.json and terminals."""
    width = max([len(r.expected or "") for r in rows] + [8])
    lines = [f"    {'expected':<{width}}  got"]
    for row in rows:
        mark = {"same": " ", "changed": "!", "missing": "-", "extra": "+"}[row.status]
        note = f"   <- {row.note}" if row.note else ""
        lines.append(f"  {mark} {row.expected or '':<{width}}  {row.got or ''}{note}")
    return "\n".join(lines)

"""Checks of array-to-array functions (reshape, normalise, ...): shape, dtype, values, input left alone.

The function gets the grader's own input (prepared by the reference solution) and its answer is
compared with the reference's answer. Each kind of mistake has a code; the assignment's spec maps
codes to hints, so the words for a student live with the assignment, not here.
"""

from __future__ import annotations

import time

import numpy as np

from grader.trusted.bounds import shorten
from grader.checks.common import from_error
from grader.checks.context import Context
from grader.results import CheckResult
from grader.sandbox.runner import SubmissionError
from grader.assignment.spec import CheckSpec


def run(check: CheckSpec, ctx: Context) -> CheckResult:
    """Call the function on a probe and compare its answer with the reference's."""
    started = time.monotonic()
    params = check.params
    x = ctx.probe(params.get("probe", "test_images"), params.get("count", 37), params.get("prepare", []))
    expected = np.asarray(ctx.reference.call(check.function, x.copy()))
    try:
        reply = ctx.runner.request({"op": "call", "function": check.function, "args": ["x"]}, {"x": x},
                                   stage=f"{check.function}()", timeout=params.get("timeout"))
    except SubmissionError as error:
        hint = params.get("hints", {}).get("raises", "") if error.kind == "error" else ""
        return from_error(check, error, hint=hint).timed(time.monotonic() - started)
    problems = diagnose(check.function, reply.arrays.get("result"), expected, x, reply.header)
    hints = params.get("hints", {})
    extra = {"input_shape": list(x.shape), "expected_shape": list(expected.shape)}
    got = reply.arrays.get("result")
    if got is not None:
        extra.update(shape=list(got.shape), dtype=str(got.dtype))
    if not problems:
        result = CheckResult.passed(check.name, check.points,
                                    f"{check.function}() returned the expected {expected.dtype} array of shape {expected.shape}.",
                                    visibility=check.visibility, extra=extra)
    else:
        code = problems[0][0]
        hint = hints.get(code) or hints.get(code.split("_")[0]) or hints.get("values", "")
        result = CheckResult.failed(check.name, check.points, " ".join(m for _, m in problems), hint=hint,
                                    visibility=check.visibility, extra={**extra, "problems": [c for c, _ in problems]})
    return result.timed(time.monotonic() - started)


def diagnose(name: str, got: np.ndarray | None, expected: np.ndarray, given: np.ndarray, header: dict) -> list[tuple[str, str]]:
    """Every way `got` differs from `expected`, as (code, sentence) pairs, most telling first."""
    problems: list[tuple[str, str]] = []
    if got is None:
        return [("not_array", f"{name}() returned {shorten(header.get('returned', 'something'))} instead of a numeric array; "
                              f"expected an array of shape {expected.shape}.")]
    if got.shape != expected.shape:
        problems.append(_shape_problem(name, got, expected, given))
    else:
        problems.extend(_value_problems(name, got, expected))
        if got.dtype != expected.dtype:
            problems.append(("dtype", f"{name}() returned dtype {got.dtype}; expected {expected.dtype}."))
    if header.get("input_modified"):
        problems.append(("input_modified", f"{name}() changed the array it was given; it must leave its input untouched."))
    return problems


def _shape_problem(name: str, got: np.ndarray, expected: np.ndarray, given: np.ndarray) -> tuple[str, str]:
    what = f"{name}() returned shape {got.shape} for input of shape {given.shape}; expected {expected.shape}."
    if got.size == expected.size and got.ndim < expected.ndim:
        return "flattened", f"{what} The images were flattened."
    if got.size == expected.size and sorted(got.shape) == sorted(expected.shape):
        return "axes_permuted", f"{what} The axes are in the wrong order (channels first instead of channels last?)."
    if got.ndim == expected.ndim and got.shape[1:] == expected.shape[1:] and got.shape[0] != expected.shape[0]:
        return "leading_dim", f"{what} It returned {got.shape[0]} images for {given.shape[0]}: is the number of images hard-coded?"
    return "shape", what


def _value_problems(name: str, got: np.ndarray, expected: np.ndarray) -> list[tuple[str, str]]:
    if got.dtype.kind not in "biuf":
        return [("values", f"{name}() returned {got.dtype} values; expected numbers.")]
    a, b = got.astype(np.float64), expected.astype(np.float64)
    if np.allclose(a, b, rtol=1e-6, atol=1e-6):
        return []
    if not np.all(np.isfinite(a)):
        return [("values", f"{name}() returned NaN or infinite values; expected finite numbers in [{b.min():g}, {b.max():g}].")]
    top_a, top_b = np.abs(a).max(), np.abs(b).max()
    if top_a > 0 and top_b > 0:
        factor = top_a / top_b
        if not np.isclose(factor, 1.0, rtol=1e-3) and np.allclose(a, b * factor, rtol=1e-4, atol=1e-6 * top_a):
            code = "scaled_up" if factor > 1 else "scaled_down"
            return [(code, f"{name}() returned values from {a.min():g} to {a.max():g}: {_factor(factor)} the expected "
                           f"values, which run from {b.min():g} to {b.max():g}.")]
    wrong = ~np.isclose(a, b, rtol=1e-6, atol=1e-6)
    first = np.unravel_index(int(np.argmax(wrong)), a.shape)
    return [("values", f"{name}() returned the right shape but {int(wrong.sum()):,} of {a.size:,} values differ from the "
                       f"expected ones (first at index {tuple(int(i) for i in first)}: got {a[first]:g}, expected {b[first]:g}).")]


def _factor(factor: float) -> str:
    if factor > 1:
        return f"{factor:.4g} times"
    return f"1/{1 / factor:.4g} of"

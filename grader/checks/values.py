"""The values check: a function that takes nothing and returns plain values (a list of names, a table of
numbers), compared with what the reference solution's function returns.

The answer travels back as plain JSON data (strings, numbers, lists), never as objects. Each kind of
difference has a code, and the assignment's spec maps codes to hints, as for the array check.
"""

from __future__ import annotations

import time
from typing import Any

from grader.checks.common import from_error
from grader.checks.context import Context
from grader.checks.reference import plain
from grader.trusted.bounds import shorten
from grader.results import CheckResult
from grader.sandbox.runner import SubmissionError
from grader.assignment.spec import CheckSpec

MISSING = object()


def run(check: CheckSpec, ctx: Context) -> CheckResult:
    """Call the function with the spec's arguments and compare its plain answer with the reference's."""
    started = time.monotonic()
    fn, params = check.function, check.params
    args = list(params.get("args", []))
    expected = plain(ctx.reference.call(fn, *args))
    try:
        reply = ctx.runner.request({"op": "values", "function": fn, "args": args}, stage=f"{fn}()",
                                   timeout=params.get("timeout"))
    except SubmissionError as error:
        return from_error(check, error).timed(time.monotonic() - started)
    got = reply.header.get("value", MISSING)
    problems = diagnose(fn, got, expected, str(reply.header.get("returned", "something")))
    hints = params.get("hints", {})
    if not problems:
        return CheckResult.passed(check.name, check.points, f"{fn}() returned the expected {_describe(expected)}.",
                                  visibility=check.visibility).timed(time.monotonic() - started)
    code = problems[0][0]
    return CheckResult.failed(check.name, check.points, " ".join(m for _, m in problems),
                              hint=hints.get(code) or hints.get("values", ""), visibility=check.visibility,
                              extra={"problems": [c for c, _ in problems]}).timed(time.monotonic() - started)


def diagnose(fn: str, got: Any, expected: Any, returned: str) -> list[tuple[str, str]]:
    """Every way `got` differs from `expected`, as (code, sentence) pairs, most telling first."""
    if got is MISSING:
        return [("type", f"{fn}() returned {shorten(returned)}; expected {_describe(expected)}.")]
    if got == expected:
        return []
    if not isinstance(expected, list):
        return [("values", f"{fn}() returned {_show(got)}; expected {_show(expected)}.")]
    if not isinstance(got, list):
        return [("type", f"{fn}() returned {_show(got)} ({shorten(returned)}); expected {_describe(expected)}.")]
    kinds = {type(v) for v in expected}
    if kinds and not all(type(v) in kinds for v in got):
        odd = next(v for v in got if type(v) not in kinds)
        return [("type", f"{fn}() returned a list holding {_show(odd)} ({type(odd).__name__}); expected "
                         f"{_describe(expected)}.")]
    if len(got) != len(expected):
        return [("length", f"{fn}() returned {len(got)} item(s); expected {len(expected)}: {_show(expected)}.")]
    first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    where = f"position {first} holds {_show(got[first])}, expected {_show(expected[first])}"
    if sorted(map(repr, got)) == sorted(map(repr, expected)):
        return [("order", f"{fn}() returned the right items in the wrong order: {where}. Item i must be the one for "
                          f"label i: {_show(expected)}.")]
    if all(_loose(a) == _loose(b) for a, b in zip(got, expected)):
        return [("spelling", f"{fn}() returned items that differ only in case, spaces or punctuation: {where}.")]
    wrong = sum(a != b for a, b in zip(got, expected))
    return [("values", f"{fn}() returned {wrong} of {len(expected)} items different from the expected ones: {where}.")]


def _loose(value: Any) -> Any:
    return "".join(c for c in value.casefold() if c.isalnum()) if isinstance(value, str) else value


def _describe(value: Any) -> str:
    if isinstance(value, list):
        kinds = sorted({type(v).__name__ for v in value})
        kind = {"str": "strings", "int": "integers", "float": "numbers"}.get(kinds[0], "values") if len(kinds) == 1 \
            else "values"
        return f"list of {len(value)} {kind}"
    return type(value).__name__


def _show(value: Any) -> str:
    return shorten(repr(value), 400)  # a list of names is long, and the student needs all of it

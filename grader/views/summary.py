"""The terminal summary of a graded submission, made from its results dict."""

from __future__ import annotations

import textwrap
from typing import Any
from grader import passmark
from grader.results import GRADED, NOT_GRADED, format_points, status_of

FEEDBACK_LINES = 3  # a failed check's feedback, wrapped; a passed one gets a single line
HINT_LINES = 2


def text(results: dict[str, Any], report_path: str | None = None, width: int = 100) -> str:
    """A compact table: each check's verdict, points and feedback (with the hint when it failed); then the total."""
    extra = results.get("extra_data", {})
    tests = results.get("tests", [])
    lines = [f"{extra.get('assignment', '')}: {extra.get('submission', '')}"]
    name_width = max([len(t["name"]) for t in tests] + [5])
    indent = " " * (2 + 4 + 2 + name_width + 2 + 7 + 2)
    room = max(20, width - len(indent))
    seen: dict[tuple[str, str], str] = {}
    for test in tests:
        data = test.get("extra_data", {})
        passed = test["status"] == "passed"
        mark = "PASS" if passed else "FAIL"
        points = f"{format_points(test['score'])}/{format_points(test['max_score'])}"
        feedback = _plain(data.get("feedback") or test["output"])
        hint = _plain(data.get("hint") or "")
        fault = data.get("fault")
        if fault and fault != "error" and not passed:
            feedback = f"[{str(fault).replace('_', ' ')}] {feedback}"
        first = seen.setdefault((feedback, hint), test["name"]) if not passed else test["name"]
        if first != test["name"]:
            body = [f"the same failure as {first}"]
        elif passed:
            body = [textwrap.shorten(feedback, width=room, placeholder=" ...")]
        else:
            fix = code_lines(str(data.get("fix") or ""))
            more = 3 if fix else 1  # a failure with a fix (top-level code) fails every check: said in full, once
            body = _wrap(feedback, room, more * FEEDBACK_LINES)
            if hint:
                body += _wrap(f"Hint: {hint}", room, more * HINT_LINES)
            body += [f"    {line}" for line in fix]
        lines.append(f"  {mark}  {test['name']:<{name_width}}  {points:>7}  {body[0]}")
        lines.extend(indent + line for line in body[1:])
    accuracy = extra.get("accuracy")
    tail = f"Score {format_points(results['score'])}/{format_points(extra.get('max_score', 0))}"
    if accuracy is not None:
        tail += f", test accuracy {accuracy:.4f}"
    lines.append(tail + f" ({results['execution_time']:.1f} s)")
    if extra.get("grader_faults"):
        lines.append(f"The grader itself failed on {', '.join(extra['grader_faults'])}: not the submission's fault.")
    if report_path:
        lines.append(f"Report: {report_path}")
    return "\n".join(lines)


def line(results: dict[str, Any], report_path: str | None = None, pass_mark: Any = None) -> str:
    """One line about a submission of a batch: its name, score and verdict, and where its report is."""
    extra = results.get("extra_data", {})
    status = status_of(results)
    score = f"{format_points(results.get('score', 0))}/{format_points(extra.get('max_score', 0))}"
    if status != GRADED:
        verdict, score = f"not graded ({NOT_GRADED[status].lower()})", "-"
    elif extra.get("grader_faults"):
        verdict = "grader fault in " + ", ".join(map(str, extra["grader_faults"]))
    else:
        verdict = "passed" if passmark.exit_status(results, pass_mark) == 0 else "not passed"
    where = f"  {report_path}" if report_path else ""
    return f"{_plain(extra.get('submission', ''))}  {score}  {verdict}{where}"


def _plain(value: Any) -> str:
    """One line of text with control characters shown as escapes, so submitted text cannot drive the terminal."""
    words = " ".join(str(value).split())
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in words)


def code_lines(code: str, most: int = 12) -> list[str]:
    """The lines of a fix's code as the terminal shows them: indentation kept, blank lines and control characters
    left out (shown as escapes), at most `most` lines."""
    lines = ["".join(c if c.isprintable() else ascii(c)[1:-1] for c in line.rstrip())
             for line in code.splitlines() if line.strip()]
    return lines[:most] + (["..."] if len(lines) > most else [])


def _wrap(words: str, width: int, most: int) -> list[str]:
    return textwrap.wrap(words, width=width, max_lines=most, placeholder=" ...") or [""]



"""The terminal summary of a graded submission, made from its results dict."""

from __future__ import annotations

import textwrap
from typing import Any


def text(results: dict[str, Any], report_path: str | None = None, width: int = 100) -> str:
    """A compact table: each check's verdict, points and one-line feedback; then the total."""
    extra = results.get("extra_data", {})
    lines = [f"{extra.get('assignment', '')}: {extra.get('submission', '')}"]
    name_width = max([len(t["name"]) for t in results["tests"]] + [5])
    for test in results["tests"]:
        mark = "PASS" if test["status"] == "passed" else "FAIL"
        points = f"{_num(test['score'])}/{_num(test['max_score'])}"
        feedback = " ".join(str(test.get("extra_data", {}).get("feedback", test["output"])).split())
        feedback = textwrap.shorten(feedback, width=max(20, width - name_width - 20), placeholder=" ...")
        lines.append(f"  {mark}  {test['name']:<{name_width}}  {points:>7}  {feedback}")
    accuracy = extra.get("accuracy")
    tail = f"Score {_num(results['score'])}/{_num(extra.get('max_score', 0))}"
    if accuracy is not None:
        tail += f", test accuracy {accuracy:.4f}"
    lines.append(tail + f" ({results['execution_time']:.1f} s)")
    if report_path:
        lines.append(f"Report: {report_path}")
    return "\n".join(lines)


def _num(value: float) -> str:
    return f"{value:g}"

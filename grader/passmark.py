"""Pass marks: when a graded submission counts as passed, and the exit status that follows for CI.

Without a pass mark a submission passes only when every check passed. A pass mark lowers that bar to
a number of points (`7`) or a share of the maximum (`70%`). A fault of the grader itself never counts
as a pass or a fail of the submission: it exits 2 whatever the score. A batch scheduler's job asks only whether the
grader did its job (EXIT_OF_GRADER, see grader.results): then a verdict of any kind exits 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from grader.errors import UsageError
from grader.results import (EXIT_ERROR, EXIT_FAILED, EXIT_OF_GRADER, EXIT_OF_SUBMISSIONS, EXIT_PASSED, GRADED, NOT_GRADED,
                            format_points, status_of)


# Points are summed from floats; a score this close to the mark meets it.
_TOLERANCE = 1e-9


class PassMarkError(UsageError, ValueError):
    """A pass mark that cannot be read or cannot be reached; the message says what to give instead."""


@dataclass(frozen=True)
class PassMark:
    """The least a submission must score to pass: `value` points, or `value` percent of the maximum."""

    value: float
    percent: bool = False

    def points(self, max_score: float) -> float:
        """The mark in points for an assignment worth `max_score`."""
        return max_score * self.value / 100 if self.percent else self.value

    def met(self, score: float, max_score: float) -> bool:
        """Whether `score` out of `max_score` reaches the mark."""
        return score + _TOLERANCE >= self.points(max_score)

    def check_reachable(self, max_score: float) -> None:
        """Raise PassMarkError if no submission could reach the mark."""
        if not self.percent and self.value > max_score + _TOLERANCE:
            raise PassMarkError(f"pass mark {self} is more than the assignment's {format_points(max_score)} points; "
                                f"give at most {format_points(max_score)} points, or a percentage such as 70%.")

    def __str__(self) -> str:
        if self.percent:
            return f"{format_points(self.value)}%"
        return f"{format_points(self.value)} point{'' if self.value == 1 else 's'}"


def parse(text: str) -> PassMark:
    """Read a pass mark given as points (`7`, `7.5`) or as a percentage of the maximum (`70%`)."""
    raw = text.strip()
    percent = raw.endswith("%")
    number = raw[:-1].strip() if percent else raw
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (percent and value > 100):
        expected = "a percentage from 0% to 100%" if percent else "a number of points >= 0"
        raise PassMarkError(f"pass mark {text!r} is not {expected}; give points such as 7 or a percentage such as 70%.")
    return PassMark(value, percent)


def exit_status(results: dict[str, Any], pass_mark: PassMark | None = None, of: str = EXIT_OF_SUBMISSIONS) -> int:
    """0 if the submission passed (every check, or the pass mark), 1 if not, 2 if the grader itself failed or the
    hand-in had nothing to grade. `of` EXIT_OF_GRADER: 0 for any verdict, graded or not, 2 for a grader fault only."""
    extra = results.get("extra_data", {})
    if extra.get("grader_faults"):
        return EXIT_ERROR
    if of == EXIT_OF_GRADER:
        return EXIT_PASSED  # a grade, or a status that says what the student handed in: the grader did its job
    if status_of(results) != GRADED:
        return EXIT_ERROR
    if pass_mark is None:
        passed = all(test["status"] == "passed" for test in results["tests"])
    else:
        passed = pass_mark.met(results["score"], extra.get("max_score", 0))
    return EXIT_PASSED if passed else EXIT_FAILED


def verdict(results: dict[str, Any], pass_mark: PassMark | None = None, of: str = EXIT_OF_SUBMISSIONS) -> str:
    """One line saying whether the submission passed, and why; names a grader fault when there is one. `of` is what
    the exit status reports (see exit_status)."""
    extra = results.get("extra_data", {})
    faults = extra.get("grader_faults") or []
    if faults:
        return (f"Grader fault in {', '.join(faults)}: the grader itself failed, so this grade is incomplete "
                "and is not the submission's fault (exit status 2). Tell your instructor.")
    status = status_of(results)
    if status != GRADED:
        why = "exit status 2" if of == EXIT_OF_SUBMISSIONS else "a verdict on the hand-in, not a grader fault"
        return (f"Not graded ({NOT_GRADED[status].lower()}): nothing in this hand-in could be graded, so it has no "
                f"grade ({why}); its feedback says what was expected.")
    max_score = extra.get("max_score", 0)
    score = f"{format_points(results['score'])}/{format_points(max_score)} points"
    if pass_mark is None:
        if exit_status(results) == EXIT_PASSED:
            return f"Passed: every check passed ({score})."
        return f"Not passed: {score}; every check must pass."
    mark = f"pass mark {pass_mark}" + (f" = {format_points(pass_mark.points(max_score))} points" if pass_mark.percent else "")
    if pass_mark.met(results["score"], max_score):
        return f"Passed: {score} reaches the {mark}."
    return f"Not passed: {score} is below the {mark}."



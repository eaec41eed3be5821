"""Results as plain data: one CheckResult per check, a SubmissionResult per submission.

`SubmissionResult.to_dict()` is the Gradescope results.json; every view (HTML report, terminal
summary, gradebook) is rendered from that dict, never from live objects. Its text is valid Unicode
(see grader.utf8): a file name or a message holding a lone surrogate cannot stop a view being written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from grader import utf8

PASSED = "passed"
FAILED = "failed"

# Exit status of every command: passed, graded with points lost, a usage error or the grader's own fault.
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
# What the exit status of `grader run` reports (--exit-status). "submissions": each submission's verdict, the worst
# of them (EXIT_PASSED, EXIT_FAILED, or EXIT_ERROR for a grader fault or a hand-in with nothing to grade). "grader":
# whether the grader did its job, as a batch scheduler's job (a shard) needs: EXIT_PASSED once every submission has a
# verdict, a grade or a status such as missing or unreadable (what a student handed in, which a rerun would not
# change), EXIT_ERROR only for the grader's own faults and usage errors; never EXIT_FAILED.
EXIT_OF_SUBMISSIONS, EXIT_OF_GRADER = "submissions", "grader"
EXIT_STATUS_KINDS = (EXIT_OF_SUBMISSIONS, EXIT_OF_GRADER)
# Stopped by a signal: this plus its number (130 for Ctrl-C's SIGINT, 143 for SIGTERM, 129 for SIGHUP), as shells say.
EXIT_SIGNALLED = 128

# Every fault kind, with its badge and what it means for the student: the one list the views read.
FAULT_KINDS = {
    "timeout": ("Time limit", "The code ran past this check's time limit and was stopped."),
    "crash": ("Crashed", "The process running the code ended before it answered."),
    "memory": ("Out of memory", "The code used more memory than allowed and was stopped."),
    "output": ("Too much output", "The code wrote a file larger than allowed and was stopped."),
    "cpu": ("CPU limit", "The code used more CPU time than allowed and was stopped."),
    "syntax": ("Syntax error", "Python could not read the file, so none of it could run."),
    "import": ("Import error", "The file imports a module that is not available to the grader."),
    "missing": ("Missing", "The file or function this check needs was not found."),
    "not_implemented": ("Not implemented", "The function still raises NotImplementedError."),
    "protocol": ("Protocol error", "The code interfered with how the grader talks to it."),
    "unsafe": ("Refused", "The grader will not use what the code returned (custom or unsafe objects)."),
    "blocked": ("Blocked", "This check could not run because an earlier step failed; fix that one first."),
    "training": ("Training failed", "Training the model raised an error."),
    "grader": ("Grader fault", "The grader itself failed on this check; this is not your fault."),
    "error": ("Exception", ""),  # the feedback already names the exception
}
# Faults: the check could not run to a verdict because of what the submission did.
FAULTS = ("timeout", "crash", "memory", "output", "cpu", "syntax", "import", "missing", "not_implemented", "protocol", "unsafe")
assert set(FAULTS) <= set(FAULT_KINDS)


# What became of a hand-in besides being graded, with its label: nothing to grade, several files and none named as
# the module, a file that cannot be read, no assignment it matches (or several). Such a hand-in has no grade: the
# gradebook and the Canvas export leave its cell empty, and the run's exit status is EXIT_ERROR.
GRADED = "graded"
NOT_GRADED = {
    "missing": "No submission",
    "ambiguous": "Ambiguous",
    "unreadable": "Unreadable",
    "unmatched": "Unknown assignment",
}


def status_of(results: dict[str, Any]) -> str:
    """What became of a submission, from its results: graded, or one of NOT_GRADED."""
    status = results.get("extra_data", {}).get("status", GRADED)
    return status if status in NOT_GRADED else GRADED


def format_points(value: float) -> str:
    """Points as every view of the grader shows them: plain decimals, at most four places, no trailing zeros and no
    exponent (10.0 -> 10, 10.125 -> 10.125, 0.3333333 -> 0.3333, 1000000 -> 1000000)."""
    text = f"{float(value):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def head(feedback: str, hint: str = "", fix: str = "") -> str:
    """The start of a check's output text: the feedback, the hint, and the fix's code indented under it (with no
    blank line, so that the first blank line still marks where the details start)."""
    text = feedback if not hint else f"{feedback}\nHint: {hint}"
    code = [f"    {line}" for line in fix.splitlines() if line.strip()]
    return "\n".join([text, *code])


def details_of(test: dict[str, Any]) -> str:
    """What a check's output text holds beyond its feedback, hint and fix: a traceback, a layer table, the sandbox's
    last words."""
    output = str(test.get("output") or "")
    data = test.get("extra_data") or {}
    feedback = str(data.get("feedback") or output.split("\n\n")[0])
    hint, fix = str(data.get("hint") or ""), str(data.get("fix") or "")
    for start in dict.fromkeys((head(feedback, hint, fix), head(feedback, hint), feedback)):
        rest = output[len(start):] if start and output.startswith(start) else None
        if rest is not None and (rest.startswith("\n\n") or not rest.strip()):
            return rest.strip("\n")
    if "\n\n" in output:  # written otherwise (by hand, by an older grader): the details follow the first blank line
        return output.partition("\n\n")[2].strip("\n")
    return "" if output.strip() == feedback.strip() else output.strip("\n")


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check on one submission."""

    name: str
    score: float
    max_score: float
    feedback: str
    hint: str = ""
    visibility: str = "visible"
    duration: float = 0.0
    fault: str | None = None
    details: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    fix: str = ""  # code that shows the fix (the `if __name__ == "__main__":` block), shown as a block under the hint

    @property
    def status(self) -> str:
        return PASSED if self.score >= self.max_score else FAILED

    @classmethod
    def passed(cls, name: str, max_score: float, feedback: str, **kwargs: Any) -> "CheckResult":
        return cls(name=name, score=max_score, max_score=max_score, feedback=feedback, **kwargs)

    @classmethod
    def failed(cls, name: str, max_score: float, feedback: str, **kwargs: Any) -> "CheckResult":
        return cls(name=name, score=0.0, max_score=max_score, feedback=feedback, **kwargs)

    def timed(self, seconds: float) -> "CheckResult":
        return replace(self, duration=round(seconds, 3))

    def to_dict(self) -> dict[str, Any]:
        text = head(self.feedback, self.hint, self.fix)
        if self.details:
            text += f"\n\n{self.details}"
        extra = {"feedback": self.feedback, "hint": self.hint, "fault": self.fault, "duration": self.duration}
        if self.fix:
            extra["fix"] = self.fix
        extra.update(self.extra)
        return {
            "name": self.name,
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
            "output": text,
            "visibility": self.visibility,
            "extra_data": extra,
        }


@dataclass(frozen=True)
class SubmissionResult:
    """All checks of one submission, plus what the report needs to explain them."""

    assignment: str
    submission: str
    checks: tuple[CheckResult, ...]
    execution_time: float
    output: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 4)

    @property
    def all_passed(self) -> bool:
        return all(c.status == PASSED for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The Gradescope results.json, with the grader's own numbers in extra_data."""
        extra = {
            "assignment": self.assignment,
            "submission": self.submission,
            "max_score": self.max_score,
            "passed": self.all_passed,
            "status": GRADED,
        }
        extra.update(self.extra)
        return utf8.valid_data({
            "score": self.score,
            "execution_time": round(self.execution_time, 3),
            "output": self.output,
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [c.to_dict() for c in self.checks],
            "extra_data": extra,
        })

"""Helpers shared by the check kinds: turning a submission's failure into a zero-score result."""

from __future__ import annotations

from grader.results import CheckResult
from grader.sandbox.runner import SubmissionError
from grader.assignment.spec import CheckSpec


def from_error(check: CheckSpec, error: SubmissionError, *, prefix: str = "", hint: str = "") -> CheckResult:
    """A zero-score result that reports what the submission did. `hint` is the check's own, for a failure of its
    function; a failed import is the same result for every check (one item for the student), with the error's
    hint, so the check's name, prefix and hint are left out."""
    hints = {
        "not_implemented": f"Write the body of {check.function or check.name}() in place of the raise.",
        "syntax": "Fix the line shown; run `python -m py_compile` on your file to check it.",
        "timeout": "Look for an infinite loop or a very slow step; this check has a time limit.",
        "memory": "Avoid creating very large arrays or models.",
        "output": "Remove print statements in loops, and do not write large files.",
        "crash": "Do not call sys.exit() or os._exit(); return a value instead.",
        "missing": "Keep the function names and arguments of the template.",
        "import": "Import only numpy, tensorflow/keras and the standard library.",
    }
    if error.at_import:
        prefix = ""
        hints["not_implemented"] = "Replace the `raise NotImplementedError` on the line shown with your code."
        hint = error.hint or hints.get(error.kind, "Fix the line shown: importing your file must run without error, so "
                                                   "keep only imports, functions and constants at its top level.")
    else:
        hint = error.hint or hint or hints.get(error.kind, "Read the error above; run the function yourself on a few "
                                                           "images to reproduce it.")
    extra = {"line": error.line} if error.line else {}
    if error.at_import:
        extra["at_import"] = True
    return CheckResult.failed(check.name, check.points, f"{prefix}{error.message}", hint=hint,
                              visibility=check.visibility, fault=error.kind, details=error.details, extra=extra,
                              fix=error.fix)


def blocked(check: CheckSpec, reason: str, hint: str, fault: str | None = None,
            waits_for: tuple[str, ...] = ()) -> CheckResult:
    """A zero-score result for a check that could not run because an earlier step failed; `waits_for` names the
    checks whose failure stopped it, for the report to link."""
    return CheckResult.failed(check.name, check.points, reason, hint=hint, visibility=check.visibility, fault=fault,
                              extra={"waits_for": list(waits_for)} if waits_for else {})

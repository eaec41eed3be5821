"""The library's front door: what the command line calls, usable from Python as well."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import outputs, spec, summary
from grader.grading import grade
from grader.results import SubmissionResult


@dataclass(frozen=True)
class Outcome:
    """One graded submission: its results dict, where they were written, and the exit status they imply."""

    result: SubmissionResult
    results: dict[str, Any]
    paths: dict[str, Path]
    summary: str

    @property
    def exit_status(self) -> int:
        if self.result.extra.get("grader_faults"):
            return 2
        return 0 if self.result.all_passed else 1


def run(*, submissions: list[Path], assignment: str = "digits", out: Path = Path("grading-out"),
        data: str | None = None, keep_gpu: bool = False) -> list[Outcome]:
    """Grade each submission and write its results.json and report.html."""
    from grader.cli import UsageError

    task = spec.load(assignment)
    missing = [str(s) for s in submissions if not s.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}; give the path of a submission.")
    outcomes = []
    for submission in submissions:
        name = submission.stem if submission.is_file() else submission.resolve().name
        target = out if len(submissions) == 1 else out / name
        result = grade(submission, task, data=data, keep_gpu=keep_gpu, name=name)
        results = result.to_dict()
        paths = outputs.write(results, target)
        outcomes.append(Outcome(result, results, paths, summary.text(results, str(paths["report"]))))
    return outcomes

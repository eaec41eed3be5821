"""Finding the file to grade in what a student handed in."""

from __future__ import annotations

from pathlib import Path

from grader.spec import Assignment


class SubmissionNotFound(Exception):
    """There is nothing to grade at the given path; the message says what was expected."""


def locate(path: Path, assignment: Assignment) -> Path:
    """The module to grade: `path` itself if it is a file, else the assignment's module inside the folder."""
    if not path.exists():
        raise SubmissionNotFound(f"{path} does not exist; give the path of your {assignment.module} or of the folder holding it.")
    if path.is_file():
        if path.suffix not in (".py", ".ipynb"):
            raise SubmissionNotFound(f"{path} is not a Python module (.py) or notebook (.ipynb); hand in {assignment.module}.")
        return path
    stem = Path(assignment.module).stem
    for name in (assignment.module, f"{stem}.ipynb"):
        if (path / name).is_file():
            return path / name
    candidates = sorted(path.glob("*.py")) + sorted(path.glob("*.ipynb"))
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(p.name for p in candidates[:5]) or "no .py or .ipynb file"
    raise SubmissionNotFound(f"{path} holds {found}; expected {assignment.module} (or {stem}.ipynb). Rename your file to {assignment.module}.")


def materialise(path: Path, directory: Path) -> Path:
    """A .py module to hand to the sandbox: `path` itself, or the code extracted from a notebook into `directory`."""
    if path.suffix != ".ipynb":
        return path
    raise SubmissionNotFound(f"{path.name} is a notebook; notebook submissions are not supported yet.")

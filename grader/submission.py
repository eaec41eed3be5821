"""Finding the file to grade in what a student handed in."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from grader.spec import Assignment

MAX_SIBLING_BYTES = 8 << 20  # as the sandbox: larger .py files beside a submission are not copied


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


class MalformedNotebook(SubmissionNotFound):
    """A handed-in notebook cannot be read; the message names the file and what to do."""


def materialise(path: Path, directory: Path) -> Path:
    """A .py module to hand to the sandbox: `path` itself, or the code extracted from a notebook into `directory`.

    A notebook keeps its imports, definitions and constants (see grader.notebook); the .py files
    beside it are copied too, as they are for a module, so that it can import its own helpers.
    """
    if path.suffix != ".ipynb":
        return path
    from grader import notebook

    try:
        source = notebook.to_module(notebook.read(path), path.name)
    except notebook.NotebookError as exc:
        raise MalformedNotebook(str(exc)) from None
    stem = path.stem if path.stem.isidentifier() else re.sub(r"\W", "_", path.stem)
    directory.mkdir(parents=True, exist_ok=True)
    for sibling in path.parent.glob("*.py"):
        if sibling.is_file() and sibling.stat().st_size < MAX_SIBLING_BYTES:
            shutil.copy(sibling, directory / sibling.name)
    target = directory / f"{stem}.py"
    target.write_text(source, encoding="utf-8")
    return target

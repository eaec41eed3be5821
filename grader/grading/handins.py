"""What a hand-in is before it is graded: whose it is (Canvas' download names) and which assignment it answers.

Canvas' "Download submissions" names each file `<student>_[LATE_]<user id>_<submission id>_<file>`, the student
being their sortable name run together in lower case (`andersonalice`), and a file handed in again under the
same name numbered as a duplicate (`digits-1.py`). Such a file keeps the student's Canvas user id, so the
export matches it to the roster's ID column, and its folder in the output is `<student>_<user id>`, the same
for every submission of that student, so a resubmission replaces the grade it supersedes.

The assignment is decided by what the hand-in defines: the assignment whose functions it defines most of,
its file name (without Canvas' decoration) deciding only between assignments it matches equally. A hand-in
that defines none of any assignment's functions is matched by its name alone, and otherwise not at all;
nothing is ever graded against a default. The module is parsed here, in the grader's own process, within
the bounds of grader.submission.top_level; nothing of it runs.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from grader.assignment.spec import Assignment
from grader.submission import notebook, top_level
from grader.submission.files import SubmissionNotFound, locate

# name_[LATE_]userid_submissionid_file: the student part is letters and digits (Canvas drops the rest).
_CANVAS = re.compile(r"(?P<student>[^\W_]+)_(?P<late>LATE_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)", re.ASCII)
_DUPLICATE = re.compile(r"(?P<stem>.+)-(?P<number>\d+)")  # digits-1.py: the second file handed in as digits.py


@dataclass(frozen=True)
class Download:
    """A file named as Canvas' "Download submissions" names it."""

    student: str        # the sortable name run together: andersonalice
    user_id: str        # the student's Canvas user id, the roster's ID column
    submission_id: int  # larger for a later submission
    late: bool
    file: str           # the name the student gave it, Canvas' duplicate number removed: digits.py

    @property
    def folder(self) -> str:
        """The name of this student's folder in the output, the same for each of their submissions."""
        return f"{self.student}_{self.user_id}"

    def to_dict(self) -> dict[str, object]:
        return {"student": self.student, "user_id": self.user_id, "submission_id": self.submission_id,
                "late": self.late, "file": self.file}


def canvas_download(path: Path) -> Download | None:
    """The Canvas identity in a hand-in's name (a file, or a folder named like one), or None."""
    found = _CANVAS.fullmatch(path.name)
    if found is None:
        return None
    file = found["file"]
    stem, dot, suffix = file.rpartition(".") if "." in file else (file, "", "")
    duplicate = _DUPLICATE.fullmatch(stem)
    if duplicate is not None:
        file = f"{duplicate['stem']}{dot}{suffix}"
    return Download(found["student"].lower(), found["user"], int(found["submission"]), bool(found["late"]), file)


def name_stem(path: Path) -> str:
    """The name a hand-in was given, without Canvas' decoration or suffix: andersonalice_2001_9876543_fashion-1.py -> fashion."""
    download = canvas_download(path)
    return Path(download.file).stem if download is not None else path.stem


# -- which assignment ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Match:
    """The assignment a hand-in answers, or why none: `status` is matched, unmatched or ambiguous (several)."""

    task: Assignment | None
    status: str
    reason: str
    candidates: tuple[str, ...] = ()
    located: bool = True  # the grader found the module of some assignment there (not: nothing, several files)


def defined(module: Path) -> frozenset[str] | None:
    """The names a module or notebook defines at its top level (functions, classes, assigned names); None if it
    cannot be read or parsed within the grader's bounds."""
    if module.suffix == ".ipynb":
        try:
            source = notebook.to_module(notebook.read(module), module.name)
        except (notebook.NotebookError, SyntaxError, ValueError, RecursionError, MemoryError):
            return None
    else:
        source = top_level.read_code(module)
    if source is None or len(source) > notebook.MAX_CODE:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(names)


def match(path: Path, tasks: Iterable[Assignment]) -> Match:
    """The assignment of `tasks` that the hand-in at `path` (a file or a folder) answers; see the module's docstring."""
    tasks = list(tasks)
    overlap: dict[str, int] = {}
    hinted: set[str] = set()
    unreadable, located = True, False
    parsed: dict[Path, frozenset[str] | None] = {}  # a file is parsed once, whichever assignments locate it
    for task in tasks:
        try:
            modules = [locate(path, task)]
            located = True
        except SubmissionNotFound:
            modules = _modules_in(path)  # a folder of several files: graded as ambiguous, but whose?
            if not modules:
                continue
        for module in modules:
            if module not in parsed:
                parsed[module] = defined(module)
        found = [names for module in modules if (names := parsed[module]) is not None]
        names = frozenset().union(*found)
        unreadable = unreadable and not found
        overlap[task.name] = len(set(task.functions) & names)
        if Path(task.module).stem in {name_stem(path), *(name_stem(module) for module in modules)}:
            hinted.add(task.name)
    by_name = {task.name: task for task in tasks}
    listed = ", ".join(sorted(by_name))
    best = max(overlap.values(), default=0)
    if best > 0:
        leaders = sorted(name for name, count in overlap.items() if count == best)
        if len(leaders) > 1 and len(set(leaders) & hinted) == 1:
            leaders = sorted(set(leaders) & hinted)
        if len(leaders) == 1:
            return Match(by_name[leaders[0]], "matched", f"it defines {best} of {leaders[0]}'s functions",
                         located=located)
        return Match(None, "ambiguous", f"it defines as many functions of {', '.join(leaders)} ({best} each), and its "
                     "name does not say which", tuple(leaders), located)
    if len(hinted) == 1:
        return Match(by_name[hinted.pop()], "matched", "it is named after the assignment's module", located=located)
    if not overlap:
        return Match(None, "unmatched", f"it holds no module of any assignment ({listed})", tuple(sorted(by_name)),
                     located)
    if unreadable and len(tasks) == 1:
        return Match(tasks[0], "matched", "it is the course's only assignment", located=located)
    what = "it cannot be parsed" if unreadable else "it defines none of their functions"
    return Match(None, "unmatched", f"{what} and its name matches no assignment's module ({listed})",
                 tuple(sorted(by_name)), located)


MAX_SCANNED = 20  # files of a folder read to tell whose it is, when none is named as a module


def _modules_in(path: Path) -> list[Path]:
    """The modules and notebooks at the top of a folder (at most MAX_SCANNED), regular files only."""
    if not path.is_dir() or path.is_symlink():
        return []
    try:
        found = sorted(p for p in path.iterdir() if p.suffix in (".py", ".ipynb") and p.is_file() and not p.is_symlink())
    except OSError:
        return []
    return found[:MAX_SCANNED]


def refusal(path: Path, found: Match) -> str:
    """What to tell the instructor about a hand-in that matched no assignment, or several."""
    which = ("several assignments" if found.status == "ambiguous" else "no assignment")
    names = " or ".join(found.candidates) or "NAME"
    return (f"{path} matches {which}: {found.reason}. Expected a module defining one assignment's functions, or named "
            f"after its module; give --assignment ({names}) to grade it against one.")

"""Where an assignment comes from: the instructor's course folder, or a student kit.

A course folder holds `assignments/<name>/assignment.toml` (the spec, beside the student template),
`solutions/<name>/<module>` (the reference solution) and, once released, `kits/<name>/` (what students get;
see grader.assignment.kit). It is the folder named by $GRADER_COURSE, else the current folder or the nearest
one above it that holds `assignments/course.toml` or an `assignments/*/assignment.toml`. Submissions' own
folders are never searched: a submission cannot bring a course of its own.

Grading (`grader run`, batches, validate, exports) needs the course folder. A self-check may use a student kit
instead: one beside the submission, or one of the kits installed with the grader (the example course's).
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Callable, Iterable

from grader import toml
from grader.assignment import kit
from grader.assignment.spec import Assignment, SpecError, load_file

COURSE_VARIABLE = "GRADER_COURSE"
COURSE_FILE = "course.toml"  # in assignments/ (a course) or beside the kits (the installed ones): default_assignment


def find() -> Path | None:
    """The course folder: $GRADER_COURSE, else the current folder or the nearest above it that holds assignments."""
    named = os.environ.get(COURSE_VARIABLE)
    if named:
        if not _is_course(Path(named)):
            raise SpecError(f"${COURSE_VARIABLE} is {named}, which holds no assignments/<name>/assignment.toml; set it "
                            "to the course folder (the one holding assignments/ and solutions/) or unset it.")
        return Path(named)
    here = Path.cwd()
    return next((folder for folder in (here, *here.parents) if _is_course(folder)), None)


def _is_course(folder: Path) -> bool:
    assignments = folder / "assignments"
    try:
        return (assignments / COURSE_FILE).is_file() or any(assignments.glob("*/assignment.toml"))
    except OSError:
        return False


def installed_kits() -> Path:
    """The folder of the student kits installed with the grader (the example course's assignments)."""
    return Path(str(importlib.resources.files("grader.kits")))


def available(*, kits: bool = False) -> list[str]:
    """Names of the course's assignments; without a course and with `kits`, of the installed kits."""
    course = find()
    if course is not None:
        return sorted(p.parent.name for p in (course / "assignments").glob("*/assignment.toml"))
    if kits:
        return sorted(p.parent.name for p in installed_kits().glob(f"*/{kit.SPEC}"))
    return []


def load(name_or_path: str | os.PathLike, *, kits: bool = False) -> Assignment:
    """An assignment by name (the course's, or with `kits` an installed kit's when there is no course) or by path (an
    assignment.toml or its folder; with `kits`, a kit's folder or its kit.json too)."""
    candidate = Path(name_or_path)
    if candidate.exists():
        if kit.is_kit(candidate):
            if not kits:
                raise SpecError(_kit_refused(candidate))
            return kit.load(candidate)
        return load_file(candidate)
    course = find()
    if course is not None and (course / "assignments" / str(name_or_path) / "assignment.toml").is_file():
        return load_file(course / "assignments" / str(name_or_path))
    if kits and course is None and kit.is_kit(installed_kits() / str(name_or_path)):
        return kit.load(installed_kits() / str(name_or_path))
    known = ", ".join(available(kits=kits)) or "none found"
    where = (f"the course in {course}" if course is not None else
             "no course folder here (one holding assignments/ and solutions/; cd into it or set $GRADER_COURSE)")
    raise SpecError(f"no assignment called {str(name_or_path)!r}: expected a name ({known}; {where}) or a path to an "
                    "assignment.toml" + (" or a student kit" if kits else "") + ".")


def require() -> Path:
    """The course folder (see `find`); SpecError saying where it should be if there is none."""
    course = find()
    if course is None:
        raise SpecError("no course folder here: grading needs the course's assignments and reference solutions. Run "
                        "the command in the course folder (the one holding assignments/ and solutions/), set "
                        f"${COURSE_VARIABLE} to it, or give --assignment PATH/assignment.toml. To check your own work "
                        "against a student kit, use `grader check`.")
    return course


def resolve(requested: str | os.PathLike | None, submissions: Iterable[Path] = (), *,
            kits: bool = False, match: Callable[[Path, list[Assignment]], Assignment | None] | None = None) -> Assignment:
    """The assignment to use: `requested` if given; else, with `kits`, a student kit beside the submission; else the
    one assignment the submissions answer, by `match` (grader.grading.handins: what a submission defines), or
    without it by their names (lab.py, lab.ipynb or a folder holding one is the assignment whose module is lab.py).
    With no submissions at all, the default_assignment of course.toml. Never a default for a submission: SpecError
    says what to give when none applies, or several do."""
    if requested is not None:
        return load(requested, kits=kits)
    submissions = [Path(s) for s in submissions]
    if kits:
        beside = {folder for s in submissions for folder in [s if s.is_dir() else s.parent] if kit.is_kit(folder)}
        if len(beside) == 1:
            return kit.load(beside.pop())
    if not kits:
        require()
    everything = [load(name, kits=kits) for name in available(kits=kits)]
    listed = ", ".join(task.name for task in everything) or "none found"
    if not submissions:
        default = default_name(kits=kits)
        if default is None:
            raise SpecError(f"which assignment? Give --assignment NAME ({listed}) or a path to an assignment.toml.")
        return load(default, kits=kits)
    if match is None:
        stems = {Path(task.module).stem: task for task in everything}
        match = lambda path, _tasks: _named_after(path, stems)  # noqa: E731
    found = {path: match(path, everything) for path in submissions if path.exists()}
    named = {task.name for task in found.values() if task is not None}
    if len(named) > 1:
        shown = ", ".join(f"{path.name} ({task.name})" for path, task in found.items() if task is not None)
        raise SpecError(f"the submissions are of different assignments: {shown}; grade each assignment's "
                        "separately, or give --assignment NAME.")
    if named and all(task is not None for task in found.values()):
        return next(iter(found.values()))
    unknown = ", ".join(str(path) for path, task in found.items() if task is None) or ", ".join(map(str, submissions))
    raise SpecError(f"which assignment is {unknown}? It defines the functions of none of the assignments ({listed}), "
                    "or as many of several, and is not named after one's module. Give --assignment NAME, or name the "
                    "file after the assignment's module (such as digits.py).")


def default_name(*, kits: bool = False) -> str | None:
    """`default_assignment` of the course's assignments/course.toml (or, for the installed kits, of theirs)."""
    course = find()
    path = (course / "assignments" / COURSE_FILE if course is not None else
            installed_kits() / COURSE_FILE if kits else None)
    if path is None:
        return None
    try:
        value = toml.loads(path.read_text(encoding="utf-8")).get("default_assignment")
    except (OSError, UnicodeDecodeError, toml.TOMLDecodeError):
        return None
    return value if isinstance(value, str) and value in available(kits=kits) else None


def root(task: Assignment) -> Path | None:
    """The course folder an assignment of a course was loaded from (None for a kit)."""
    return None if task.kit is not None else task.directory.parent.parent


def _named_after(path: Path, stems: dict[str, Assignment]) -> Assignment | None:
    """The assignment `path` is named after: its own stem for a .py or .ipynb file, else a module inside the folder."""
    if path.is_file():
        return stems.get(path.stem) if path.suffix in (".py", ".ipynb") else None
    inside = {stems[p.stem].name: stems[p.stem] for p in path.iterdir() if p.suffix in (".py", ".ipynb")
              and p.stem in stems} if path.is_dir() else {}
    return next(iter(inside.values())) if len(inside) == 1 else None


def _kit_refused(path: Path) -> str:
    return (f"{path} is a student kit: it holds the public checks' answers, not the reference solution, so it can "
            "check work (`grader check`) but not grade it. Grade in the course folder (the one holding assignments/ "
            "and solutions/), or give --assignment PATH/assignment.toml.")

"""Canvas: a gradebook import file made from a graded batch and the course's roster.

Canvas' gradebook importer reads a CSV whose header is `Student, ID, SIS User ID, SIS Login ID,
Section` followed by one column per assignment (`Title (assignment id)` updates that assignment), an
optional `Points Possible` row under the header, and one row per student, matched by Canvas ID,
then SIS User ID, then SIS Login ID, then name. A cell `EX` excuses the student; an empty cell
changes nothing. Canvas' own gradebook export has that shape, so it serves as the roster as is.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from grader.errors import UsageError
from grader.results import GRADED, NOT_GRADED, format_points, status_of
from grader.views import gradebook
from grader.grading.batch import safe_name
from grader.views.outputs import write_text

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
IDENTIFYING = ("ID", "SIS User ID", "SIS Login ID")  # what the importer matches students by, besides the name
DEFAULT_MATCH = "SIS Login ID"
# Rows a Canvas export puts between the header and the students; their first cell is indented.
NOT_STUDENTS = ("points possible", "manual posting", "muted")
POINTS_POSSIBLE = "    Points Possible"  # as Canvas writes it
EXCUSED = "EX"


class CanvasError(UsageError):
    """A roster or a batch that cannot make a Canvas import file; the message says what to fix."""


@dataclass(frozen=True)
class Roster:
    """The students of a roster file, in its order, each with its five Canvas columns and its match key."""

    path: Path
    match: str
    students: tuple[dict[str, str], ...]
    columns: tuple[str, ...]

    def by_key(self) -> dict[str, dict[str, str]]:
        """Students by the normalised value of their match column (students without one are left out)."""
        return {key: student for student in self.students if (key := match_key(student[self.match]))}


@dataclass(frozen=True)
class CanvasExport:
    """What `export` wrote: the file, and the students and folders a human should know about."""

    path: Path
    graded: int
    without_submission: tuple[str, ...]
    faults: tuple[str, ...]
    left_out: tuple[str, ...]
    excused: bool = False
    not_graded: tuple[str, ...] = ()  # hand-ins with nothing to grade (see results.NOT_GRADED), with why


def match_key(value: str) -> str:
    """A roster value as `grader run` names a submission's folder (see batch.safe_name), ignoring case; '' if blank."""
    value = value.strip()
    return safe_name(value).casefold() if value else ""


def read_roster(path: Path, match: str = DEFAULT_MATCH) -> Roster:
    """Read a roster CSV (a Canvas gradebook export works as is): its students and the column to match names by."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CanvasError(f"roster {path} does not exist; give the CSV exported from Canvas' gradebook "
                          "(Grades, Export, Export Entire Gradebook).") from None
    except UnicodeDecodeError:
        raise CanvasError(f"roster {path} is not UTF-8 text; save it as 'CSV UTF-8' and try again.") from None
    except OSError as exc:
        raise CanvasError(f"roster {path} cannot be read ({exc}).") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip() for cell in next(reader, [])]
    if "Student" not in header or not any(column in header for column in IDENTIFYING):
        raise CanvasError(f"roster {path} has the columns {', '.join(header) or '(none)'}; expected Canvas' "
                          f"{', '.join(CANVAS_COLUMNS)} (at least Student and one of {', '.join(IDENTIFYING)}). "
                          "Export the roster from Canvas' gradebook, or add those columns.")
    if match not in header:
        raise CanvasError(f"roster {path} has no column {match!r} to match submission names by; its columns are "
                          f"{', '.join(header)}. Pick one with --match COLUMN.")
    students = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        row = dict(zip(header, cells + [""] * (len(header) - len(cells))))
        if row["Student"].strip().casefold() in NOT_STUDENTS and not any(row.get(c, "").strip() for c in IDENTIFYING):
            continue
        students.append({column: row.get(column, "") for column in (*CANVAS_COLUMNS, match)})
    _refuse_duplicates(students, path, match)
    return Roster(path, match, tuple(students), tuple(header))


def _refuse_duplicates(students: list[dict[str, str]], path: Path, match: str) -> None:
    seen: dict[str, dict[str, str]] = {}
    for student in students:
        key = match_key(student[match])
        if key and key in seen:
            raise CanvasError(f"roster {path}: {seen[key]['Student']!r} and {student['Student']!r} have the same "
                              f"{match!r} ({student[match]!r}, as a submission name {safe_name(student[match])!r}), "
                              "so a submission could not tell them apart. Correct the roster or pick another "
                              "column with --match.")
        seen[key] = student


def canvas_user(results: dict[str, Any]) -> str | None:
    """The Canvas user id a batch kept from the submission's download name (see grader.grading.handins), or None."""
    canvas = results.get("extra_data", {}).get("canvas")
    user = canvas.get("user_id") if isinstance(canvas, dict) else None
    return user if isinstance(user, str) and user.isdigit() else None


def students_of(found: dict[str, dict[str, Any]], roster: Roster) -> dict[str, dict[str, str]]:
    """The roster's student for each submission (by name: its results); CanvasError naming every submission that
    matches none.

    A submission downloaded from Canvas is matched by its Canvas user id to the roster's ID column; any other by its
    name to the roster's match column (see `match_key`)."""
    by_key = roster.by_key()
    by_id = {student["ID"].strip(): student for student in roster.students if student.get("ID", "").strip()}
    matched, unmatched = {}, []
    for name in sorted(found):
        user = canvas_user(found[name])
        student = by_id.get(user) if user is not None else by_key.get(name.casefold())
        if student is None:
            unmatched.append(f"{name} (Canvas user {user})" if user is not None else name)
        else:
            matched[name] = student
    if unmatched:
        raise CanvasError(f"{len(unmatched)} graded submission(s) match no student of {roster.path} by its "
                          f"{roster.match!r} column (or, for Canvas downloads, its ID column): {', '.join(unmatched)}. "
                          f"Add them to the roster, or give the column that holds these names with --match (the "
                          f"roster's columns: {', '.join(roster.columns)}). Nothing was written.")
    submissions_of: dict[int, list[str]] = {}  # by roster row: two students may share a name, never a row
    for name, student in matched.items():
        submissions_of.setdefault(id(student), []).append(name)
    doubled = [names for names in submissions_of.values() if len(names) > 1]
    if doubled:
        raise CanvasError("several submissions belong to the same student: " + "; ".join(
            f"{matched[names[0]]['Student']}: {', '.join(names)}" for names in doubled) + ". Keep one folder per "
            "student in the grades "
            "(a student's latest Canvas download replaces their earlier one when graded into the same folder). "
            "Nothing was written.")
    return matched


def export(grades: list[Path], *, roster: Path, title: str, out: Path, match: str = DEFAULT_MATCH,
           excuse_missing: bool = False) -> CanvasExport:
    """Write `out`, a Canvas gradebook import file giving each roster student their score in points in the column
    `title`; students without a submission get an empty cell, or `EX` if `excuse_missing`.

    Only results.json files `grader run` wrote are read (see gradebook.written_by_grader); a submission
    the grader itself failed on gets an empty cell and is named in the return value, never a score of 0.
    """
    if not title.strip():
        raise CanvasError("--title is empty; give the assignment's column title as Canvas shows it, with its id "
                          "to update an existing assignment, e.g. \"Lab 2 (1234)\".")
    students = read_roster(roster, match)
    found: dict[str, dict[str, Any]] = {}
    left_out: list[str] = []
    for folder in grades:
        try:
            results, skipped = gradebook.scan(folder)
        except gradebook.GradebookError as exc:
            raise CanvasError(str(exc)) from exc
        found.update(results)
        left_out += [str(path) for path in skipped]
    if not found:
        classes = [str(book.parent) for folder in grades for book in sorted(folder.glob("*/gradebook.csv"))]
        also = (f" It holds the classes of several assignments: give one of {', '.join(classes[:5])}."
                if classes else "")
        raise CanvasError(f"no results.json written by `grader run` under {', '.join(map(str, grades))}; give the "
                          f"--out folder of `grader run SUBMISSION... --out DIR`.{also}")
    assignments = sorted({str(results["extra_data"].get("assignment")) for results in found.values()})
    if len(assignments) > 1:
        raise CanvasError(f"the grades under {', '.join(map(str, grades))} are of several assignments "
                          f"({', '.join(assignments)}); a Canvas column holds one. Export each assignment's folder "
                          "(grader run puts them in <out>/<assignment>/) with its own --title. Nothing was written.")
    matched = students_of(found, students)
    score_of = {id(student): found[name] for name, student in matched.items()}
    faults = sorted(name for name, results in found.items() if results["extra_data"].get("grader_faults"))
    unread = sorted(name for name, results in found.items() if status_of(results) != GRADED)
    points = max(float(results["extra_data"]["max_score"]) for results in found.values())
    rows = [[*CANVAS_COLUMNS, title], [POINTS_POSSIBLE, "", "", "", "", points]]
    missing = []
    for student in students.students:
        results = score_of.get(id(student))
        if results is None:
            missing.append(student["Student"])
            grade: Any = EXCUSED if excuse_missing else ""
        elif status_of(results) != GRADED:
            grade = EXCUSED if excuse_missing else ""
        elif results["extra_data"].get("grader_faults"):
            grade = ""
        else:
            grade = results["score"]
        rows.append([student[column] for column in CANVAS_COLUMNS] + [grade])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([format_points(cell) if isinstance(cell, (int, float)) else gradebook.cell(cell) for cell in row])
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, buffer.getvalue())
    return CanvasExport(out, len(matched) - len(faults) - len(unread), tuple(missing), tuple(faults), tuple(left_out),
                        excuse_missing, tuple(f"{name} ({NOT_GRADED[status_of(found[name])].lower()})" for name in unread))


def student_names(grades: list[Path], *, roster: Path, match: str = DEFAULT_MATCH) -> dict[str, str]:
    """The roster's name (its Student column) for every submission graded under `grades`, for gradebook.csv."""
    found: dict[str, dict[str, Any]] = {}
    for folder in grades:
        try:
            found.update(gradebook.scan(folder)[0])
        except gradebook.GradebookError as exc:
            raise CanvasError(str(exc)) from exc
    return {name: student["Student"] for name, student in students_of(found, read_roster(roster, match)).items()}


def describe(done: CanvasExport, shown: int = 10) -> str:
    """What an export wrote and what the instructor should look at, for the command line."""
    def listed(names: tuple[str, ...]) -> str:
        return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")

    lines = [f"Wrote {done.path}: {done.graded} student(s) with a score. Import it in Canvas: Grades, Import."]
    if done.without_submission:
        lines.append(f"{len(done.without_submission)} student(s) without a submission, their cell "
                     f"{'EX (excused)' if done.excused else 'left empty (grade unchanged)'}: "
                     f"{listed(done.without_submission)}.")
    if done.not_graded:
        lines.append(f"{len(done.not_graded)} hand-in(s) with nothing the grader could grade, their cell "
                     f"{'EX (excused)' if done.excused else 'left empty (grade unchanged)'}: {listed(done.not_graded)}. "
                     "Their reports say what was expected; ask for the file and grade it into the same folder.")
    if done.faults:
        lines.append(f"{len(done.faults)} submission(s) the grader itself failed on, their cell left empty: "
                     f"{listed(done.faults)}. Grade them again (`grader run ... --regrade NAME`) and export again.")
    if done.left_out:
        lines.append(f"Left out {len(done.left_out)} folder(s) whose results.json `grader run` did not write: "
                     f"{listed(done.left_out)}.")
    return "\n".join(lines)

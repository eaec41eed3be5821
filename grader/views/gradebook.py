"""The class at a glance: gradebook.csv and index.html, made from the submissions' results.json files."""

from __future__ import annotations

import collections
import csv
import io
import json
import os
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Iterable

from grader.errors import UsageError
from grader.results import FAULT_KINDS, GRADED, NOT_GRADED, format_points, status_of
from grader.views import figures, report
from grader.views.outputs import write_text


class GradebookError(UsageError):
    """No results to put in a gradebook, or results that cannot be read; the message names the path."""


FINGERPRINT = re.compile(r"[0-9a-f]{64}:[0-9a-f]{64}")  # batch.Job.fingerprint: submission:configuration


def collect(folders: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Every DIR/<name>/results.json the grader wrote under the given output folders, by submission name."""
    found: dict[str, dict[str, Any]] = {}
    for folder in folders:
        found.update(scan(folder)[0])
    if not found:
        raise GradebookError(f"no */results.json written by `grader run` under {', '.join(map(str, folders))}; "
                             "run `grader run` first.")
    return found


def merge(folders: list[Path], out: Path, *, students: dict[str, str] | None = None) -> dict[str, Path]:
    """Collect the results under `folders` into one gradebook in `out`, with links to each report.

    Only folders holding a results.json that `grader run` wrote for that folder's name are taken
    (see `written_by_grader`); the others are named on stderr and on the index page, and left out.
    `students`, if given, maps submission names to students' names (see canvas.students_of) for a
    `student` column.
    """
    found: dict[str, dict[str, Any]] = {}
    reports: dict[str, str | None] = {}
    skipped: list[Path] = []
    for folder in folders:
        results_here, skipped_here = scan(folder)
        skipped += skipped_here
        for name, results in results_here.items():
            found[name] = results
            reports[name] = report_href(*Path(os.path.relpath(folder, out)).parts, name, "report.html")
    if not found:
        collect(folders)  # raises, naming what was expected
    if skipped:
        print(f"Left out {len(skipped)} folder(s) whose results.json `grader run` did not write: "
              f"{', '.join(map(str, skipped[:10]))}", file=sys.stderr)
    return write(found, out, reports=reports, skipped=[str(p) for p in skipped], students=students)


def written_by_grader(results: Any, name: str) -> bool:
    """Whether `results` has the shape `grader run` gives a batch's results.json for the submission `name`.

    That is: the Gradescope fields with numbers where numbers go, extra_data naming this submission,
    and the batch's fingerprint (or, for a result the grader itself failed on, the checks it failed).
    A check of shape against mistakes (a folder of something else), not a signature.
    """
    if not isinstance(results, dict) or not isinstance(extra := results.get("extra_data"), dict):
        return False
    tests = results.get("tests")
    if not isinstance(tests, list) or not all(isinstance(t, dict) and _number(t.get("score")) for t in tests):
        return False
    marked = FINGERPRINT.fullmatch(str(extra.get("fingerprint", ""))) or extra.get("grader_faults")
    return (bool(marked) and extra.get("submission") == name and _number(results.get("score"))
            and _number(extra.get("max_score")))


def report_href(*segments: str) -> str | None:
    """A relative link made of path segments, each URL-quoted; None if a name is only dots (it would climb out)."""
    *folders, name, page = segments
    if name.strip(".") == "":
        return None
    return "/".join(urllib.parse.quote(segment, safe="") for segment in (*folders, name, page))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def scan(folder: Path) -> tuple[dict[str, dict[str, Any]], list[Path]]:
    """The results.json files `grader run` wrote under `folder` by name, and the folders left out."""
    if not folder.is_dir():
        raise GradebookError(f"{folder} is not a folder; give the --out folders of earlier `grader run`s.")
    found: dict[str, dict[str, Any]] = {}
    skipped = []
    for path in sorted(folder.glob("*/results.json")):
        try:
            results = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise GradebookError(f"{path} cannot be read ({exc}); grade that submission again.") from exc
        if written_by_grader(results, path.parent.name):
            found[path.parent.name] = results
        else:
            skipped.append(path.parent)
    return found, skipped


def check_names(results_by_name: dict[str, dict[str, Any]]) -> list[str]:
    """The checks of these results, in the order they ran."""
    checks: list[str] = []
    for results in results_by_name.values():
        for test in results.get("tests", []):
            if test["name"] not in checks:
                checks.append(test["name"])
    return checks


def status(results: dict[str, Any]) -> str:
    """A row's status: passed, failed, fault (the grader's own), or why it has no grade (results.NOT_GRADED)."""
    extra = results.get("extra_data", {})
    if status_of(results) != GRADED:
        return status_of(results)
    return "fault" if extra.get("grader_faults") else ("passed" if extra.get("passed") else "failed")


def rows(results_by_name: dict[str, dict[str, Any]],
         students: dict[str, str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """The gradebook as CSV columns and one row per submission, sorted by name; with `students`, their names too.

    A submission with no grade (nothing to grade, an unreadable file: see results.NOT_GRADED) has empty scores."""
    checks = check_names(results_by_name)
    columns = ["name", *(["student"] if students is not None else []), "score", "max_score", *checks,
               "test_accuracy", "status", "seconds", "assignment"]
    table = []
    for name in sorted(results_by_name):
        results = results_by_name[name]
        extra = results.get("extra_data", {})
        tests = {t["name"]: t for t in results.get("tests", [])}
        graded = status_of(results) == GRADED
        row = {"name": name, "assignment": extra.get("assignment", ""),
               "score": results.get("score") if graded else "", "max_score": extra.get("max_score"),
               "test_accuracy": "" if extra.get("accuracy") is None else round(extra["accuracy"], 4),
               "status": status(results), "seconds": round(results.get("execution_time", 0.0), 1)}
        row.update({check: tests[check]["score"] if check in tests and graded else "" for check in checks})
        if students is not None:
            row["student"] = students.get(name, "")
        table.append(row)
    return columns, table


def class_assignment(out: Path) -> str | None:
    """The assignment of the class whose gradebook.csv is in `out` (None if it names none)."""
    rows = previous_rows(out)
    names = {row.get("assignment") for row in rows.values()} - {None, ""}
    if len(names) == 1:
        return names.pop()
    for name in rows:  # a gradebook written before it had the column: its results say
        results = _own_results(out, name)
        if results is not None:
            return results["extra_data"].get("assignment")
    return None


def previous_rows(out: Path) -> dict[str, dict[str, str]]:
    """The rows of the gradebook.csv in `out`, by name ({} if there is none or it cannot be read)."""
    try:
        text = (out / "gradebook.csv").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        return {row["name"]: row for row in csv.DictReader(io.StringIO(text, newline="")) if row.get("name")}
    except (csv.Error, KeyError):
        return {}


def _own_results(out: Path, name: str) -> dict[str, Any] | None:
    """out/<name>/results.json if `grader run` wrote it for that name, else None."""
    if Path(name).name != name or name in (".", ".."):  # a name of the class folder's own, never a path
        return None
    try:
        results = json.loads((out / name / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return results if written_by_grader(results, name) else None


def update(results_by_name: dict[str, dict[str, Any]], out: Path) -> dict[str, Path]:
    """Write the class's gradebook.csv and index.html in `out` with these results, merged into the class that out's
    gradebook.csv already lists: every student it names whose results.json is still there stays, with their
    `student` (the roster's name) if it had that column. A rerun of some students, or a regrade of one, changes
    their rows only."""
    before = previous_rows(out)
    merged = {name: results for name in before if name not in results_by_name
              and (results := _own_results(out, name)) is not None}
    merged.update(results_by_name)
    students = None
    if any("student" in row for row in before.values()):
        students = {name: row.get("student") or "" for name, row in before.items()}
    return write(merged, out, students=students)


def write(results_by_name: dict[str, dict[str, Any]], out: Path, *, reports: dict[str, str | None] | None = None,
          skipped: list[str] = (), students: dict[str, str] | None = None) -> dict[str, Path]:
    """Write out/gradebook.csv and out/index.html from these results only (never from what else is in `out`).

    `reports` maps names to links (see `report_href`) relative to `out`; by default out/<name>/report.html.
    `students` maps names to students' names, shown in a `student` column.
    """
    out.mkdir(parents=True, exist_ok=True)
    columns, table = rows(results_by_name, students)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")  # RFC 4180: a \r in a cell is quoted too
    writer.writeheader()
    for row in table:
        writer.writerow({k: cell(v) for k, v in row.items()})
    paths = {"gradebook": out / "gradebook.csv", "index": out / "index.html"}
    write_text(paths["gradebook"], buffer.getvalue())
    if reports is None:
        reports = {name: report_href(name, "report.html") for name in results_by_name}
    write_text(paths["index"], overview(results_by_name, table, columns, reports, skipped))
    return paths


def overview(results_by_name: dict[str, dict[str, Any]], table: list[dict], columns: list[str],
             reports: dict[str, str | None], skipped: list[str] = ()) -> str:
    """index.html: score distribution, each check's pass rate, the most common feedback, links to every report."""
    checks = check_names(results_by_name)
    graded_results = [r for r in results_by_name.values() if status_of(r) == GRADED]
    pass_rates = []
    feedback: collections.Counter[tuple[str, str]] = collections.Counter()
    for check in checks:
        graded = [t for r in graded_results for t in r.get("tests", []) if t["name"] == check]
        passed = sum(t["status"] == "passed" for t in graded)
        pass_rates.append({"check": check, "passed": passed, "total": len(graded),
                           "percent": round(100 * passed / len(graded)) if graded else 0})
        for test in graded:
            if test["status"] != "passed":
                feedback[(check, mistake(test))] += 1
    scores = [row["score"] for row in table if isinstance(row["score"], (int, float))]
    maximum = max((row["max_score"] or 0 for row in table), default=0)
    assignments = sorted({str(row["assignment"]) for row in table if row.get("assignment")})
    not_graded = [row for row in table if row["status"] in NOT_GRADED]
    return report.environment().get_template("index.html.j2").render(
        rows=table, columns=columns, checks=checks, pass_rates=pass_rates, reports=reports,
        common=[{"check": c, "feedback": f, "count": n} for (c, f), n in feedback.most_common(10)],
        count=len(table), mean=format_points(sum(scores) / len(scores)) if scores else "0",
        maximum=format_points(maximum),
        passed=sum(row["status"] == "passed" for row in table), faults=sum(row["status"] == "fault" for row in table),
        histogram=figures.score_histogram(scores, maximum), bins=figures.score_bins(scores, maximum),
        skipped=list(skipped),
        assignment=", ".join(assignments), not_graded=not_graded, labels=NOT_GRADED,
    )


def mistake(test: dict[str, Any]) -> str:
    """The kind of mistake a failed check shows, the same for every student who made it: the check's hint (the
    spec's hint for that mistake), else its fault's label, else the feedback's first sentence."""
    extra = test.get("extra_data", {})
    hint = " ".join(str(extra.get("hint") or "").split())
    if hint:
        return hint[:300]
    fault = extra.get("fault")
    if fault in FAULT_KINDS and FAULT_KINDS[fault][1]:
        return f"{FAULT_KINDS[fault][0]}: {FAULT_KINDS[fault][1]}"
    return _first_sentence(extra.get("feedback") or test.get("output", ""))


def _first_sentence(text: str) -> str:
    text = " ".join(str(text).split())
    for end in (". ", ": "):
        if end in text[:200]:
            return text[: text.index(end) + 1]
    return text[:200]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a leading apostrophe before anything it could read as a formula."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value  # a real number, never a formula (even a negative one)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text

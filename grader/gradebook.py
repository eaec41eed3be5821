"""The class at a glance: gradebook.csv and index.html, made from the submissions' results.json files."""

from __future__ import annotations

import collections
import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable


from grader import figures, report
from grader.outputs import write_text


class GradebookError(Exception):
    """No results to put in a gradebook, or results that cannot be read; the message names the path."""


def collect(folders: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Every DIR/<name>/results.json under the given output folders, by submission name."""
    found: dict[str, dict[str, Any]] = {}
    for folder in folders:
        if not folder.is_dir():
            raise GradebookError(f"{folder} is not a folder; give the --out folders of earlier `grader run`s.")
        for path in sorted(folder.glob("*/results.json")):
            try:
                results = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise GradebookError(f"{path} cannot be read ({exc}); grade that submission again.") from exc
            found[path.parent.name] = results
    if not found:
        raise GradebookError(f"no */results.json under {', '.join(map(str, folders))}; run `grader run` first.")
    return found


def merge(folders: list[Path], out: Path) -> dict[str, Path]:
    """Collect the results under `folders` into one gradebook in `out`, with links to each report."""
    found: dict[str, dict[str, Any]] = {}
    reports: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        for name, results in collect([folder]).items():
            found[name] = results
            reports[name] = os.path.relpath(folder / name / "report.html", out)
    return write(found, out, reports=reports)


def rows(results_by_name: dict[str, dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The gradebook as CSV columns and one row per submission, sorted by name."""
    checks: list[str] = []
    for results in results_by_name.values():
        for test in results.get("tests", []):
            if test["name"] not in checks:
                checks.append(test["name"])
    columns = ["name", "score", "max_score", *checks, "test_accuracy", "status", "seconds"]
    table = []
    for name in sorted(results_by_name):
        results = results_by_name[name]
        extra = results.get("extra_data", {})
        tests = {t["name"]: t for t in results.get("tests", [])}
        status = "fault" if extra.get("grader_faults") else ("passed" if extra.get("passed") else "failed")
        row = {"name": name, "score": results.get("score"), "max_score": extra.get("max_score"),
               "test_accuracy": "" if extra.get("accuracy") is None else round(extra["accuracy"], 4),
               "status": status, "seconds": round(results.get("execution_time", 0.0), 1)}
        row.update({check: tests[check]["score"] if check in tests else "" for check in checks})
        table.append(row)
    return columns, table


def write(results_by_name: dict[str, dict[str, Any]], out: Path, *, reports: dict[str, str] | None = None) -> dict[str, Path]:
    """Write out/gradebook.csv and out/index.html; `reports` maps names to report paths relative to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    columns, table = rows(results_by_name)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    paths = {"gradebook": out / "gradebook.csv", "index": out / "index.html"}
    write_text(paths["gradebook"], buffer.getvalue())
    reports = reports or {name: f"{name}/report.html" for name in results_by_name}
    write_text(paths["index"], overview(results_by_name, table, columns, reports))
    return paths


def overview(results_by_name: dict[str, dict[str, Any]], table: list[dict], columns: list[str], reports: dict[str, str]) -> str:
    """index.html: score distribution, each check's pass rate, the most common feedback, links to every report."""
    checks = columns[3:-3]
    pass_rates = []
    feedback: collections.Counter[tuple[str, str]] = collections.Counter()
    for check in checks:
        graded = [t for r in results_by_name.values() for t in r.get("tests", []) if t["name"] == check]
        passed = sum(t["status"] == "passed" for t in graded)
        pass_rates.append({"check": check, "passed": passed, "total": len(graded),
                           "percent": round(100 * passed / len(graded)) if graded else 0})
        for test in graded:
            if test["status"] != "passed":
                feedback[(check, _first_sentence(test.get("extra_data", {}).get("feedback") or test.get("output", "")))] += 1
    scores = [row["score"] for row in table if isinstance(row["score"], (int, float))]
    maximum = max((row["max_score"] or 0 for row in table), default=0)
    return report.environment().get_template("index.html.j2").render(
        rows=table, columns=columns, checks=checks, pass_rates=pass_rates, reports=reports,
        common=[{"check": c, "feedback": f, "count": n} for (c, f), n in feedback.most_common(10)],
        count=len(table), mean=round(sum(scores) / len(scores), 2) if scores else 0, maximum=maximum,
        passed=sum(row["status"] == "passed" for row in table), faults=sum(row["status"] == "fault" for row in table),
        histogram=figures.score_histogram(scores, maximum),
    )


def _first_sentence(text: str) -> str:
    text = " ".join(str(text).split())
    for end in (". ", ": "):
        if end in text[:200]:
            return text[: text.index(end) + 1]
    return text[:200]


def _cell(value: Any) -> Any:
    # A spreadsheet must not read a submission's name as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value

"""Tests for grader.views.outputs: results.json and report.html written in one step each, the record kept whatever happens."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from grader import timings
from grader.views import outputs, report
from grader.results import CheckResult, SubmissionResult


def _results() -> dict:
    return SubmissionResult("digits", "work", (CheckResult.passed("reshape", 1, "fine"),), 1.0).to_dict()


def test_a_report_that_cannot_be_drawn_becomes_a_plain_page_and_the_record_is_kept(tmp_path: Path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no <b>luck</b>")

    monkeypatch.setattr(report, "render", broken)
    paths = outputs.write(_results(), tmp_path)
    assert json.loads(paths["results"].read_text())["score"] == 1
    page = paths["report"].read_text()
    assert "could not be drawn (RuntimeError: no &lt;b&gt;luck&lt;/b&gt;)" in page and "reshape" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "results.json"]  # no temporary file left


def test_timings_are_stored_with_the_report_s_own_stage(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(timings, "_CURRENT", [])
    paths = outputs.write(_results(), tmp_path / "a", timings=True)  # no recorder: nothing to store
    assert "timings" not in json.loads(paths["results"].read_text())["extra_data"]
    timings.begin(origin=time.monotonic())
    paths = outputs.write(_results(), tmp_path / "b", timings=True)
    stored = json.loads(paths["results"].read_text())["extra_data"]["timings"]
    assert [s["stage"] for s in stored["stages"]][0] == "report" and "report: HTML" in stored["stages"][-1]["stage"]
    assert "timings" not in json.loads(outputs.write(_results(), tmp_path / "c")["results"].read_text())["extra_data"]


def test_importing_outputs_imports_neither_jinja2_nor_the_report() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, grader.views.outputs, grader.platforms.github; "
                           "print(sorted(m for m in ('jinja2', 'grader.views.report', 'matplotlib') if m in sys.modules))"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_lone_surrogate_anywhere_in_the_results_still_writes_every_file(tmp_path: Path) -> None:
    check = CheckResult.failed("normalise", 1, "normalise() raised RuntimeError: bad \ud800 text", details="\udcff")
    results = SubmissionResult("digits", "st\udcffudent", (check,), 1.0, output="printed \ud800").to_dict()
    paths = outputs.write(results, tmp_path)
    written = json.loads(paths["results"].read_text(encoding="utf-8"))
    assert written["tests"][0]["extra_data"]["feedback"] == "normalise() raised RuntimeError: bad \ufffd text"
    assert written["extra_data"]["submission"] == "st\ufffdudent" and written["output"] == "printed \ufffd"
    assert "bad \ufffd text" in paths["report"].read_text(encoding="utf-8")
    outputs.write_text(tmp_path / "raw.txt", "a writer given one anyway: \ud800")
    assert (tmp_path / "raw.txt").read_text(encoding="utf-8") == "a writer given one anyway: \ufffd"

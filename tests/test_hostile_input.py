"""Student input that used to crash the grader, graded end to end: each gets a verdict, never exit status 2.

Each submission below once ended in "internal error" (a lone surrogate in an exception message, a
notebook of JSON 50,000 lists deep, a 1,200-term constant in a notebook or in a module whose import
fails) or blocked for ever (a digits.py that is a named pipe, with --github). Graded through the
command line as the suite runs (as root, every layer this machine has), each must exit 1 with
results.json, report.html, summary.md and JUnit written and its verdict in words; graded in one batch
with honest classmates, none records a fault and every classmate scores as when graded alone.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import SOLUTION, SUBMISSIONS, by_name
from test_hostile import grader_cli

pytestmark = pytest.mark.slow

NOTEBOOK = SOLUTION.with_suffix(".ipynb")
TWICE = SUBMISSIONS / "normalise_twice.py"  # an honest classmate who loses a point
LONG_SUM = "+".join(["1"] * 1200)
CHECKS = ("reshape", "normalise", "build_model", "compile_model", "accuracy", "predict")


def _with_cell(source: str) -> str:
    book = json.loads(NOTEBOOK.read_text())
    book["cells"].insert(1, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                             "source": source})
    return json.dumps(book)


def _make(folder: Path, kind: str) -> Path:
    """folder/<the hostile submission of `kind`>, written; returns the folder."""
    folder.mkdir(parents=True)
    solution = SOLUTION.read_text()
    if kind == "surrogate":
        (folder / "digits.py").write_text(solution + '\n\ndef normalise(images):\n    print("printed \\ud800")\n'
                                                     '    raise RuntimeError("bad \\ud800 text")\n')
    elif kind == "deep_notebook":
        (folder / "digits.ipynb").write_text("[" * 50_000 + "]" * 50_000)
    elif kind == "long_sum_notebook":
        (folder / "digits.ipynb").write_text(_with_cell(f"X = {LONG_SUM}\n"))
    elif kind == "long_sum_import_fails":
        (folder / "digits.py").write_text(f"{solution}\nX = {LONG_SUM}\nraise RuntimeError('top-level work failed')\n")
    elif kind == "fifo":
        os.mkfifo(folder / "digits.py")
    return folder


# kind -> the checks it fails, each with words its feedback holds (the verdict a contained attack gets).
NOT_GRADED = {"deep_notebook"}  # a notebook the grader cannot read: no grade at all (status unreadable), not a 0
EXPECTED: dict[str, dict[str, list[str]]] = {
    "surrogate": {"normalise": ["raised RuntimeError: bad \ufffd text"]},
    "deep_notebook": {check: ["nested 50,000 levels deep", "Save or download it again"] for check in CHECKS},
    "long_sum_notebook": {},
    "long_sum_import_fails": {check: ["top-level work failed", "is top-level code", 'if __name__ == "__main__":']
                              for check in CHECKS},
    "fifo": {check: ["digits.py is a named pipe (FIFO), not a regular file", "Hand in digits.py as an ordinary file"]
             for check in CHECKS},
}


def assert_verdict(results: dict[str, Any], kind: str) -> None:
    """The checks `EXPECTED` names failed with their words and no fault of the grader's; all others passed."""
    failing = EXPECTED[kind]
    tests = by_name(results)
    assert tuple(tests) == CHECKS
    assert results["extra_data"]["grader_faults"] == [], (kind, results["extra_data"]["grader_faults"])
    for check, test in tests.items():
        assert test["extra_data"]["fault"] != "grader", (kind, check, test["output"])
        if check in failing:
            assert test["status"] == "failed" and test["score"] == 0, (kind, check, test["output"])
            for words in failing[check]:
                assert words in test["output"], (kind, check, words, test["output"])
        else:
            assert test["status"] == "passed", (kind, check, test["output"])


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_crashing_input_is_graded_to_a_verdict_with_every_file_written(kind: str, tmp_path: Path,
                                                                           fast_course: Path) -> None:
    folder = _make(tmp_path / "student", kind)
    out = tmp_path / "out"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
           "GITHUB_WORKSPACE": str(tmp_path)}
    done = grader_cli("run", str(folder), "--out", str(out), "--junit", str(tmp_path / "junit.xml"), "--github",
                      "--assignment", str(fast_course), cwd=tmp_path, env=env)
    assert done.returncode == (0 if not EXPECTED[kind] else 2 if kind in NOT_GRADED else 1), done.stderr[-3000:]
    assert "internal error" not in done.stderr
    for path in (out / "results.json", out / "report.html", out / "summary.md", tmp_path / "junit.xml",
                 tmp_path / "step-summary.md"):
        path.read_text(encoding="utf-8")  # written, and valid UTF-8
    assert_verdict(json.loads((out / "results.json").read_text(encoding="utf-8")), kind)


@pytest.fixture(scope="module")
def batch(tmp_path_factory, fast_course: Path, graded) -> dict[str, Any]:
    """One `grader run` of every hostile submission above between two honest classmates, on two workers."""
    root = tmp_path_factory.mktemp("hostile-input-batch")
    classroom, out = root / "class", root / "out"
    for kind in EXPECTED:
        _make(classroom / kind, kind)
    for name, source in (("ada", SOLUTION), ("zed", TWICE)):
        (classroom / name).mkdir()
        shutil.copy(source, classroom / name / "digits.py")
    done = grader_cli("run", *sorted(map(str, classroom.iterdir())), "--out", str(out), "--jobs", "2",
                      "--assignment", str(fast_course), cwd=root)
    results = {path.parent.name: json.loads(path.read_text(encoding="utf-8")) for path in out.glob("*/results.json")}
    return {"done": done, "out": out, "results": results, "alone": {"ada": graded(SOLUTION), "zed": graded(TWICE)}}


def test_in_a_batch_no_hostile_input_records_a_fault_and_every_one_gets_its_verdict(batch) -> None:
    done, results = batch["done"], batch["results"]
    assert done.returncode == 2, done.stderr[-3000:]  # the unreadable notebook has no grade; nothing else is amiss
    assert {name for name, r in results.items() if r["extra_data"]["status"] != "graded"} == NOT_GRADED
    assert set(results) == {*EXPECTED, "ada", "zed"}
    with open(batch["out"] / "gradebook.csv", encoding="utf-8") as handle:
        assert {row["name"] for row in csv.DictReader(handle)} == set(results)
    (batch["out"] / "index.html").read_text(encoding="utf-8")
    for kind in EXPECTED:
        assert_verdict(results[kind], kind)


def test_in_a_batch_the_classmates_score_as_when_graded_alone(batch) -> None:
    for name, alone in batch["alone"].items():
        graded = batch["results"][name]
        assert graded["extra_data"]["grader_faults"] == []
        assert {t["name"]: t["score"] for t in graded["tests"]} == {t["name"]: t["score"] for t in alone["tests"]}
        assert round(graded["extra_data"]["accuracy"], 4) == round(alone["extra_data"]["accuracy"], 4)

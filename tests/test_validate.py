"""grader validate: every bundled assignment's reference earns full marks, its template zero, and its threshold
sits under the reference's accuracy at the grading and self-check budgets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.assignment import course, spec
from grader.authoring import validate
from grader.cli import main

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.parent.name for p in (ROOT / "assignments").glob("*/assignment.toml"))


def test_every_assignment_folder_is_bundled() -> None:
    assert ASSIGNMENTS == course.available() and {"digits", "fashion"} <= set(ASSIGNMENTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_assignment_validates(name: str) -> None:
    found = validate.validate(ROOT / "assignments" / name)
    assert found.ok, found.text
    assert found.warnings == [], found.text
    reference, template = found.results["reference"], found.results["template"]
    assert reference["score"] == reference["extra_data"]["max_score"] > 0
    assert template["score"] == 0
    assert any("not implemented yet" in t["output"] for t in template["tests"])
    assert f"{name}: valid" in found.text and "calibration: grading budget" in found.text


def test_a_missing_template_is_a_problem_found_without_grading(tmp_path: Path, capsys) -> None:
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / "fashion", course / "assignments" / "fashion")
    shutil.copytree(ROOT / "solutions" / "fashion", course / "solutions" / "fashion")
    (course / "assignments" / "fashion" / "fashion.py").unlink()
    toml = course / "assignments" / "fashion" / "assignment.toml"
    assert main(["validate", str(toml)]) == 1
    out = capsys.readouterr().out
    assert f"PROBLEM: the template {toml.parent / 'fashion.py'} is missing." in out and "1 problem(s)" in out


def test_validate_is_documented_and_has_help(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate", "--help"])
    assert caught.value.code == 0
    assert "--seeds" in capsys.readouterr().out
    docs = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    for words in ("grader validate fashion", "[[data.sources]]", "model_output", "values", "quick_train_samples",
                  "hints"):
        assert words in docs

"""Tests for grader.platforms.gradescope: the exported autograder zip, and its run_autograder against a stand-in root."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import cli
from grader.platforms import gradescope

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "digits" / "digits.py"
SYNTAX_ERROR = Path(__file__).resolve().parent / "submissions" / "syntax_error.py"


def course_with_hidden_predict(folder: Path) -> Path:
    """A copy of the digits assignment whose predict check is hidden, laid out as assignments/ and solutions/."""
    spec_dir = folder / "assignments" / "digits"
    spec_dir.mkdir(parents=True)
    text = (ROOT / "assignments" / "digits" / "assignment.toml").read_text()
    assert text.count('name = "predict"\n') == 1
    (spec_dir / "assignment.toml").write_text(text.replace('name = "predict"\n', 'name = "predict"\nvisibility = "hidden"\n'))
    (folder / "solutions" / "digits").mkdir(parents=True)
    shutil.copy(SOLUTION, folder / "solutions" / "digits" / "digits.py")
    return spec_dir


def unpack(bundle: Path, root: Path, submission: Path | None) -> Path:
    """Lay out a stand-in for /autograder: the zip in source/, the submission in submission/."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir()
    if submission is not None:
        shutil.copy(submission, root / "submission" / "digits.py")
    return root


def run_autograder(root: Path, python: str = sys.executable) -> dict:
    """Run the zip's run_autograder as Gradescope would, under `root`; return results.json."""
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), GRADER_PYTHON=python, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr  # Gradescope reads results.json, not the exit status
    return json.loads((root / "results" / "results.json").read_text())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    spec_dir = course_with_hidden_predict(folder / "course")
    out = folder / "autograder.zip"
    assert cli.main(["export", "gradescope", "--assignment", str(spec_dir), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def solution_results(bundle, tmp_path_factory) -> dict:
    return run_autograder(unpack(bundle, tmp_path_factory.mktemp("root"), SOLUTION))


@pytest.fixture(scope="module")
def faulty_results(bundle, tmp_path_factory) -> dict:
    return run_autograder(unpack(bundle, tmp_path_factory.mktemp("root"), SYNTAX_ERROR))


# --- The zip -------------------------------------------------------------------------------------

def test_zip_holds_the_scripts_the_grader_and_the_assignment(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert {"setup.sh", "run_autograder", "course/assignments/digits/assignment.toml",
            "course/solutions/digits/digits.py"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    wheels = [n for n in names if n.startswith("wheels/") and n.endswith("-py3-none-any.whl")]
    assert len(wheels) == 1


def test_setup_installs_from_the_zip_not_from_a_repository(bundle):
    with zipfile.ZipFile(bundle) as archive:
        setup = archive.read("setup.sh").decode()
    assert "source/wheels/*.whl" in setup
    assert "git+" not in setup and "http" not in setup
    assert subprocess.run(["bash", "-n"], input=setup, text=True).returncode == 0


def test_setup_installs_the_pinned_grading_versions_not_the_newest(bundle):
    with zipfile.ZipFile(bundle) as archive:
        setup = archive.read("setup.sh").decode()
        (wheel_name,) = [n for n in archive.namelist() if n.startswith("wheels/")]
        with zipfile.ZipFile(io.BytesIO(archive.read(wheel_name))) as wheel:
            (metadata,) = [wheel.read(n).decode() for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    assert '"$WHEEL[grading]"' in setup
    requires = [line.removeprefix("Requires-Dist: ") for line in metadata.splitlines()
                if line.startswith("Requires-Dist: ")]
    assert any(re.fullmatch(r"tensorflow[<>=,.\d]*>=[.\d]+[<>=,.\d]*", r) for r in requires)  # students: a range
    assert any(r.startswith("tensorflow==") and 'extra == "grading"' in r for r in requires)  # Gradescope: exact


def test_export_refuses_a_grader_installed_without_the_grading_extra(monkeypatch, tmp_path):
    real = importlib.metadata.distribution

    class Older:  # the metadata of a grader installed before [grading] existed
        def __init__(self, dist):
            self.dist = dist
            self.metadata, self.version = dist.metadata, dist.version

        def read_text(self, name):
            text = self.dist.read_text(name)
            return text and "\n".join(line for line in text.splitlines() if "grading" not in line)

    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: Older(real(name)))
    with pytest.raises(gradescope.ExportError, match=r"no \[grading\] extra"):
        gradescope.export(assignment="digits", out=tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()


@pytest.mark.slow
def test_wheel_installs_offline_with_the_kits_and_the_course_comes_beside_it(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as archive:
        (wheel_name,) = [n for n in archive.namelist() if n.startswith("wheels/")]
        archive.extract(wheel_name, tmp_path)
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                           "--target", str(target), str(tmp_path / wheel_name)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for path in ("grader/platforms/gradescope.py", "grader/checks/array.py", "grader/kits/digits/kit.json",
                 "grader/templates/report.html.j2"):
        assert (target / path).is_file(), path
    assert not (target / "grader" / "solutions").exists() and not (target / "grader" / "assignments").exists()
    with zipfile.ZipFile(bundle) as archive:  # the reference travels in the zip, which stays on Gradescope's side
        assert "course/solutions/digits/digits.py" in archive.namelist()


def test_export_bundles_the_data_and_grades_with_it(tmp_path):
    data = tmp_path / "mnist.npz"
    data.write_bytes(b"PK stand-in")
    out = gradescope.export(assignment="digits", out=tmp_path / "a.zip", data=str(data))
    with zipfile.ZipFile(out) as archive:
        assert archive.read("data/mnist.npz") == b"PK stand-in"
        script = archive.read("run_autograder").decode()
    assert '--data "$ROOT/source/"data/mnist.npz' in script
    assert '--assignment "$ROOT/source/"course/assignments/digits' in script


@pytest.mark.parametrize("name", ["digits", "fashion"])
def test_each_example_assignment_exports_with_its_course_files(name, tmp_path):
    out = gradescope.export(assignment=name, out=tmp_path / "a.zip")
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert f"course/assignments/{name}/assignment.toml" in names and f"course/solutions/{name}/{name}.py" in names
    assert not any("/kits/" in n or n.startswith("kits/") for n in names if not n.startswith("wheels/"))


def test_export_refuses_missing_data_with_a_usage_error(capsys, tmp_path):
    status = cli.main(["export", "gradescope", "--data", str(tmp_path / "nowhere.npz"), "--out", str(tmp_path / "a.zip")])
    assert status == 2
    assert "nowhere.npz does not exist" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


# --- run_autograder ------------------------------------------------------------------------------

@pytest.mark.slow
def test_solution_gets_full_marks(solution_results):
    assert solution_results["score"] == 10
    assert [t["status"] for t in solution_results["tests"]] == ["passed"] * 6
    assert sum(t["score"] for t in solution_results["tests"]) == 10


@pytest.mark.slow
def test_visibility_uses_gradescope_values_and_holds_back_hidden_checks(solution_results):
    visibility = {t["name"]: t["visibility"] for t in solution_results["tests"]}
    assert visibility.pop("predict") == "after_published"
    assert set(visibility.values()) == {"visible"}
    assert solution_results["visibility"] in gradescope.GRADESCOPE_VISIBILITIES
    assert solution_results["stdout_visibility"] in gradescope.GRADESCOPE_VISIBILITIES


@pytest.mark.slow
def test_faulty_submission_scores_zero_with_feedback(faulty_results):
    assert faulty_results["score"] == 0
    tests = {t["name"]: t for t in faulty_results["tests"]}
    assert len(tests) == 6 and all(t["status"] == "failed" for t in tests.values())
    assert "syntax error on line 8" in tests["normalise"]["output"]
    assert tests["predict"]["visibility"] == "after_published"


def test_a_grader_that_cannot_start_still_leaves_results(bundle, tmp_path):
    results = run_autograder(unpack(bundle, tmp_path / "root", SOLUTION), python="/bin/false")
    assert results["score"] == 0 and results["tests"] == []
    assert "failed with exit status 1" in results["output"]
    assert "not a verdict on your code" in results["output"]


def test_a_crash_while_grading_becomes_a_zero_score_result(tmp_path, monkeypatch):
    monkeypatch.setenv(gradescope.ROOT_VARIABLE, str(tmp_path))
    assert gradescope.main(["--assignment", str(tmp_path / "no-such-assignment")]) == 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["tests"] == []
    assert "autograder crashed" in results["output"]
    assert "SpecError" in results["extra_data"]["grader_crash"]


def test_printed_output_is_withheld_while_checks_are_held_back():
    test = {"name": "a", "score": 1, "max_score": 1, "status": "passed", "output": "", "visibility": "hidden",
            "extra_data": {"printed": {"text": "secret print\n", "chars": 13}, "fault": None}}
    held = gradescope.for_gradescope({"score": 1, "output": "secret print", "tests": [test], "extra_data": {}})
    shown = gradescope.for_gradescope({"score": 1, "output": "my print", "tests": [dict(test, visibility="visible")],
                                       "extra_data": {}})
    assert "secret print" not in json.dumps(held) and held["tests"][0]["visibility"] == "after_published"
    assert "my print" in shown["output"] and shown["tests"][0]["extra_data"]["printed"]["chars"] == 13


# --- The leaderboard -----------------------------------------------------------------------------

def test_the_leaderboard_is_the_test_accuracy_only_when_the_spec_asks():
    results = {"score": 9, "output": "", "tests": [], "extra_data": {"accuracy": 0.912345}}
    assert "leaderboard" not in gradescope.for_gradescope(results)
    board = gradescope.for_gradescope(results, leaderboard=True)["leaderboard"]
    assert board == [{"name": "Accuracy", "value": 0.9123, "order": "desc"}]
    untrained = gradescope.for_gradescope({**results, "extra_data": {"accuracy": None}}, leaderboard=True)
    assert untrained["leaderboard"][0]["value"] == 0.0  # no model trained: last on the board, never missing


def test_the_spec_turns_the_leaderboard_on_and_refuses_what_is_not_a_switch(tmp_path, fast_course):
    from grader.assignment import course, spec

    assert course.load(fast_course).gradescope.leaderboard is False
    folder = tmp_path / "course"
    shutil.copytree(fast_course.parent.parent.parent, folder)
    toml = folder / "assignments" / "digits" / "assignment.toml"
    text = toml.read_text()
    toml.write_text(text + "\n[gradescope]\nleaderboard = true\n")
    assert course.load(toml).gradescope.leaderboard is True
    for bad, words in (("leaderboard = 1", "must be true or false"), ("board = true", "unknown key(s) board")):
        toml.write_text(text + f"\n[gradescope]\n{bad}\n")
        with pytest.raises(spec.SpecError, match=words.replace("(", r"\(").replace(")", r"\)")):
            course.load(toml)


@pytest.mark.slow
def test_autograde_writes_the_leaderboard_into_results_json(tmp_path, fast_course):
    folder = tmp_path / "course"
    shutil.copytree(fast_course.parent.parent.parent, folder)
    toml = folder / "assignments" / "digits" / "assignment.toml"
    toml.write_text(toml.read_text() + "\n[gradescope]\nleaderboard = true\n")
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    shutil.copy(SOLUTION, root / "submission" / "digits.py")
    results = gradescope.autograde(root=root, assignment=str(toml))
    written = json.loads((root / "results" / "results.json").read_text())
    (entry,) = written["leaderboard"]
    assert entry["name"] == "Accuracy" and entry["order"] == "desc"
    assert entry["value"] == round(results["extra_data"]["accuracy"], 4) > 0.5


# --- Documentation -------------------------------------------------------------------------------

def test_docs_and_help_cover_the_export():
    doc = (ROOT / "docs" / "gradescope.md").read_text()
    for term in ("grader export gradescope", "setup.sh", "run_autograder", "after_published", "AUTOGRADER_ROOT",
                 "[gradescope]", "leaderboard = true"):
        assert term in doc, term
    export_help = cli.build_parser()._subparsers._group_actions[0].choices["export"].format_help()
    assert "gradescope" in export_help and "--out" in export_help

"""Tests for grader.github and the workflow template: the step summary, annotations and Classroom notice
that `grader run` writes inside GitHub Actions, and the workflow students' repositories run."""

from __future__ import annotations

import importlib.resources
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader import cli, github, spec

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "digits" / "digits.py"
FAULTY = Path(__file__).resolve().parent / "submissions" / "normalise_no_divide.py"
WORKFLOW = ROOT / "templates" / "github" / "autograde.yml"
CHECKS = ("reshape", "normalise", "build_model", "compile_model", "accuracy", "predict")


def line_of(source: Path, text: str) -> int:
    """1-based number of the first line of `source` that starts with `text`."""
    return next(i for i, line in enumerate(source.read_text().splitlines(), 1) if line.startswith(text))


def grade_in_actions(workspace: Path, submission: Path, *extra: str) -> dict:
    """Run `grader run` as a GitHub Actions job step would; return its exit status, stdout and step summary."""
    target = workspace / "student" / "digits.py"
    target.parent.mkdir(parents=True)
    shutil.copy(submission, target)
    summary = workspace / "step-summary.md"
    summary.write_text("Output of an earlier step.\n")
    env = dict(os.environ, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), GITHUB_WORKSPACE=str(workspace),
               TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "grader", "run", "student/digits.py", "--out", "grading-out", *extra],
                          cwd=workspace, env=env, capture_output=True, text=True, timeout=600)
    return {"status": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "summary": summary.read_text(),
            "file": target}


@pytest.fixture(scope="module")
def solution_run(tmp_path_factory) -> dict:
    return grade_in_actions(tmp_path_factory.mktemp("solution"), SOLUTION)


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory) -> dict:
    return grade_in_actions(tmp_path_factory.mktemp("faulty"), FAULTY)


# --- End to end: `grader run` inside GitHub Actions ----------------------------------------------

@pytest.mark.slow
def test_solution_passes_with_a_full_summary(solution_run):
    assert solution_run["status"] == 0, solution_run["stderr"]
    summary = solution_run["summary"]
    assert summary.startswith("Output of an earlier step.\n")  # appended, not overwritten
    assert "**Score: 10/10**" in summary
    assert "test accuracy 0." in summary
    assert "| Check | Result | Points | Feedback |" in summary
    for name, points in zip(CHECKS, ("1/1", "1/1", "2/2", "1/1", "3/3", "2/2")):
        assert f"| {github.markdown_text(name)} | ✅ passed | {points} |" in summary


@pytest.mark.slow
def test_solution_reports_full_points_to_classroom_and_no_errors(solution_run):
    lines = solution_run["stdout"].splitlines()
    assert "::notice title=Autograding complete::Points 10/10" in lines
    assert not [line for line in lines if line.startswith("::error")]


@pytest.mark.slow
def test_faulty_submission_fails_the_job(faulty_run):
    assert faulty_run["status"] == 1, faulty_run["stderr"]
    assert "::notice title=Autograding complete::Points 9/10" in faulty_run["stdout"].splitlines()


@pytest.mark.slow
def test_faulty_function_is_annotated_on_its_def_line(faulty_run):
    errors = [line for line in faulty_run["stdout"].splitlines() if line.startswith("::error")]
    line = line_of(faulty_run["file"], "def normalise")
    assert len(errors) == 1, errors
    properties, message = errors[0][len("::error "):].split("::", 1)
    assert properties == f"file=student/digits.py,line={line},title=normalise%3A 0/1 points"
    assert message.startswith("normalise() returned values from 0 to 255")
    assert "%0AHint: Divide the pixels by 255" in message


@pytest.mark.slow
def test_faulty_summary_shows_the_lost_point_and_the_feedback(faulty_run):
    summary = faulty_run["summary"]
    assert "**Score: 9/10**" in summary
    assert github.markdown_text("Not passed: 9/10 points; every check must pass.") in summary
    row = next(line for line in summary.splitlines() if line.startswith("| normalise |"))
    assert "| ❌ failed | 0/1 |" in row
    assert "Divide the pixels by 255" in row
    assert "<br>Hint\\:" in row  # the hint is on its own line within the cell


# --- The pieces, on plain data -------------------------------------------------------------------

def test_enabled_by_flag_or_by_github_actions():
    assert github.enabled(True, {})
    assert github.enabled(False, {"GITHUB_ACTIONS": "true"})
    assert not github.enabled(False, {"GITHUB_ACTIONS": "false"})
    assert not github.enabled(False, {})


def test_workflow_command_escaping():
    assert github.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = github.command("error", "x\ny", file="dir,1/a:b.py", line=3)
    assert line == "::error file=dir%2C1/a%3Ab.py,line=3::x%0Ay"


@pytest.mark.parametrize("text, forbidden", [
    ("<script>alert(1)</script>", "<script>"),
    ("<img src=x onerror=alert(1)>", "<img"),
    ("a | b", " | "),
    ("[click](https://evil.example)", "](https"),
    ("**bold** and _it_", "**bold**"),
    ("`code`", "`code`"),
    ("line one\nline two", "\n"),
    ("ping @teacher", " @teacher"),
])
def test_submitted_text_cannot_break_the_table_or_inject_markup(text, forbidden):
    cell = github.markdown_cell(text)
    assert forbidden not in cell
    assert "\n" not in cell and "\r" not in cell


def test_cells_keep_their_words_and_are_capped():
    assert github.markdown_cell("first\nsecond") == "first<br>second"
    capped = github.markdown_cell("x" * 5000)
    assert capped.endswith("\\.\\.\\.") and capped.count("x") == github.CELL_LIMIT - 3


def test_definition_lines_parse_without_running():
    source = "import os\nos.system('echo ran')\n\ndef f():\n    pass\n\nclass C:\n    def g(self): pass\n"
    assert github.definition_lines(source) == ({"f": 4}, None)
    assert github.definition_lines("x = 1\ndef f(:\n") == ({}, 2)


def test_syntax_error_and_grader_fault_annotations(tmp_path):
    task = spec.load("digits")
    (tmp_path / "digits.py").write_text("import numpy as np\n\ndef reshape(images)\n    return images\n")
    failed = {"score": 0, "max_score": 1, "status": "failed", "output": "", "extra_data": {}}
    results = {"score": 0, "extra_data": {"max_score": 2}, "tests": [
        dict(failed, name="reshape", extra_data={"feedback": "digits.py has a syntax error on line 3", "fault": "syntax"}),
        dict(failed, name="accuracy", extra_data={"feedback": "The grader itself failed", "fault": "grader"}),
    ]}
    lines = github.annotations(results, task=task, submission=tmp_path, workspace=tmp_path)
    assert lines[0] == "::error file=digits.py,line=3,title=reshape%3A 0/1 points::digits.py has a syntax error on line 3"
    assert lines[1] == "::error title=Grader fault in accuracy::The grader itself failed"


def test_checks_without_a_function_are_annotated_on_the_file(tmp_path):
    task = spec.load("digits")
    (tmp_path / "digits.py").write_text("def build_model():\n    pass\n")
    results = {"score": 0, "extra_data": {"max_score": 3}, "tests": [
        {"name": "accuracy", "score": 0, "max_score": 3, "status": "failed", "output": "",
         "extra_data": {"feedback": "Test accuracy 0.1"}}]}
    lines = github.annotations(results, task=task, submission=tmp_path / "digits.py", workspace=tmp_path)
    assert lines == ["::error file=digits.py,title=accuracy%3A 0/3 points::Test accuracy 0.1"]


# --- The workflow template -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow: dict) -> list[dict]:
    (job,) = workflow["jobs"].values()
    return job["steps"]


def test_workflow_triggers_on_push_and_pull_request(workflow):
    triggers = workflow["on"]
    assert "push" in triggers and "pull_request" in triggers


def test_workflow_caches_pip_and_installs_the_grader_from_the_course(workflow):
    (python,) = [s for s in steps(workflow) if s.get("uses", "").startswith("actions/setup-python@")]
    assert python["with"]["cache"] == "pip"
    assert python["with"]["python-version"] == "3.11"
    (install,) = [s for s in steps(workflow) if "pip install" in s.get("run", "")]
    assert 'git+https://github.com/COURSE/grader@' in install["run"]
    assert "INSTRUCTOR: EDIT THIS LINE" in WORKFLOW.read_text()


def test_workflow_grades_and_fails_the_job_on_a_failed_submission(workflow):
    (grade,) = [s for s in steps(workflow) if "grader run" in s.get("run", "")]
    assert "continue-on-error" not in grade and "|| true" not in grade["run"]
    assert "--out grading-out" in grade["run"]


def test_workflow_uploads_the_report_even_when_grading_fails(workflow):
    (upload,) = [s for s in steps(workflow) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    assert paths == ["grading-out/report.html", "grading-out/results.json"]


def test_workflow_ships_with_the_package():
    shipped = importlib.resources.files("grader.templates") / "github" / "autograde.yml"
    assert shipped.read_text() == WORKFLOW.read_text()


# --- Documentation -------------------------------------------------------------------------------

def test_docs_and_help_cover_the_github_options():
    doc = (ROOT / "docs" / "github.md").read_text()
    for term in ("templates/github/autograde.yml", "--github", "GITHUB_STEP_SUMMARY", "--pass-mark", "Points"):
        assert term in doc, term
    run_help = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--github" in run_help and "GITHUB_ACTIONS=true" in run_help

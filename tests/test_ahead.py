"""The expected training started ahead (grader.trusted.ahead): taken when it is the submission's, and a grade equal to
one trained in its own turn either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SOLUTION, SUBMISSIONS

# Grades one submission in a fresh interpreter (a fork is only safe before TensorFlow has run an operation, so this
# cannot run in the test's own process) and prints its results, the sides of its timed stages and its children left.
GRADE = """
import json, sys
from pathlib import Path
from grader import timings
from grader.trusted import threads
from grader.assignment import course, spec
from grader.grading.grade import grade

timings.begin()
threads.configure()
task = course.load(Path(sys.argv[1]))
result = grade(Path(sys.argv[2]), task, ahead=sys.argv[3] == "ahead").to_dict()
children = [c for task in Path("/proc/self/task").iterdir() for c in (task / "children").read_text().split()]
stages = [[s.stage, s.side] for s in timings.current().stages]
print(json.dumps({"result": result, "stages": stages, "children": children}))
"""


def _grade(course: Path, submission: Path, mode: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", GRADE, str(course), str(submission), mode], capture_output=True,
                          text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


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

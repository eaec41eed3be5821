"""The expected training started ahead (grader.trusted.ahead): taken when it is the submission's, and a grade equal to
one trained in its own turn either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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

    from grader.checks import models

    timings.begin()
    built, real = [], models.reinitialised
    models.reinitialised = lambda ctx, layers: built.append(layers) or real(ctx, layers)  # counted in this process
    try:
        result = grade(submission, setup).to_dict()
    finally:
        models.reinitialised = real
    children = [c for task in Path("/proc/self/task").iterdir() for c in (task / "children").read_text().split()]
    stages = [[s.stage, s.side] for s in timings.current().stages]
    return {"result": result, "stages": stages, "children": children, "built": len(built)}


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
    # The re-initialised model of the expected layers comes from the training ahead; of other layers, it is built here
    assert ahead["built"] == (0 if taken else 1) and alone["built"] == 1
    initialising = "training ahead: the expected layers re-initialised, for the checks that ask early"
    assert [initialising, "ahead"] in ahead["stages"] if taken else True


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def _ahead_sending(frames: list[bytes]):
    """An Ahead reading `frames` from a pipe, its process a stand-in that the Ahead stops."""
    from grader.trusted.ahead import Ahead

    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"".join(frames))
    os.close(write_fd)
    stand_in = subprocess.Popen(["sleep", "60"])
    return Ahead(stand_in.pid, read_fd, time.monotonic() + 30)


def _initialised_frames(npz: bytes | None = None) -> list[bytes]:
    import io

    import numpy as np

    if npz is None:
        buffer = io.BytesIO()
        np.savez(buffer, w0=np.ones((2, 3), np.float32), outputs_predict=np.zeros((5, 10), np.float32))
        npz = buffer.getvalue()
    return [_frame(json.dumps({"initialised": {"layers": "abc", "config": {}, "weights": 1}}).encode()), _frame(npz)]


TRAINED = [_frame(json.dumps({"key": "k"}).encode()),
           _frame(json.dumps({"record": "{}", "stopped_early": False, "timings": []}).encode()), _frame(b"raw")]


def test_the_initialised_model_sent_first_is_read_and_the_training_still_taken() -> None:
    ahead = _ahead_sending(_initialised_frames() + TRAINED)
    header, arrays = ahead.initialised()
    assert header["layers"] == "abc" and arrays["w0"].shape == (2, 3) and arrays["outputs_predict"].shape == (5, 10)
    assert ahead.take("k") == (b"{}", b"raw", False)


@pytest.mark.parametrize("frames", [
    TRAINED,                                              # sent none: the key's frame comes first
    _initialised_frames(b"not an npz") + TRAINED,         # sent broken
    [_frame(json.dumps({"initialised": None}).encode()), _frame(b"")] + TRAINED,  # failed to make it
])
def test_no_initialised_model_leaves_the_training_to_take(frames: list[bytes]) -> None:
    ahead = _ahead_sending(frames)
    assert ahead.initialised() is None
    assert ahead.take("k") == (b"{}", b"raw", False)


def test_an_initialised_model_not_asked_for_is_skipped_by_take() -> None:
    assert _ahead_sending(_initialised_frames() + TRAINED).take("k") == (b"{}", b"raw", False)


def test_an_initialised_model_not_sent_in_time_is_left_and_skipped_later() -> None:
    from grader.trusted.ahead import Ahead

    read_fd, write_fd = os.pipe()
    stand_in = subprocess.Popen(["sleep", "60"])
    ahead = Ahead(stand_in.pid, read_fd, time.monotonic() + 30)
    started = time.monotonic()
    assert ahead.initialised(timeout=0.2) is None
    assert 0.2 <= time.monotonic() - started < 5
    os.write(write_fd, b"".join(_initialised_frames() + TRAINED))
    os.close(write_fd)
    assert ahead.take("k") == (b"{}", b"raw", False)


def test_nothing_is_forked_once_tensorflow_has_run_an_operation() -> None:
    done = subprocess.run([sys.executable, "-c", (
        "import tensorflow as tf\n"
        "from grader.trusted import ahead\n"
        "before = ahead.fork_is_safe()\n"
        "tf.constant(1.0) + 1\n"
        "print(before, ahead.fork_is_safe(), ahead.start(None, None, None, None))")],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.split() == ["True", "False", "None"], done.stderr[-2000:]

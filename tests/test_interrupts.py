"""Interrupting `grader run`: SIGINT (once or twice), SIGTERM and SIGHUP stop every process it started, within
two seconds, leave no temporary folder and no half-written file, write nothing after it has exited, and a rerun
resumes where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS, small_course

CLASS = {  # a batch: two that train, and one whose reshape() never returns
    "ada": ROOT / "solutions" / "digits" / "digits.py",
    "cy": SUBMISSIONS / "normalise_twice.py",
    "loop": SUBMISSIONS / "reshape_infinite_loop.py",
}
STOPPED_WITHIN = 2.5  # seconds from the signal to the exit: two, and a margin for a loaded machine


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return small_course(tmp_path_factory.mktemp("course"), "digits")


def _class(tmp_path: Path) -> list[Path]:
    folders = []
    for name, source in CLASS.items():
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / "digits.py").write_text(source.read_text())
        folders.append(tmp_path / "class" / name)
    return folders


def _start(submissions: list[Path], course: Path, tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    """`grader run` in a session of its own, its temporary folder one of the test's (a mark on all it starts)."""
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "grader", "run", *map(str, submissions), "--assignment", str(course),
               "--out", str(out), "--jobs", "2"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env={**os.environ, "TMPDIR": str(scratch),
                                                            "TF_CPP_MIN_LOG_LEVEL": "3"})
    return process, scratch, out


def _wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the stage to interrupt never came"
        time.sleep(0.1)


def _when(stage: str, scratch: Path, out: Path) -> None:
    """Wait until the run reaches `stage`."""
    if stage == "start-up":  # its zygotes import TensorFlow
        time.sleep(2.5)
    elif stage == "sandboxes":  # each worker's sandbox runs a submission: the loop spins, the others train
        _wait_for(lambda: len(list(scratch.glob("grader-sandbox-*"))) >= 2)
        time.sleep(2)
    elif stage == "graded":  # a first submission is graded and written
        _wait_for(lambda: any(out.glob("*/report.html")))


def _ours(process: subprocess.Popen, scratch: Path) -> list[str]:
    """The living processes of the run: in its session, or with its temporary folder in their environment (a
    sandbox is in a session of its own, with a scrubbed environment that holds its own folder in that one)."""
    mark = str(scratch).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ")[:120].decode(errors="replace")
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and (int(fields[3]) == process.pid or mark in environ):
            found.append(f"{entry} {command}")
    return found


def _groups(process: subprocess.Popen) -> list[Path]:
    """The control groups of the run (named for the run's tag, r<its pid>x..., see grader.scratch) still there."""
    from grader.sandbox import cgroups

    v2 = cgroups._v2_parent()
    parents = {v2} if v2 is not None else {cgroups._v1_folder(c) for c in ("memory", "pids", "cpu")} - {None}
    return [group for parent in parents for group in parent.glob(f"grader-*-r{process.pid}x*")]


def _files(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(out)): (p.stat().st_size, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}


def _interrupt(process: subprocess.Popen, signum: int, *, twice: bool = False) -> float:
    """Send the signal (twice: again 0.2 s later, as a second Ctrl-C); return how long the run took to exit."""
    sent = time.monotonic()
    os.kill(process.pid, signum)
    if twice:
        time.sleep(0.2)
        os.kill(process.pid, signum)
    process.wait(timeout=30)
    return time.monotonic() - sent


def _assert_nothing_left(process: subprocess.Popen, seconds: float, signum: int, scratch: Path, out: Path) -> None:
    stderr = process.stderr.read()
    assert process.returncode == 128 + signum, stderr[-2000:]
    assert seconds < STOPPED_WITHIN, f"took {seconds:.1f} s to stop"
    assert not _ours(process, scratch), "processes of the run outlived it"
    assert not list(scratch.iterdir()), "temporary folders of the run were left"
    assert not _groups(process), "control groups of the run were left"
    before = _files(out) if out.exists() else {}
    assert not [name for name in before if name.endswith(".tmp")], before
    for name in before:
        if name.endswith("results.json"):
            json.loads((out / name).read_text())  # whole: written to a temporary file and renamed
    time.sleep(1.5)
    assert (_files(out) if out.exists() else {}) == before, "something wrote into the output folder after the exit"


@pytest.mark.slow
@pytest.mark.parametrize("signame, stage, twice", [
    ("SIGTERM", "start-up", False),
    ("SIGINT", "sandboxes", False),
    ("SIGINT", "sandboxes", True),
    ("SIGHUP", "graded", False),
])
def test_an_interrupted_batch_leaves_nothing_running_and_a_rerun_resumes(tmp_path: Path, course: Path, signame: str,
                                                                          stage: str, twice: bool) -> None:
    signum = getattr(signal, signame)
    folders = _class(tmp_path)
    process, scratch, out = _start(folders, course, tmp_path)
    try:
        _when(stage, scratch, out)
        seconds = _interrupt(process, signum, twice=twice)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    _assert_nothing_left(process, seconds, signum, scratch, out)
    if stage != "graded":
        return
    graded = {p.parent.name for p in out.glob("*/report.html")}
    assert 1 <= len(graded) < len(CLASS)
    rerun = subprocess.run([sys.executable, "-m", "grader", "run", *map(str, folders), "--assignment", str(course),
                            "--out", str(out), "--jobs", "2"], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "TMPDIR": str(scratch), "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=600)
    assert rerun.returncode == 1, rerun.stderr[-2000:]  # loop loses its reshape point
    assert f"{len(graded)} of {len(CLASS)} already graded" in rerun.stderr
    assert {p.parent.name for p in out.glob("*/report.html")} == set(CLASS)
    assert not list(scratch.iterdir())


@pytest.mark.slow
def test_an_interrupted_single_grade_stops_its_spinning_sandbox(tmp_path: Path, course: Path) -> None:
    folder = _class(tmp_path)[-1]  # loop
    process, scratch, out = _start([folder], course, tmp_path)
    try:
        _wait_for(lambda: any(scratch.glob("grader-sandbox-*")))
        time.sleep(4)  # its reshape() spins
        seconds = _interrupt(process, signal.SIGINT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    _assert_nothing_left(process, seconds, signal.SIGINT, scratch, out)
    assert not (out / "results.json").exists()

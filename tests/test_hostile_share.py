"""A sandbox's share of the machine: CPU, processes, its control group, when it attacks its classmates' share.

The quick tests fork sandboxes from a numpy-only zygote; the last grades a batch through `grader run` in which one
student starts as many busy processes as it may, each in a session of its own, beside two honest classmates.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SOLUTION, SUBMISSIONS, grade_with
from grader.assignment.spec import Limits
from grader.sandbox import isolation
from grader.sandbox.host import Sandbox

LIMITS = Limits(startup_seconds=30, import_seconds=10, call_seconds=10, cpu_seconds=30, memory_mb=1024)

MODULE = '''
import os, time
import numpy as np

def sessions(x):
    """Start x[0] processes, each in a session of its own, busy for x[1] seconds; their CPU time in all."""
    count, seconds = int(x[0]), float(x[1])
    reads = []
    for _ in range(count):
        r, w = os.pipe()
        if os.fork() == 0:
            os.setsid()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass
            os.write(w, repr(time.process_time()).encode())
            os._exit(0)
        os.close(w)
        reads.append(r)
    total = 0.0
    for r in reads:
        total += float(os.read(r, 64) or 0)
    return np.array([total])

def fill(x):
    """Write files of x[0] MB (under the per-file limit) into the folder x[1] (0: home, 1: tmp) until writing fails,
    at most x[2] of them; the megabytes written."""
    size, where, most = int(x[0]), int(x[1]), int(x[2])
    folder = os.getcwd() if where == 0 else os.environ["TMPDIR"]
    chunk = b"x" * (1 << 20)
    written = 0
    try:
        for i in range(most):
            with open(os.path.join(folder, f"fill-{i}"), "wb") as handle:
                for _ in range(size):
                    handle.write(chunk)
                    written += 1
    except OSError:
        pass
    return np.array([written])

def listing(x):
    """What the sandbox sees of the machine's control groups: entries under /sys/fs/cgroup, at any depth."""
    seen = 0
    for _, folders, files in os.walk("/sys/fs/cgroup"):
        seen += len(folders) + len(files)
    return np.array([seen])
'''


def require(*layers: str) -> None:
    lacking = isolation.missing(isolation.probe())
    wanted = {name: lacking[name] for name in layers if name in lacking}
    if wanted:
        pytest.skip("this machine lacks the isolation layer(s) " + "; ".join(f"{n}: {why}" for n, why in wanted.items()))


@pytest.fixture(scope="module")
def zygote():
    from grader.sandbox.zygote import Zygote

    started = Zygote(("numpy",))
    yield started
    started.close()


def _open(tmp_path: Path, zygote, **options) -> Sandbox:
    source = tmp_path / "mod.py"
    source.write_text(MODULE)
    sandbox = Sandbox(LIMITS, zygote, **options).start()
    sandbox.wait_ready()
    target = sandbox.copy_in({source.name: source}, source.name)
    sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
    return sandbox


def _call(sandbox: Sandbox, name: str, *args: float) -> float:
    reply = sandbox.request({"op": "call", "function": name, "args": ["x"]}, {"x": np.array(args or [0.0])},
                            timeout=20, stage=name)
    assert reply.header["ok"], reply.header
    return float(reply.arrays["result"][0])


def test_many_sessions_together_get_no_more_cpu_than_the_quota(tmp_path: Path, zygote) -> None:
    require("cgroup")
    with _open(tmp_path, zygote, cpus=0.25) as sandbox:
        spent = _call(sandbox, "sessions", 16, 1.5)
    # 16 busy processes for 1.5 s take every core of the machine (2.4 s of CPU on 2 idle cores); a quarter core
    # gives them 0.375 s in all, and the kernel's per-core slices of the quota a little more.
    assert 0.05 < spent < 0.25 * 1.5 * 2.5, spent


def test_home_and_tmp_hold_no_more_than_the_disk_limit(tmp_path: Path, zygote) -> None:
    require("namespaces")
    with _open(tmp_path, zygote) as sandbox:
        assert sandbox.isolation["disk"] == f"home and tmp: a tmpfs of {LIMITS.disk_mb} MB each"
        free = shutil.disk_usage(tmp_path).free
        # 40 files of 15 MB, each under the per-file limit: 600 MB, more than the 256 MB each folder may hold
        home, tmp = _call(sandbox, "fill", 15, 0, 40), _call(sandbox, "fill", 15, 1, 40)
        assert 200 <= home <= LIMITS.disk_mb and 200 <= tmp <= LIMITS.disk_mb, (home, tmp)
        assert shutil.disk_usage(tmp_path).free > free - (64 << 20)  # none of it on the grader's disk
        workdir = sandbox.workdir
    assert not workdir.exists()  # unmounted and removed when it closes


def test_the_control_groups_of_the_machine_cannot_be_listed(tmp_path: Path, zygote) -> None:
    require("namespaces")
    with _open(tmp_path, zygote) as sandbox:
        assert _call(sandbox, "listing") == 0


def test_a_sandboxs_control_group_is_removed_when_it_closes(tmp_path: Path, zygote) -> None:
    require("cgroup")
    sandbox = _open(tmp_path, zygote)
    folders = sandbox.group.folders
    assert all(folder.is_dir() for folder in folders)
    _call(sandbox, "sessions", 4, 0.2)
    sandbox.close()
    assert not any(folder.exists() for folder in folders)
    parents = {folder.parent for folder in folders}
    mine = [p.name for parent in parents for p in parent.iterdir() if p.name.startswith(f"grader-{os.getpid()}-")]
    assert mine == [], mine


# --- a CPU hog of many sessions beside honest classmates, through `grader run` ----------------------------

HOG = """

# --- the attack: as many busy processes as the sandbox allows, each in a session of its own -------------
import os as _os
import time as _time

_END = _time.monotonic() + 12  # the attack bounds itself: the test waits for nothing longer
_started = 0
for _ in range(240):
    try:
        _pid = _os.fork()
    except OSError:
        break  # the sandbox's bound on processes
    if _pid == 0:
        _os.setsid()
        while _time.monotonic() < _END:
            pass
        _os._exit(0)
    _started += 1
print(f"HOG started {_started}", flush=True)
_time.sleep(max(0.0, _END - _time.monotonic()))  # the import, and so the request, lasts as long as the attack
"""


@pytest.mark.slow
def test_a_hog_of_many_sessions_leaves_its_classmates_grades_and_times_as_alone(tmp_path: Path, fast_course,
                                                                                graded) -> None:
    require("cgroup", "namespaces")
    from test_hostile import assert_as_alone, grader_cli

    alone = {"kim": graded(SOLUTION), "lee": graded(SUBMISSIONS / "normalise_twice.py")}
    classroom, out = tmp_path / "class", tmp_path / "out"
    for name in ("hog", "kim", "lee"):
        (classroom / name).mkdir(parents=True)
    (classroom / "hog" / "digits.py").write_text(SOLUTION.read_text() + HOG)
    shutil.copy(SOLUTION, classroom / "kim" / "digits.py")
    shutil.copy(SUBMISSIONS / "normalise_twice.py", classroom / "lee" / "digits.py")
    started = time.monotonic()
    done = grader_cli("run", *(str(classroom / n) for n in ("hog", "kim", "lee")), "--out", str(out), "--jobs", "2",
                      "--assignment", str(fast_course), cwd=tmp_path)
    seconds = time.monotonic() - started
    results = {name: json.loads((out / name / "results.json").read_text()) for name in ("hog", "kim", "lee")}
    assert int(results["hog"]["output"].split("HOG started ")[1].split()[0]) > 50, results["hog"]["output"][-2000:]
    for name in ("kim", "lee"):
        assert_as_alone(results[name], alone[name])
        assert results[name]["extra_data"].get("grader_faults") == [], results[name]["extra_data"]
        # Loose: a busy machine shared with other work may double a grade's time; the hog made it 80 times longer.
        assert results[name]["execution_time"] < 3 * alone[name]["execution_time"] + 15, (name, seconds)
    assert done.returncode == 1, done.stderr[-3000:]  # lee loses a point; no fault of the grader's


# --- a training stopped by the wall-clock budget is never a verdict ---------------------------------------

def test_a_training_the_budget_stops_every_time_is_a_fault_of_the_grader(fast_digits) -> None:
    import dataclasses


    hurried = dataclasses.replace(fast_digits, training=dataclasses.replace(fast_digits.training, max_seconds=0.0))
    results = grade_with(SOLUTION, hurried)
    training = next(t for t in results["tests"] if t["extra_data"].get("fault") == "grader")
    assert "too slow" in training["output"] and "not your fault" in training["output"], training["output"]
    assert results["extra_data"]["grader_faults"] == [training["name"]]


def test_a_training_stopped_once_is_trained_again_and_scores_as_alone(fast_digits, graded) -> None:
    from grader.grading.session import Session

    with Session(fast_digits) as session:
        calls, results = session.call(_graded_with_the_first_training_stopped, SOLUTION)
    assert len(calls) == 2 and calls[1] is None, calls  # the second from scratch, not the training started ahead
    from test_hostile import assert_as_alone

    assert_as_alone(results, graded(SOLUTION))
    assert results["extra_data"]["grader_faults"] == []


def _graded_with_the_first_training_stopped(setup, submission: Path) -> tuple[list, dict]:
    """In the session's worker: grade `submission` with its first training said to have been stopped early."""
    import dataclasses

    from grader.grading.grade import grade
    from grader.trusted import memo

    real, calls = memo.train, []

    def stopped_the_first_time(*args, **kwargs):
        trained, provenance = real(*args, **kwargs)
        calls.append(kwargs.get("ahead"))
        return (dataclasses.replace(trained, stopped_early=True) if len(calls) == 1 else trained), provenance

    memo.train = stopped_the_first_time
    try:
        return calls, grade(submission, setup).to_dict()
    finally:
        memo.train = real


# --- the Gradescope entry point warns like the others -------------------------------------------------------

def test_gradescope_warns_about_a_missing_layer(tmp_path: Path, monkeypatch, capsys) -> None:
    from grader.grading import session
    from grader.platforms import gradescope

    def fails(*args, **kwargs):
        raise RuntimeError("stop here: the warning comes before grading")

    monkeypatch.setattr(session.Session, "grade", fails)
    monkeypatch.setenv("GRADER_ISOLATION_DISABLE", "cgroup")
    monkeypatch.setattr(isolation, "_ANNOUNCED", [])
    isolation.probe.cache_clear()
    try:
        results = gradescope.autograde(root=tmp_path, assignment="digits")
    finally:
        isolation.probe.cache_clear()
    assert "stop here" in json.dumps(results)
    warning = capsys.readouterr().err
    assert "reduced isolation" in warning and "cgroup" in warning and "per process only" in warning, warning

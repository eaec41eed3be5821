"""The one road of every grade (grader.grading.session): one TensorFlow import, in the fork server, and what it holds.

The fork server (the zygote) is the parent of the session's trusted worker and of every sandbox: a
sandbox starts as a copy of its memory. These tests read that memory (as root, through /proc) and find
none of the grader's environment, arguments or data in it, while the worker, which received them
through its pipe after the fork, holds them all: the same scan finds them there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import SOLUTION, grade_with


def _anonymous_memory(pid: int) -> bytes:
    """The writable, private memory of a process that no file backs (heap, stacks, anonymous mappings)."""
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            path = fields[5] if len(fields) > 5 else ""
            if "rw" not in fields[1] or (path and path not in ("[heap]", "[stack]")):
                continue
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except (OSError, ValueError, OverflowError):
                continue
    return b"".join(chunks)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_the_fork_server_holds_nothing_of_the_graders_environment_arguments_or_data(fast_digits, monkeypatch) -> None:
    from grader.assignment.data import load_dataset
    from grader.grading.session import Session

    secret = f"probe-{uuid.uuid4().hex}"
    argument = f"--probe-argument-{uuid.uuid4().hex}"
    monkeypatch.setenv("GRADER_PROBE_SECRET", secret)
    data = load_dataset(None, fast_digits.data)
    images = data.test_images[:4].tobytes()  # 3,136 bytes of held-out digits
    with Session(fast_digits, command=f"grader run {argument}") as session:
        facts = session.data()
        session.grade(SOLUTION)
        worker = session._pool._state.live[0].process
        fork_server, trusted = worker.zygote.process.pid, worker.pid
        server_memory, worker_memory = _anonymous_memory(fork_server), _anonymous_memory(trusted)
        server_environment = Path(f"/proc/{fork_server}/environ").read_bytes()
    needles = {"environment": secret.encode(), "argument": argument.encode(), "data's digest": facts.sha256.encode(),
               "held-out images": images}
    for what, needle in needles.items():
        assert needle in worker_memory, f"the scan did not find the {what} in the worker, which holds it"
        assert needle not in server_memory, f"the fork server's memory holds the grader's {what}"
    assert secret.encode() not in server_environment


@pytest.mark.slow
def test_the_graders_own_process_never_imports_tensorflow(tmp_path: Path) -> None:
    code = ("import sys\nfrom pathlib import Path\nfrom grader import api\n"
            f"api.run(submissions=[Path({str(SOLUTION)!r})], assignment='digits', out=Path({str(tmp_path / 'out')!r}))\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "GRADER_COURSE": str(Path(__file__).resolve().parent.parent)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "results.json").is_file()


def test_bad_data_is_said_once_as_the_error_it_is(fast_digits, tmp_path: Path) -> None:
    from grader.assignment.data import DataError
    from grader.grading.session import Session

    with pytest.raises(DataError) as raised:
        with Session(fast_digits, data=tmp_path / "no-such-data.npz") as session:
            session.data()
    assert "no-such-data.npz" in str(raised.value)


@pytest.mark.slow
def test_a_session_grades_many_calls_and_a_batch_in_the_same_warm_worker(digits_session, graded) -> None:
    from grader.grading.session import Job

    first = digits_session.call(_pid)
    results = digits_session.grade_all([Job(SOLUTION, "again")])
    assert digits_session.call(_pid) == first  # the worker stayed up between the runs
    assert results["again"]["score"] == graded(SOLUTION)["score"] == 10
    assert first != os.getpid()


def _pid(setup) -> int:
    return os.getpid()


def test_grade_with_a_missing_submission_is_graded_as_missing(fast_digits, tmp_path: Path) -> None:
    results = grade_with(tmp_path / "nothing.py", fast_digits)
    assert results["score"] == 0
    assert re.search(r"missing|not found|does not exist", results["tests"][0]["output"], re.I)

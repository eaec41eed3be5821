"""The sandbox process on its own: limits, faults, isolation (no TensorFlow, so these are quick)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox.host import Sandbox, SandboxFault
from grader.assignment.spec import Limits

LIMITS = Limits(startup_seconds=30, import_seconds=10, call_seconds=5, cpu_seconds=30, memory_mb=1024, file_mb=2)

MODULE = '''
import os, sys, time, subprocess
import numpy as np

def echo(x):
    return x * 2

def env():
    return np.array([len(os.environ.get("GRADER_TEST_SECRET", ""))])

def where():
    return np.frombuffer(os.getcwd().encode(), dtype=np.uint8)

def sleep(x):
    time.sleep(60)

def spin(x):
    while True:
        pass

def die(x):
    os._exit(7)

def hog(x):
    return np.ones((1 << 28,), dtype=np.float64)  # 2 GB, written

def flood(x):
    for _ in range(200):  # 13 MB: past the 1 MB of output kept, and past the 2 MB file-size limit
        sys.stdout.write("y" * 65536)
    print("and the rest", file=sys.stderr)
    return x

def big_file(x):
    with open("big.bin", "wb") as handle:
        while True:
            handle.write(b"z" * 65536)

def size(x):
    return np.array([os.path.getsize("big.bin")])

def orphan(x):
    child = subprocess.Popen(["sleep", "1234.5"])
    time.sleep(0.3)
    return np.array([child.poll() is None])  # running when the request ends
'''


@pytest.fixture(scope="module")
def zygote():
    """A zygote that preloads numpy only: forking from it is as quick as the tests want."""
    from grader.sandbox.zygote import Zygote

    started = Zygote(("numpy",))
    yield started
    started.close()


@pytest.fixture()
def box(tmp_path: Path, zygote):
    source = tmp_path / "mod.py"
    source.write_text(MODULE)
    sandbox = Sandbox(LIMITS, zygote).start()
    sandbox.wait_ready()
    target = sandbox.copy_in({source.name: source}, source.name)
    reply = sandbox.request({"op": "load", "path": str(target), "functions": ["echo", "nope"]}, timeout=10, stage="load")
    assert reply.header["functions"] == {"echo": True, "nope": False}
    yield sandbox
    sandbox.close()


def _call(box: Sandbox, name: str, timeout: float = 5):
    return box.request({"op": "call", "function": name, "args": ["x"]}, {"x": np.arange(3)}, timeout=timeout, stage=name)


def test_a_call_returns_arrays(box: Sandbox) -> None:
    reply = _call(box, "echo")
    assert np.array_equal(reply.arrays["result"], [0, 2, 4])
    assert reply.header["input_modified"] is False


def test_the_environment_is_scrubbed_and_the_directory_is_private(box: Sandbox, monkeypatch) -> None:
    os.environ["GRADER_TEST_SECRET"] = "hunter2"  # set after start: the child must not see the parent's env anyway
    try:
        assert box.request({"op": "call", "function": "env"}, timeout=5, stage="env").arrays["result"][0] == 0
    finally:
        del os.environ["GRADER_TEST_SECRET"]
    cwd = bytes(box.request({"op": "call", "function": "where"}, timeout=5, stage="cwd").arrays["result"]).decode()
    assert cwd.startswith(str(box.workdir)) and cwd != os.getcwd()


def test_a_hang_is_stopped_at_the_deadline(box: Sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxFault) as fault:
        _call(box, "sleep", timeout=1)
    assert fault.value.kind == "timeout"
    assert "within 1 seconds" in str(fault.value)
    assert time.monotonic() - started < 15
    assert not box.alive


def test_an_exit_is_a_crash_with_its_status(box: Sandbox) -> None:
    with pytest.raises(SandboxFault) as fault:
        _call(box, "die")
    assert fault.value.kind == "crash"
    assert "exited with status 7" in str(fault.value)


def test_a_memory_hog_is_stopped_at_the_memory_limit(box: Sandbox) -> None:
    if box.group is None:  # no cgroup: the address-space rlimit makes the allocation fail
        reply = _call(box, "hog")
        assert reply.header["ok"] is False
        assert reply.header["error"]["type"] == "MemoryError"
        return
    with pytest.raises(SandboxFault) as fault:  # a cgroup: the kernel kills it when it really uses too much
        _call(box, "hog", timeout=30)
    assert fault.value.kind == "memory"
    assert "1024 MB" in str(fault.value)


def test_a_flood_of_output_is_dropped_past_the_limit_and_is_not_fatal(box: Sandbox) -> None:
    reply = _call(box, "flood", timeout=20)
    assert reply.header["ok"] is True and np.array_equal(reply.arrays["result"], [0, 1, 2])
    kept = LIMITS.output_kb * 1024
    assert (box.workdir / "output.log").stat().st_size <= kept + 4096
    assert box.output_dropped == 200 * 65536 + len("and the rest\n") - kept
    assert "cut" in box.output(limit=1000)
    assert _call(box, "echo").header["ok"] is True  # the sandbox goes on answering


def test_a_file_past_the_size_limit_is_refused(box: Sandbox) -> None:
    reply = _call(box, "big_file", timeout=20)
    assert reply.header["ok"] is False
    assert "File too large" in reply.header["error"]["message"]
    assert 0 < _call(box, "size").arrays["result"][0] <= LIMITS.file_mb << 20


def _running(command: bytes) -> list[int]:
    """Pids of live processes (not zombies) whose command line is `command` (arguments joined by NUL)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    line = handle.read().rstrip(b"\0")
                with open(f"/proc/{entry}/stat") as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if line == command and state not in ("Z", "X"):
                found.append(int(entry))
    return found


def _appears(command: bytes, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not _running(command):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _gone(command: bytes, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while _running(command):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_process_left_running_is_stopped_when_its_request_ends(box: Sandbox) -> None:
    assert _call(box, "orphan").arrays["result"][0], "the submission's child process should run during the request"
    assert _gone(b"sleep\x001234.5"), "a process started by the submission outlived its request"
    assert np.array_equal(_call(box, "echo").arrays["result"], [0, 2, 4])  # the sandbox itself goes on


def test_cpu_limit_stops_a_spinning_process(tmp_path: Path, zygote) -> None:
    source = tmp_path / "mod.py"
    source.write_text(MODULE)
    limits = Limits(startup_seconds=30, import_seconds=10, call_seconds=30, cpu_seconds=2, memory_mb=1024)
    with Sandbox(limits, zygote).start() as sandbox:
        sandbox.wait_ready()
        target = sandbox.copy_in({source.name: source}, source.name)
        sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
        with pytest.raises(SandboxFault) as fault:
            sandbox.request({"op": "call", "function": "spin", "args": ["x"]}, {"x": np.arange(2)}, timeout=30, stage="spin")
        assert fault.value.kind == "cpu"


DAEMON = '''
import os, subprocess, time
import numpy as np

def detach(x):
    if os.fork() == 0:
        os.setsid()  # leave the sandbox's session and process group
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "1234.75"])
        os._exit(0)
    os.wait()
    for _ in range(100):  # until the daemon runs
        if any(b"1234.75" in _cmdline(p) for p in os.listdir("/proc") if p.isdigit()):
            return np.array([1])
        time.sleep(0.02)
    return np.array([0])

def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""
'''


def test_a_detached_daemon_does_not_outlive_its_request(tmp_path: Path, zygote) -> None:
    source = tmp_path / "mod.py"
    source.write_text(DAEMON)
    sandbox = Sandbox(LIMITS, zygote).start()
    sandbox.wait_ready()
    target = sandbox.copy_in({source.name: source}, source.name)
    sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
    reply = sandbox.request({"op": "call", "function": "detach", "args": ["x"]}, {"x": np.arange(2)}, timeout=10, stage="detach")
    assert reply.header["ok"] and reply.arrays["result"][0], "the daemon should run during the request"
    try:
        assert _gone(b"sleep\x001234.75"), "a process the submission detached kept running after its request"
    finally:
        sandbox.close()


def test_a_forked_sandbox_reports_its_exit_status_and_starts_fresh(tmp_path: Path) -> None:
    from grader.sandbox.zygote import Zygote

    source = tmp_path / "mod.py"
    source.write_text(MODULE)
    zygote = Zygote(("numpy",))
    try:
        for _ in range(2):  # a second child forked after the first died works as the first did
            sandbox = Sandbox(LIMITS, zygote).start()
            assert sandbox.wait_ready() == {"numpy": np.__version__}
            target = sandbox.copy_in({source.name: source}, source.name)
            sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
            assert np.array_equal(_call(sandbox, "echo").arrays["result"], [0, 2, 4])
            with pytest.raises(SandboxFault, match="exited with status 7"):
                _call(sandbox, "die")
            sandbox.close()
    finally:
        zygote.close()


HOLDER = '''
import sys
from pathlib import Path

import numpy as np

from grader.assignment.spec import Limits
from grader.sandbox.host import Sandbox
from grader.sandbox.zygote import Zygote

source = Path(sys.argv[1])
zygote = Zygote(("numpy",))
box = Sandbox(Limits(startup_seconds=30, import_seconds=10, call_seconds=60, cpu_seconds=60, memory_mb=1024), zygote)
box.start().wait_ready()
target = box.copy_in({source.name: source}, source.name)
box.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
print(zygote.process.pid, box.pid, flush=True)
box.request({"op": "call", "function": "spin", "args": ["x"]}, {"x": np.arange(2)}, timeout=60, stage="spin")
'''


@pytest.mark.parametrize("killed", ["grader", "zygote"])
def test_a_spinning_sandbox_dies_with_its_zygote_and_the_zygote_with_its_grader(tmp_path: Path, killed: str) -> None:
    """However the grader or its zygote ends (SIGKILL runs no clean-up), nothing they started goes on running."""
    import signal
    import subprocess
    import sys

    from grader import processes

    source = tmp_path / "mod.py"
    source.write_text(MODULE)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(source)], stdout=subprocess.PIPE, text=True)
    try:
        zygote, keeper = map(int, holder.stdout.readline().split())
        started = {zygote, keeper, *processes.descendants(keeper)}
        assert len(started) >= 2
        time.sleep(0.3)  # the worker spins
        os.kill(holder.pid if killed == "grader" else zygote, signal.SIGKILL)
        deadline = time.monotonic() + 2
        while (left := {pid for pid in started if _alive(pid)}) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"still running 2 s after the {killed} was killed: {left}"
    finally:
        holder.kill()
        holder.wait()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False

"""Each isolation layer against code that attacks it, in a sandbox forked from a numpy-only zygote (quick).

A test that needs a layer this machine lacks skips and names it; CI machines have them all.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import isolation
from grader.sandbox.host import Sandbox, SandboxFault
from grader.assignment.spec import Limits

LIMITS = Limits(startup_seconds=30, import_seconds=10, call_seconds=10, cpu_seconds=60, memory_mb=1024, file_mb=2)
AVAILABLE = isolation.probe()

ATTACKS = r'''
import ctypes, errno, glob, os, signal, socket
import numpy as np

def _try(action):
    """0 if the action succeeded, else the errno (or -1) it failed with."""
    try:
        action()
        return 0
    except OSError as exc:
        return exc.errno or -1
    except ValueError:  # resource.setrlimit's way of saying EPERM
        return -1

def read(x):
    path = x
    return np.array([_try(lambda: open(path, "rb").read(1))])

def write(x):
    path = x
    return np.array([_try(lambda: open(path, "ab").write(b"tampered"))])

def listdir(x):
    path = x
    return np.array([_try(lambda: os.listdir(path))])

def kill(x):
    pid = x
    return np.array([_try(lambda: os.kill(int(pid), signal.SIGKILL))])

def kill_everything(x):
    codes = [_try(lambda: os.kill(-1, signal.SIGKILL))]
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            codes.append(_try(lambda: os.kill(int(entry), signal.SIGKILL)))
    return np.array(codes)

def ptrace(x):
    pid = x
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.ptrace(16, int(pid), 0, 0)  # PTRACE_ATTACH
    return np.array([0 if result == 0 else ctypes.get_errno()])

def environ_of(x):
    pid = x
    return np.array([_try(lambda: open(f"/proc/{int(pid)}/environ", "rb").read())])

def connect(x):
    port = x
    def go():
        with socket.create_connection(("127.0.0.1", int(port)), timeout=2) as conn:
            conn.sendall(b"stolen")
    return np.array([_try(go)])

def udp(x):
    port = x
    def go():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"stolen", ("127.0.0.1", int(port)))
    return np.array([_try(go)])

def visible_pids(x):
    return np.array(sorted(int(e) for e in os.listdir("/proc") if e.isdigit()))

def unshare(x):
    libc = ctypes.CDLL(None, use_errno=True)
    return np.array([0 if libc.unshare(0x10000000) == 0 else ctypes.get_errno()])

def ids(x):
    return np.array([os.getuid(), os.geteuid(), os.getgid()])

def raise_limits(x):
    import resource
    return np.array([_try(lambda: resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY,) * 2))])
'''


def _needs(*layers: str) -> None:
    lacking = [name for name in layers if not AVAILABLE.get(name)]
    if lacking:
        pytest.skip(f"this machine lacks the isolation layer(s) {', '.join(lacking)}: {isolation.missing(AVAILABLE)}")


@pytest.fixture(scope="module")
def zygote():
    from grader.sandbox.zygote import Zygote

    started = Zygote(("numpy",))
    yield started
    started.close()


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    """A file the grader protects (as it protects the solutions and the data)."""
    path = tmp_path / "protected" / "solution.py"
    path.parent.mkdir()
    path.write_text("ANSWER = 42\n")
    return path


@pytest.fixture()
def box(tmp_path: Path, zygote, secret: Path):
    source = tmp_path / "attacks.py"
    source.write_text(ATTACKS)
    sandbox = Sandbox(LIMITS, zygote, protect=(secret.parent,)).start()
    sandbox.wait_ready()
    target = sandbox.copy_in({source.name: source}, source.name)
    sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
    yield sandbox
    sandbox.close()


def _attack(box: Sandbox, name: str, arg: object = 0) -> np.ndarray:
    value = str(arg) if isinstance(arg, Path) else arg
    reply = box.request({"op": "call", "function": name, "args": [], "kwargs": {"x": value}}, timeout=10, stage=name)
    assert reply.header["ok"], reply.header
    return reply.arrays["result"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_grader_package_and_protected_files_cannot_be_read(tmp_path: Path, zygote, secret: Path) -> None:
    _needs("landlock")
    import grader

    source = tmp_path / "paths.py"
    package_file = Path(grader.__file__).parent / "api.py"
    source.write_text(ATTACKS + f"\nPATHS = {[str(secret), str(package_file), str(Path.home())]!r}\n"
                      "def read_all():\n    return np.array([_try(lambda: open(p, 'rb').read(1)) if os.path.isfile(p) "
                      "else _try(lambda: os.listdir(p)) for p in PATHS])\n")
    with Sandbox(LIMITS, zygote, protect=(secret.parent,)).start() as sandbox:
        sandbox.wait_ready()
        target = sandbox.copy_in({source.name: source}, source.name)
        sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
        codes = sandbox.request({"op": "call", "function": "read_all", "args": []}, timeout=10, stage="read").arrays["result"]
    assert len(codes) == 3 and all(code != 0 for code in codes), \
        f"the solution, the grader's code and the grader's home must be unreadable (errnos {list(codes)})"


def test_nothing_outside_its_own_folder_can_be_written(box: Sandbox, tmp_path: Path, secret: Path) -> None:
    _needs("landlock")
    import grader

    victim = tmp_path / "classmate.py"
    victim.write_text("def predict(model, images): ...\n")
    package_file = Path(grader.__file__)
    before = {p: _digest(p) for p in (victim, secret, package_file)}
    for path in before:
        assert _attack(box, "write", path)[0] != 0, f"{path} was writable from the sandbox"
    assert _attack(box, "write", tmp_path / "planted.py")[0] != 0
    assert {p: _digest(p) for p in before} == before
    assert not (tmp_path / "planted.py").exists()
    assert _attack(box, "write", box.workdir / "home" / "scratch.txt")[0] == 0, "its own folder stays writable"


def test_it_cannot_kill_or_trace_the_grader_or_the_zygote(box: Sandbox, zygote) -> None:
    _needs("landlock")
    for pid in (os.getpid(), zygote.process.pid):
        assert _attack(box, "kill", pid)[0] != 0
        assert _attack(box, "ptrace", pid)[0] != 0
        assert _attack(box, "environ_of", pid)[0] != 0
    codes = _attack(box, "kill_everything")
    assert codes[0] != 0 or AVAILABLE.get("namespaces"), "kill(-1) reached processes outside the sandbox"
    time.sleep(0.2)
    assert zygote.process.poll() is None, "the zygote was killed from the sandbox"
    assert box.alive or AVAILABLE.get("namespaces")


def test_it_sees_no_process_but_its_own(box: Sandbox) -> None:
    _needs("namespaces")
    pids = _attack(box, "visible_pids")
    assert os.getpid() not in pids or len(pids) <= 3
    assert len(pids) <= 3, f"the sandbox sees processes outside it: {pids}"


def test_it_cannot_reach_a_listener_on_the_loopback(box: Sandbox) -> None:
    _needs("namespaces")
    with socket.socket() as listener, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagrams:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(1)
        datagrams.bind(("127.0.0.1", 0))
        datagrams.settimeout(1)
        assert _attack(box, "connect", listener.getsockname()[1])[0] != 0
        assert _attack(box, "udp", datagrams.getsockname()[1])[0] != 0
        with pytest.raises(socket.timeout):
            listener.accept()
        with pytest.raises(socket.timeout):
            datagrams.recv(100)


def test_it_runs_as_an_unprivileged_uid_of_its_own_and_cannot_regain_anything(box: Sandbox) -> None:
    _needs("uid", "seccomp")
    uid, euid, gid = _attack(box, "ids")
    assert uid == euid >= isolation.UID_BASE and gid >= isolation.UID_BASE
    assert _attack(box, "unshare")[0] != 0, "a new user namespace would give it capabilities back"
    assert _attack(box, "raise_limits")[0] != 0, "the hard CPU limit was raised from inside"


def test_the_layers_in_use_are_recorded(box: Sandbox) -> None:
    record = box.isolation
    assert set(record["layers"]) | set(record["missing"]) == set(isolation.LAYERS)
    for name, detail in AVAILABLE.items():
        assert (name in record["layers"]) == bool(detail)


def test_strict_mode_refuses_a_machine_without_a_layer() -> None:
    lacking = {**AVAILABLE, "landlock": None}
    with pytest.raises(isolation.IsolationError, match="landlock"):
        isolation.require(lacking, "strict")
    assert "landlock" in isolation.require(lacking, "auto")
    with pytest.raises(isolation.IsolationError, match="expected one of"):
        isolation.require(AVAILABLE, "lenient")


def test_without_landlock_only_the_interpreter_and_libraries_are_mounted(tmp_path: Path, zygote) -> None:
    _needs("namespaces")
    import shutil
    import tempfile

    fallback = {**AVAILABLE, "landlock": None}
    source = tmp_path / "attacks.py"
    source.write_text(ATTACKS)
    # Outside the temporary folder (which every sandbox gets privately anyway), where only the mounts protect it.
    try:
        folder = Path(tempfile.mkdtemp(prefix=".protected-", dir=Path(__file__).resolve().parent))
    except PermissionError:  # a read-only checkout: the temporary folder, where the private /tmp hides it too
        folder = Path(tempfile.mkdtemp(prefix=".protected-"))
    secret = folder / "solution.py"
    secret.write_text("ANSWER = 42\n")
    try:
        sandbox = Sandbox(LIMITS, zygote, protect=(folder,))
        sandbox.available = fallback
        with sandbox.start():
            sandbox.wait_ready()
            target = sandbox.copy_in({source.name: source}, source.name)
            sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
            assert _attack(sandbox, "read", secret)[0] != 0
            assert _attack(sandbox, "listdir", folder)[0] != 0  # not there at all
            # An allow-list: what is not the interpreter's or the system's is not there either, protected or not.
            assert _attack(sandbox, "read", Path(__file__))[0] != 0
            assert _attack(sandbox, "read", Path(os.__file__))[0] == 0, "the interpreter's library stays readable"
            assert "landlock" in sandbox.isolation["missing"]
        assert secret.read_text() == "ANSWER = 42\n"
    finally:
        shutil.rmtree(folder)


def test_a_layer_that_fails_to_go_up_is_a_grader_fault(zygote, monkeypatch) -> None:
    real_plan = isolation.plan

    def broken(*args, **kwargs):
        confinement, group = real_plan(*args, **kwargs)
        return {**confinement, "cgroup": ["/nonexistent/cgroup.procs"]}, group

    monkeypatch.setattr(isolation, "plan", broken)
    with Sandbox(LIMITS, zygote).start() as sandbox:
        with pytest.raises(SandboxFault) as fault:
            sandbox.wait_ready()
    assert fault.value.kind == "grader"
    assert "isolation could not be set up" in str(fault.value)


def test_readable_roots_inside_the_temporary_folder_stay_readable(tmp_path: Path, zygote, monkeypatch) -> None:
    """A virtual environment or checkout in /tmp (CI's clean clones often are) survives the private /tmp."""
    _needs("namespaces")
    import tempfile

    venv = Path(tempfile.mkdtemp(prefix="venv-like-"))
    try:
        (venv / "lib").mkdir()
        (venv / "lib" / "module.py").write_text("VALUE = 1\n")
        real = isolation._python_roots
        monkeypatch.setattr(isolation, "_python_roots", lambda: {*real(), str(venv.resolve())})
        source = tmp_path / "attacks.py"
        source.write_text(ATTACKS)
        with Sandbox(LIMITS, zygote).start() as sandbox:
            sandbox.wait_ready()
            target = sandbox.copy_in({source.name: source}, source.name)
            sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
            assert _attack(sandbox, "read", venv / "lib" / "module.py")[0] == 0
            assert _attack(sandbox, "read", tmp_path / "attacks.py")[0] != 0, "the rest of /tmp stays covered"
    finally:
        import shutil

        shutil.rmtree(venv)

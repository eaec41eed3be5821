"""The fallbacks where a layer is missing hold what the README says (quick: a numpy-only zygote).

Landlock is turned off here as in tests/test_confinement.py (the sandbox's `available` without it);
tests/test_unprivileged.py runs this file as an ordinary user, where the sandbox has no uid of its own
either and, with no cgroup, its processes are counted in its user namespace.
"""

from __future__ import annotations

import os
import sysconfig
import tempfile
from pathlib import Path

import numpy as np
import pytest

from grader.assignment.spec import Limits
from grader.sandbox import isolation
from grader.sandbox.host import Sandbox

LIMITS = Limits(startup_seconds=30, import_seconds=10, call_seconds=10, cpu_seconds=30, memory_mb=1024,
                max_processes=64)
AVAILABLE = isolation.probe()

MODULE = r'''
import os
import numpy as np

def plant(x):
    """Try to leave a file in each folder named by x (newline-separated); how many were written."""
    written = 0
    for folder in bytes(x).decode().split("\n"):
        try:
            with open(os.path.join(folder, "zzz-planted.pth"), "w") as handle:
                handle.write("import os; os.system('echo owned')\n")
            written += 1
        except OSError:
            pass
    return np.array([written])

def read(x):
    try:
        with open(bytes(x).decode(), "rb") as handle:
            return np.array([len(handle.read())])
    except OSError:
        return np.array([-1])

def fill(x):
    """Write 8 MB files (under the per-file limit) into its home, then its tmp, until writing fails; MB in each."""
    chunk = b"x" * (1 << 20)
    written = []
    for folder in (os.getcwd(), os.environ["TMPDIR"]):
        total = 0
        try:
            for i in range(64):
                with open(os.path.join(folder, f"fill-{i}"), "wb") as handle:
                    for _ in range(8):
                        handle.write(chunk)
                        total += 1
        except OSError:
            pass
        written.append(total)
    return np.array(written)

def spawn(x):
    """Start as many processes as allowed, each in a session of its own; how many started."""
    started = 0
    for _ in range(600):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.setsid()
            os.read(os.open("/dev/null", os.O_RDONLY), 1)
            import time
            time.sleep(30)
            os._exit(0)
        started += 1
    return np.array([started])
'''


@pytest.fixture(scope="module")
def zygote():
    from grader.sandbox.zygote import Zygote

    started = Zygote(("numpy",))
    yield started
    started.close()


def _needs(*layers: str) -> None:
    lacking = [name for name in layers if not AVAILABLE.get(name)]
    if lacking:
        pytest.skip(f"this machine lacks the isolation layer(s) {', '.join(lacking)}")


def _without(zygote, tmp_path: Path, *layers: str, protect: tuple[Path, ...] = ()) -> Sandbox:
    source = tmp_path / "fallback.py"
    source.write_text(MODULE)
    sandbox = Sandbox(LIMITS, zygote, protect=protect)
    sandbox.available = {**AVAILABLE, **{name: None for name in layers}}
    sandbox.start()
    sandbox.wait_ready()
    target = sandbox.copy_in({source.name: source}, source.name)
    sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
    return sandbox


def _call(sandbox: Sandbox, name: str, text: str = "") -> int:
    reply = sandbox.request({"op": "call", "function": name, "args": ["x"]},
                            {"x": np.frombuffer(text.encode() or b"-", dtype=np.uint8)}, timeout=20, stage=name)
    assert reply.header["ok"], reply.header
    return int(reply.arrays["result"][0])


def test_without_landlock_nothing_of_the_graders_user_can_be_written(tmp_path: Path, zygote, monkeypatch) -> None:
    """The `.pth` plant: a file in site-packages runs in the grader's next process, and its zygote's."""
    _needs("namespaces")
    venv = Path(tempfile.mkdtemp(prefix="venv-like-", dir=Path.home() if os.access(Path.home(), os.W_OK) else None))
    site = venv / "lib" / "site-packages"  # a site-packages of the grader's own user, as a venv of its own is
    site.mkdir(parents=True)
    monkeypatch.setattr(isolation, "_python_roots", lambda real=isolation._python_roots: {*real(), str(site)})
    targets = [site, Path(sysconfig.get_paths()["purelib"]), Path.home(), Path(tempfile.gettempdir()),
               Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))]
    writable = [str(t) for t in targets if os.access(t, os.W_OK)]
    assert str(site) in writable  # the grader's user may write there: only the sandbox's mounts stop it
    try:
        with _without(zygote, tmp_path, "landlock", "uid") as sandbox:
            assert _call(sandbox, "plant", "\n".join(writable)) == 0
            assert _call(sandbox, "plant", f"{sandbox.workdir}/home") == 1  # its own folder stays its own
        assert [str(t) for t in targets if (t / "zzz-planted.pth").exists()] == []
    finally:
        for target in targets:
            if (target / "zzz-planted.pth").exists():
                (target / "zzz-planted.pth").unlink()
        import shutil

        shutil.rmtree(venv)


def test_without_landlock_another_copy_of_a_secret_cannot_be_read(tmp_path: Path, zygote) -> None:
    """Only the grader's own copies are protected by name; another checkout's reference is not on the allow-list."""
    _needs("namespaces")
    folder = Path(tempfile.mkdtemp(prefix="another-checkout-", dir=Path(__file__).resolve().parent
                                   if os.access(Path(__file__).resolve().parent, os.W_OK) else None))
    try:
        secret = folder / "solutions" / "digits.py"
        secret.parent.mkdir()
        secret.write_text("ANSWER = 42\n")
        for path in (folder, secret.parent):
            path.chmod(0o755)
        secret.chmod(0o644)
        with _without(zygote, tmp_path, "landlock", "uid") as sandbox:
            assert _call(sandbox, "read", str(secret)) == -1
            assert _call(sandbox, "read", "/etc/hostname") == -1 or not Path("/etc/hostname").exists()
            assert _call(sandbox, "read", os.__file__) > 0  # what it needs stays readable
    finally:
        import shutil

        shutil.rmtree(folder)


def test_what_a_sandbox_writes_is_bounded_in_all_not_per_file(tmp_path: Path, zygote) -> None:
    """64 files of 8 MB each (512 MB, every one under file_mb) into home and into tmp: each holds at most disk_mb, a
    tmpfs of the sandbox's mount namespace, as root and as an ordinary user; none of it reaches the grader's disk."""
    _needs("namespaces")
    import shutil

    limits = Limits(**{**LIMITS.__dict__, "disk_mb": 64})
    source = tmp_path / "fallback.py"
    source.write_text(MODULE)
    free = shutil.disk_usage(tempfile.gettempdir()).free
    with Sandbox(limits, zygote) as sandbox:
        sandbox.start()
        sandbox.wait_ready()
        target = sandbox.copy_in({source.name: source}, source.name)
        sandbox.request({"op": "load", "path": str(target), "functions": []}, timeout=10, stage="load")
        assert sandbox.isolation["disk"] == "home and tmp: a tmpfs of 64 MB each"
        reply = sandbox.request({"op": "call", "function": "fill", "args": ["x"]}, {"x": np.zeros(1)}, timeout=30,
                                stage="fill")
        home, tmp = (int(v) for v in reply.arrays["result"])
        assert 48 <= home <= 64 and 48 <= tmp <= 64, (home, tmp)
        assert shutil.disk_usage(tempfile.gettempdir()).free > free - (32 << 20)  # not on the grader's disk
        assert not any(sandbox.workdir.joinpath("home").iterdir())  # its home is not the folder the grader sees


def test_without_a_cgroup_the_processes_are_bounded_in_all(tmp_path: Path, zygote) -> None:
    """Each in a session of its own, they are still counted together: by the uid of its own, or its user namespace."""
    if not (AVAILABLE.get("uid") or (AVAILABLE.get("namespaces") and os.getuid() != 0)):
        pytest.skip("neither a uid of its own nor a user namespace counts the sandbox's processes here")
    with _without(zygote, tmp_path, "cgroup", "landlock") as sandbox:
        started = _call(sandbox, "spawn")
    assert 0 < started < LIMITS.max_processes, started


def test_without_a_cgroup_the_warning_says_what_is_lost_and_strict_refuses() -> None:
    lacking = {**AVAILABLE, "cgroup": None}
    warning = isolation.require(lacking, "auto")
    assert "memory is bounded per process only" in warning and "CPU time per process only" in warning, warning
    with pytest.raises(isolation.IsolationError, match="cgroup"):
        isolation.require(lacking, "strict")

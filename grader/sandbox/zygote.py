"""The fork server: a pre-started process that forks every process of a grading, so TensorFlow is imported once.

The zygote is a fresh `python -I` interpreter started with a scrubbed environment in an empty
temporary directory. It imports the assignment's preload modules (numpy, TensorFlow, Keras) and
then only forks: it never runs a TensorFlow op (a child forked after one hangs at its own first
op) and never holds grading data, the grader's environment or its arguments, so a child inherits
nothing the submission may not see.

It forks two kinds of children. A *sandbox* starts a new session, moves into its own fresh
directory, replaces its environment, closes every descriptor but its two channel pipes, sets its
rlimits and only then serves requests (worker.serve). A *trusted* process (`Zygote.start_trusted`:
the grading worker, which loads the data, trains and predicts) receives its job, environment and
arguments through a pipe after the fork, and asks the zygote for its sandboxes over a channel of its
own (`attached()`): no sandbox is ever forked from a process that has held what the grader knows.

This module is the grader's side: the handle that starts a fork server and asks it for processes, and the
channel they talk over. The fork server's own process is grader.sandbox.forkserver.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from grader import orphans, scratch, tflog
from grader.errors import GraderFault

MAX_MESSAGE = 16 << 20
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
_ATTACHED: list["Zygote"] = []  # in a trusted process: the handle on the zygote that forked it (see `attached`)
_PRESTARTED: list["Zygote"] = []  # started by `prestart`, until a Trusted process takes it (see `take`)
PRELOAD = ("numpy", "tensorflow", "keras")  # what an assignment of a Keras course preloads (its spec's `preload`)


class ZygoteError(GraderFault):
    """The zygote could not be started or stopped answering; a fault of the grader, not the submission."""


class Zygote:
    """The grader's handle on a zygote process: start it, fork sandboxes from it, stop it."""

    def __init__(self, preload: tuple[str, ...], *, keep_gpu: bool = False) -> None:
        self.preload = preload
        self.keep_gpu = keep_gpu
        self.directory = Path(tempfile.mkdtemp(prefix=scratch.prefix("zygote")))
        env = environment(self.directory, self.directory, keep_gpu=keep_gpu)
        # Read by TensorFlow when it is imported, so it is the trusted processes' setting too: the grader's own.
        env.pop(ONEDNN, None)
        if ONEDNN in os.environ:
            env[ONEDNN] = os.environ[ONEDNN]
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket = ours
        self._lock = threading.Lock()
        self._spawned = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "grader.sandbox.forkserver", str(theirs.fileno()), str(orphans.parent_token()),
             *preload],
            cwd=self.directory, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            # With --verbose, TensorFlow's lines at its import (here, the one import) reach the terminal.
            stderr=None if tflog.verbose() else open(self.directory / "zygote.log", "wb"),
            pass_fds=(theirs.fileno(),), start_new_session=True,
        )
        theirs.close()
        self.versions: dict[str, str] | None = None

    @classmethod
    def _attach(cls, sock: socket.socket, preload: tuple[str, ...], versions: dict[str, str], keep_gpu: bool) -> "Zygote":
        """A trusted process's handle on the zygote that forked it, over the channel it was given."""
        handle = cls.__new__(cls)
        handle.preload, handle.keep_gpu, handle.versions = preload, keep_gpu, versions
        handle.directory, handle.process = None, None
        handle._socket, handle._lock, handle._spawned = sock, threading.Lock(), time.monotonic()
        return handle

    def start_trusted(self, target: Any, args: tuple, *, timeout: float = 120) -> int:
        """Fork a trusted grader process that runs `target(*args)` and exits; return its pid.

        A `multiprocessing.connection.Connection` in `args` reaches it as the same connection (its descriptor is
        passed along). The child gets this process's environment, working directory, import path and stderr
        through a pipe, after the fork: the zygote never holds them.
        """
        from multiprocessing.connection import Connection

        self.wait_ready(timeout)
        keep = [a.fileno() for a in args if isinstance(a, Connection)]
        args = tuple(Descriptor(a.fileno()) if isinstance(a, Connection) else a for a in args)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        job = pickle.dumps({"target": target, "args": args, "keep": keep, "env": dict(os.environ),
                            "cwd": os.getcwd(), "path": list(sys.path)})
        with self._lock:
            try:
                send(self._socket, {"op": "trusted", "keep_gpu": self.keep_gpu}, [theirs.fileno(), 2, *keep])
            except OSError as exc:
                raise ZygoteError(f"the zygote process is gone ({exc})") from exc
            finally:
                theirs.close()
            pid = int(self._receive(timeout)["pid"])
        with ours:
            ours.sendall(len(job).to_bytes(8, "big") + job)
        return pid

    def wait_ready(self, timeout: float) -> dict[str, str]:
        """Block until the preload modules are imported; return their versions."""
        if self.versions is None:
            ready = self._receive(timeout)
            self.versions = ready.get("versions", {})
            self._record(ready.get("times") or {})
        return self.versions

    def _record(self, times: dict[str, float]) -> None:
        from grader import timings

        main, ready = times.get("main"), times.get("ready")
        if isinstance(main, float) and isinstance(ready, float):
            timings.add("zygote: interpreter start-up", self._spawned, main, side="zygote", depth=0)
            timings.add(f"zygote: imports ({', '.join(self.preload)})", main, ready, side="zygote", depth=0)

    def fork(self, read_fd: int, write_fd: int, *, workdir: Path, env: dict[str, str], limits: str,
             confinement: dict[str, Any], timeout: float) -> int:
        """Fork a sandbox child that talks over the given pipe ends, confined as `confinement` says; return its pid."""
        self.wait_ready(timeout)
        message = {"op": "fork", "workdir": str(workdir), "env": env, "limits": limits, "confinement": confinement}
        with self._lock:
            try:
                send(self._socket, message, [read_fd, write_fd])
            except OSError as exc:
                raise ZygoteError(f"the zygote process is gone ({exc})") from exc
            return int(self._receive(timeout)["pid"])

    def exit_status(self, pid: int, timeout: float = 10) -> int | None:
        """The exit status of a forked child in subprocess' convention (negative: killed by that signal)."""
        with self._lock:
            try:
                send(self._socket, {"op": "wait", "pid": pid, "timeout": timeout})
                return self._receive(timeout + 5).get("status")
            except (OSError, ZygoteError):
                return None

    def sweep(self, timeout: float = 10) -> None:
        """Kill every process left behind by the sandboxes forked so far, daemons that left their session included.

        The zygote is a child subreaper: whatever a sandbox started and orphaned is re-parented to it,
        so it can find them all, however they detached themselves.
        """
        with self._lock:
            try:
                send(self._socket, {"op": "sweep"})
                self._receive(timeout)
            except (OSError, ZygoteError):
                pass

    def close(self, *, patience: float = 0.2) -> None:
        """Stop the zygote; the children it forked are in their own sessions and are killed by their sandboxes, or
        by the zygote, which kills any left when its control socket closes (and they die with it in any case)."""
        import shutil

        self._socket.close()
        if self.process is None:  # a trusted process's handle: the zygote is its parent's to stop
            return
        try:
            _wait_exit(self.process, patience)
        except subprocess.TimeoutExpired:
            # It holds nothing to save, and an orderly interpreter shutdown with TensorFlow loaded takes seconds.
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _receive(self, timeout: float) -> dict[str, Any]:
        self._socket.settimeout(timeout)
        try:
            message, _ = receive(self._socket)
        except (socket.timeout, OSError) as exc:
            raise ZygoteError(f"the zygote process did not answer within {timeout:g} s ({exc}); "
                              f"see {self.directory / 'zygote.log'}") from exc
        if message is None:
            raise ZygoteError(f"the zygote process exited (status {self.process.poll()}); "
                              f"its log: {_tail(self.directory / 'zygote.log')}")
        return message


def _wait_exit(process: subprocess.Popen, timeout: float) -> None:
    """Wait for `process` to exit, as Popen.wait(timeout) does but woken by the exit itself (a pidfd), not by polling
    at intervals that grow to 50 ms."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfd (an older kernel), or already reaped
        process.wait(timeout=timeout)
        return
    try:
        import select

        if not select.select([pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(process.args, timeout)
    finally:
        os.close(pidfd)
    process.wait()


# -- the control channel: length-prefixed JSON, descriptors riding on the first part -----------------------

def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) -> None:
    data = json.dumps(message).encode()
    frame = len(data).to_bytes(8, "big") + data
    sent = socket.send_fds(sock, [frame], list(fds)) if fds else sock.send(frame)
    if sent < len(frame):
        sock.sendall(frame[sent:])


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it; (None, []) when the other side has closed."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 8)
    if not data:
        return None, fds
    while len(data) < 8:
        more = sock.recv(8 - len(data))
        if not more:
            return None, fds
        data += more
    size = int.from_bytes(data[:8], "big")
    if size > MAX_MESSAGE:
        raise OSError(f"a control message of {size:,} bytes is over the limit")
    body = bytearray(data[8:])
    while len(body) < size:
        more = sock.recv(min(size - len(body), 1 << 20))
        if not more:
            return None, fds
        body += more
    return json.loads(bytes(body)), fds


def prestart(preload: tuple[str, ...] = PRELOAD, *, keep_gpu: bool = False) -> None:
    """Start a zygote now, for the first trusted process that asks for one with the same preload and `keep_gpu`
    (`take`): a grading command calls it first thing, so that the zygote's import runs while the grader starts up
    (its own imports, the assignment, the isolation probe). One that is never taken is stopped by `discard`."""
    if not _PRESTARTED:
        try:
            _PRESTARTED.append(Zygote(tuple(preload), keep_gpu=keep_gpu))
        except OSError:
            pass  # started again when needed, and any error said then


def take(preload: tuple[str, ...], *, keep_gpu: bool = False) -> Zygote:
    """A zygote with these preload modules: the prestarted one if it matches and runs, else a new one."""
    while _PRESTARTED:
        zygote = _PRESTARTED.pop()
        if zygote.preload == tuple(preload) and zygote.keep_gpu == keep_gpu and zygote.process.poll() is None:
            return zygote
        zygote.close(patience=0)
    return Zygote(tuple(preload), keep_gpu=keep_gpu)


def discard() -> None:
    """Stop a prestarted zygote nothing took (the command ended before it graded)."""
    while _PRESTARTED:
        _PRESTARTED.pop().close(patience=0)


def attach(channel: socket.socket, preload: tuple[str, ...], versions: dict[str, str], keep_gpu: bool) -> None:
    """In a trusted process the fork server just forked (grader.sandbox.forkserver): its handle on that fork server,
    over `channel`, for `attached`."""
    _ATTACHED[:] = [Zygote._attach(channel, preload, versions, keep_gpu)]


def attached() -> Zygote | None:
    """In a trusted process forked by a zygote (`Zygote.start_trusted`), the handle on that zygote; else None."""
    return _ATTACHED[0] if _ATTACHED else None


class Trusted:
    """A trusted grader process forked by a zygote of its own, as a process object (what multiprocessing's pool
    of this package expects: start, pid, sentinel, is_alive, join, kill, exitcode).

    `target(*args)` runs in it; a `multiprocessing.connection.Connection` in `args` reaches it as the same
    connection (its descriptor is passed along). The zygote is stopped with the process.
    """

    def __init__(self, preload: tuple[str, ...], target: Any, args: tuple, *, keep_gpu: bool = False) -> None:
        self.preload, self.keep_gpu, self.target, self.args = preload, keep_gpu, target, args
        self.zygote: Zygote | None = None
        self.pid: int | None = None
        self.sentinel: int | None = None
        self._code: int | None = None

    def start(self) -> None:
        self.zygote = take(self.preload, keep_gpu=self.keep_gpu)
        try:
            self.pid = self.zygote.start_trusted(self.target, self.args)
            self.sentinel = os.pidfd_open(self.pid)
        except BaseException:
            self.zygote.close()
            raise

    def is_alive(self) -> bool:
        import select

        if self.sentinel is None or self._code is not None:
            return False
        return not select.select([self.sentinel], [], [], 0)[0]

    def join(self, timeout: float | None = None) -> None:
        import select

        if self.sentinel is None or self._code is not None:
            return
        if select.select([self.sentinel], [], [], timeout)[0]:
            self._finish()

    def kill(self) -> None:
        if self.pid is not None and self._code is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    @property
    def exitcode(self) -> int | None:
        return self._code

    def _finish(self) -> None:
        status = self.zygote.exit_status(self.pid, timeout=5) if self.zygote is not None else None
        self._code = status if status is not None else -signal.SIGKILL
        os.close(self.sentinel)
        self.sentinel = None
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None


class Descriptor(int):
    """In a trusted process's arguments: a connection of its parent's, passed as this descriptor."""


def environment(home: Path, tmp: Path, *, keep_gpu: bool = False) -> dict[str, str]:
    """The whole environment of a sandboxed process: nothing of the grader's own (tokens, paths) leaks in."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        tflog.LEVEL: tflog.level(),  # TensorFlow's log lines are not the submission's output (see grader.tflog)
        ONEDNN: "0",
        "KERAS_HOME": str(home / ".keras"),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(tmp),
    }
    if not keep_gpu:
        env["CUDA_VISIBLE_DEVICES"] = "-1"  # the grader trains; submitted code needs no GPU
    return env


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return "(none)"

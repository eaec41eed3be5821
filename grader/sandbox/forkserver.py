"""The fork server's own process (see grader.sandbox.zygote, the grader's handle on it): run as
`python -I -m grader.sandbox.forkserver`, it imports the preload modules, then serves the grader's
requests over its control socket and the trusted processes' over their channels: fork a sandbox, fork a
trusted process, wait for one, sweep what the sandboxes left. It is a child subreaper, and kills every
process it forked when the grader's control socket closes.
"""

from __future__ import annotations

import importlib
import os
import pickle
import selectors
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grader import orphans
from grader.sandbox.zygote import Descriptor, attach, receive, send

_VERSIONS: dict[str, str] = {}  # the preload modules' versions, for the sandboxes' and trusted processes' replies


def main(argv: list[str]) -> int:
    started = time.monotonic()  # the same clock as the grader's: it times this start-up in its own terms
    from grader import heap

    heap.pause()
    control = socket.socket(fileno=int(argv[0]))
    if not orphans.die_with_parent(int(argv[1])):  # its grader is gone already: nothing to serve
        return 0

    signal.signal(signal.SIGINT, signal.default_int_handler)  # a batch worker ignores it, and children inherit that
    orphans.become_reaper()  # whatever a sandbox started and orphaned comes here, where _sweep finds it
    from grader.sandbox.isolation import make_undumpable

    make_undumpable()
    versions = {}
    from grader import optional

    with optional.hidden():  # what Keras would import for features no sandbox needs; a submission still may
        for name in argv[2:]:
            module = importlib.import_module(name)
            versions[name] = getattr(module, "__version__", "")
    from grader.sandbox import confine, worker  # noqa: F401 - imported here: a confined child may not read the grader's files

    heap.settle()  # what is imported now stays out of every collection in the children: none walks (and copies) it
    _VERSIONS.update(versions)
    send(control, {"versions": versions, "times": {"main": started, "ready": time.monotonic()}})
    statuses: dict[int, int] = {}
    trusted: set[int] = set()  # the trusted processes forked: a sandbox's sweep spares them
    started: dict[socket.socket, list[int]] = {}  # the trusted processes each channel asked for
    me = os.getpid()
    channels = selectors.DefaultSelector()  # the grader's control socket, and a channel per trusted process
    channels.register(control, selectors.EVENT_READ)
    while True:
        for key, _ in channels.select():
            sock = key.fileobj
            try:
                request, fds = receive(sock)
            except OSError:
                request, fds = None, []
            if request is None and sock is control:  # the grader closed it, or died: nothing it started may outlive it
                _sweep(statuses)
                return 0
            if request is None:  # a trusted process is gone: what it had started goes with it
                channels.unregister(sock)
                sock.close()
                for pid in started.pop(sock, []):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                continue
            _reap(statuses)
            if request["op"] == "fork":
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(control, fds, request, me)  # never returns
                for fd in fds:
                    os.close(fd)
                send(sock, {"pid": pid})
            elif request["op"] == "trusted":
                mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    mine.close()
                    _trusted(theirs, fds, tuple(argv[2:]), bool(request.get("keep_gpu")), me)  # never returns
                theirs.close()
                for fd in fds:
                    os.close(fd)
                trusted.add(pid)
                started.setdefault(sock, []).append(pid)
                channels.register(mine, selectors.EVENT_READ)
                send(sock, {"pid": pid})
            elif request["op"] == "sweep":
                send(sock, {"killed": _sweep(statuses, spare=trusted)})
            elif request["op"] == "wait":
                send(sock, {"status": _wait(request["pid"], request.get("timeout", 10), statuses)})


def _trusted(channel: socket.socket, fds: list[int], preload: tuple[str, ...], keep_gpu: bool, zygote: int) -> None:
    """Become a trusted grader process: take the job, environment and arguments the grader sends, then run it.

    Its descriptors are the job's pipe, the grader's stderr (as 2), the connections the job passes along, and
    its own channel to the zygote, for its sandboxes.
    """
    code = 70
    try:
        if not orphans.die_with_parent(zygote):
            return
        boot, stderr, *passed = fds
        os.dup2(stderr, 2)
        keep = sorted({0, 1, 2, boot, channel.fileno(), *passed})
        start = 3
        for fd in keep[3:] + [1 << 16]:
            os.closerange(start, fd)
            start = fd + 1
        with socket.socket(fileno=boot) as pipe:
            job = pickle.loads(_read_all(pipe))
        from multiprocessing.connection import Connection

        given = dict(zip(job["keep"], passed))
        args = tuple(Connection(given[a]) if isinstance(a, Descriptor) else a for a in job["args"])
        os.environ.clear()
        os.environ.update(job["env"])
        os.chdir(job["cwd"])
        sys.path[:] = job["path"]
        tempfile.tempdir = None
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader stops it (see grader.grading.pool)
        attach(channel, preload, dict(_VERSIONS), keep_gpu)
        job["target"](*args)
        code = 0
    except BaseException:  # noqa: BLE001 - nothing may propagate back into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _read_all(sock: socket.socket) -> bytes:
    head = b""
    while len(head) < 8:
        more = sock.recv(8 - len(head))
        if not more:
            raise EOFError("the grader closed the job's pipe")
        head += more
    size, body = int.from_bytes(head, "big"), bytearray()
    while len(body) < size:
        more = sock.recv(min(size - len(body), 1 << 20))
        if not more:
            raise EOFError("the grader closed the job's pipe")
        body += more
    return bytes(body)


def _children() -> list[int]:
    from grader import processes

    me = os.getpid()
    return [pid for pid, _, parent in processes.table() if parent == me]


def _sweep(statuses: dict[int, int], spare: set[int] = frozenset()) -> int:
    killed = 0
    _reap(statuses)  # the children that have exited already (a sandbox closed, a worker stopped) need no killing
    for _ in range(20):  # killing a parent can re-parent its children here: repeat until none are left
        children = [pid for pid in _children() if pid not in statuses and pid not in spare]
        if not children:
            break
        for pid in children:
            for kill in (lambda p: os.killpg(p, signal.SIGKILL), lambda p: os.kill(p, signal.SIGKILL)):
                try:
                    kill(pid)
                except (ProcessLookupError, PermissionError):
                    pass
            killed += 1
        time.sleep(0.05)
        _reap(statuses)
    return killed


def _reap(statuses: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        statuses[pid] = _code(status)


def _wait(pid: int, timeout: float, statuses: dict[int, int]) -> int | None:
    deadline = time.monotonic() + timeout
    while pid not in statuses:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return statuses.pop(pid, None)
        if done:
            return _code(status)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)
    return statuses.pop(pid)


def _code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _child(control: socket.socket, fds: list[int], request: dict[str, Any], zygote: int) -> None:
    """Become a sandbox: a new session, a fresh directory and environment, limits, then serve."""
    code = 70
    try:
        if not orphans.die_with_parent(zygote):  # the keeper dies with the zygote, and its init and worker with it
            return
        read_fd, write_fd = fds
        control.close()
        os.setsid()
        workdir = Path(request["workdir"])
        log = os.open(workdir / "output.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        keep = sorted({0, 1, 2, read_fd, write_fd})
        start = 3
        for fd in keep[3:] + [1 << 16]:
            os.closerange(start, fd)
            start = fd + 1
        os.chdir(workdir / "home")
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None
        from grader.sandbox import confine, worker

        def serve() -> int:
            worker.limit(*(int(v) for v in request["limits"].split(",")))
            return worker.serve(read_fd, write_fd, dict(_VERSIONS))

        code = confine.enter(request.get("confinement") or {}, serve, (read_fd, write_fd))
    except BaseException:  # noqa: BLE001 - nothing may propagate back into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    from grader.datastack import roomy

    status = roomy(main, sys.argv[1:])  # its children inherit the room: the sandboxes, the workers, the training
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # it holds nothing to save, and tearing down an interpreter with TensorFlow loaded takes a second

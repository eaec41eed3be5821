"""The trust boundary: runs submitted code in a separate, resource-limited process.

The child is forked from a zygote (zygote.py), a fresh `python -I` interpreter; it runs in its own
session (process group), with a private temporary working directory, a scrubbed environment and
rlimits on CPU time, address space and file size. Its stdout and stderr go to a file in that directory. The grader talks to it over two
pipes (protocol.py) and puts a wall-clock deadline on every answer; a child that misses one, dies
or garbles the channel is killed, and the failure becomes a `SandboxFault` for the check in hand.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader import scratch
from grader import processes
from grader.sandbox import cgroups, confine, isolation, protocol
from grader.trusted import threads
from grader.assignment.spec import Limits
from grader.submission.files import copy_files, read_files
from grader.sandbox.zygote import Zygote, environment

MAX_ANSWER_BYTES = 256 << 20


@dataclass
class SandboxFault(Exception):
    """The sandboxed process failed to answer: it hung, died, flooded or garbled its channel."""

    kind: str  # timeout | crash | memory | output | cpu | protocol | grader
    message: str
    output: str = ""

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Reply:
    """One answer from the sandbox: its header and arrays, and how long it took."""

    header: dict[str, Any]
    arrays: dict[str, np.ndarray]
    seconds: float


class Sandbox:
    """One sandboxed interpreter, forked from `zygote` (its preload modules already imported); start it,
    send it requests, close it."""

    def __init__(self, limits: Limits, zygote: Zygote, *, keep_gpu: bool = False, protect: tuple[Path, ...] = (),
                 cpus: float | None = None) -> None:
        self.limits = limits
        self.cpus = cpus if cpus is not None else threads.share()  # cores' worth of CPU time for all its processes
        self.zygote = zygote
        self.keep_gpu = keep_gpu
        self.protect = protect
        self.workdir = Path(tempfile.mkdtemp(prefix=scratch.prefix("sandbox")))
        self.pid: int | None = None
        self.group: cgroups.Group | None = None
        self.available = isolation.probe()
        self.isolation: dict[str, Any] = {}
        self.output_dropped = 0  # characters the submission printed past output_kb, as the child counted them
        self._own: set[int] = set()
        self._bounded = False  # whether home/ and tmp/ are each a tmpfs of limits.disk_mb, in its mount namespace

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Start the child; does not wait for it to be ready (see `wait_ready`)."""
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        (self.workdir / "home").mkdir(mode=0o700)  # other sandboxes of a batch may not look in
        (self.workdir / "tmp").mkdir(mode=0o700)
        os.chmod(self.workdir, 0o711)  # the sandbox's own uid must reach home/ and tmp/, and list nothing else
        confinement, self.group = isolation.plan(self.available, workdir=self.workdir, protect=self.protect,
                                                 memory_bytes=self.limits.memory_mb << 20, max_pids=self.limits.max_processes,
                                                 cpus=self.cpus, disk_mb=self.limits.disk_mb)
        self._bounded = bool(confinement["space_mb"])
        self.isolation = isolation.applied(self.available, self.group)
        self.isolation["disk"] = (f"home and tmp: a tmpfs of {self.limits.disk_mb} MB each" if self._bounded else
                                  f"per file only ({self.limits.file_mb} MB): no mount namespace")
        try:
            self.pid = self.zygote.fork(to_child_r, from_child_w, workdir=self.workdir, env=self._environment(),
                                        limits=self._limits_arg(), confinement=confinement,
                                        timeout=self.limits.startup_seconds)
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        return self

    def wait_ready(self) -> dict[str, str]:
        """Block until the child has imported its preloaded modules; a failure here is the grader's."""
        reply = self._receive(self.limits.startup_seconds, stage="starting the sandbox")
        # The keeper, the init and the worker: nothing submitted has run yet.
        self._own = self.group.members() if self.group is not None else {self.pid, *processes.descendants(self.pid)}
        return reply.header.get("versions", {})

    def close(self) -> None:
        """Kill the child's whole process group and remove its working directory."""
        if self.pid is not None:
            self._kill()
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.pid = None
        if self.group is not None:
            self.group.remove()
            self.group = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def stop(self) -> None:
        """Kill the child's processes without waiting for them; a thread waiting for its answer then sees it gone."""
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.group is not None:
            self.group.kill()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as handle:
                return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False

    # -- requests ---------------------------------------------------------------------------------
    def copy_in(self, files: dict[str, Path], module: str) -> Path:
        """Copy the submission's files (as `submission.sandbox_files` chose them) in; return the module's path there."""
        target = self.workdir / "home" / "submission"
        if not self._bounded:
            target.mkdir(exist_ok=True)
            copy_files(files, target)
            return target / module
        # Its home is a tmpfs of its own mount namespace: the sandbox writes the files itself, before any of them runs.
        names, contents = {}, {}
        for i, (name, data) in enumerate(read_files(files)):
            names[f"f{i}"], contents[f"f{i}"] = name, np.frombuffer(data, dtype=np.uint8)
        reply = self.request({"op": "files", "into": str(target), "names": names}, contents,
                             timeout=self.limits.startup_seconds, stage="copying the submission in")
        if not reply.header.get("ok"):
            raise SandboxFault("grader", f"The sandbox could not take the submission's files: {reply.header.get('error')}")
        return target / module

    def request(self, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None, *, timeout: float, stage: str) -> Reply:
        """Send one request and wait at most `timeout` seconds for its answer."""
        if not self.alive:
            raise SandboxFault("crash", f"The sandbox had already stopped before {stage}")
        if header.get("op") == "load":  # printing past output_kb is dropped by the child, never fatal
            header = {**header, "output_chars": int(self.limits.output_kb) * 1024}
        try:
            protocol.send(self._to_child, header, arrays)
        except OSError as exc:
            raise self._fault(f"Could not send the request for {stage}: {exc}", stage)
        try:
            return self._receive(timeout, stage=stage)
        finally:
            self._stop_others()

    def _stop_others(self) -> None:
        """Kill what the submission started and left running once its request has ended, whatever session it made:
        the other members of its group, or without one, the keeper's other descendants (in a pid namespace, an
        orphan is re-parented to the sandbox's init, so every process of the sandbox is one of them)."""
        if self.pid is None or not self._own:
            return
        for _ in range(50):  # a process may fork while its siblings are killed: until none is left
            if self.group is not None:
                if not self.group.stop_others(self._own):
                    return
                continue
            others = processes.descendants(self.pid) - self._own
            if not others:
                return
            for pid in others:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def output_size(self) -> int:
        """Bytes the submission has printed so far (what its output file holds)."""
        try:
            return (self.workdir / "output.log").stat().st_size
        except OSError:
            return 0

    def output_since(self, offset: int, limit: int) -> tuple[str, int]:
        """What the submission printed after `offset` bytes: at most `limit` bytes of it as text, and the bytes
        after those, not read."""
        try:
            with open(self.workdir / "output.log", "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(offset)
                data = handle.read(max(0, min(limit, size - offset)))
        except OSError:
            return "", 0
        return data.decode("utf-8", errors="replace"), max(0, size - offset - len(data))

    def output(self, limit: int | None = None) -> str:
        """What the submission printed so far, cut to `limit` bytes with a note."""
        limit = limit or self.limits.output_kb * 1024
        path = self.workdir / "output.log"
        try:
            size = path.stat().st_size
            with open(path, "rb") as handle:
                data = handle.read(limit)
        except OSError:
            return ""
        text = data.decode("utf-8", errors="replace")
        if size > limit:
            text += f"\n[... output cut: {size:,} bytes in all, the first {limit:,} shown]"
        return text

    # -- internals -----------------------------------------------------------------------------------
    def _receive(self, timeout: float, *, stage: str) -> Reply:
        started = time.monotonic()
        try:
            header, arrays = protocol.receive(self._from_child, deadline=started + timeout, max_bytes=MAX_ANSWER_BYTES)
        except protocol.Timeout:
            self._kill()
            raise SandboxFault("timeout", f"{stage} did not finish within {timeout:g} seconds, so it was stopped", self.output())
        except protocol.Closed:
            raise self._fault("", stage)
        except protocol.ProtocolError as exc:
            self._kill()
            raise SandboxFault("protocol", f"{stage} sent back data the grader cannot read ({exc})", self.output())
        dropped = header.get("output_dropped")
        if isinstance(dropped, int) and not isinstance(dropped, bool) and dropped > self.output_dropped:
            self.output_dropped = dropped
        return Reply(header, arrays, time.monotonic() - started)

    def _fault(self, prefix: str, stage: str) -> SandboxFault:
        code = self._exit_status(timeout=5)
        killed = self._kill()  # the whole group goes, whether the child itself is gone or not
        code = killed if code is None else code
        if code == confine.SETUP_FAILED:
            raise SandboxFault("grader", f"the sandbox's isolation could not be set up ({_tail_line(self.output())}); "
                                         "this is a fault of the grader, not of the submission")
        kind, why = _explain_exit(code, self.limits)
        if self.group is not None and self.group.oom_killed():  # the kernel says so: no guessing from the signal
            kind, why = "memory", (f"used more than its {self.limits.memory_mb} MB of memory and was stopped by "
                                   "the system")
        return SandboxFault(kind, prefix or f"The process running your code {why} during {stage}", self.output())

    def _exit_status(self, timeout: float) -> int | None:
        return self.zygote.exit_status(self.pid, timeout=timeout) if self.pid else None

    def _kill(self) -> int | None:
        """Kill the child's process group; return the child's exit status if this reaped it."""
        if self.pid is None:
            return None
        self.stop()
        return self._exit_status(timeout=10)  # the zygote reaps it: once this returns, it is gone

    def _environment(self) -> dict[str, str]:
        return environment(self.workdir / "home", self.workdir / "tmp", keep_gpu=self.keep_gpu)

    def _limits_arg(self) -> str:
        """CPU seconds, address space (unless a control group bounds memory), file size and processes (when the
        sandbox has a uid of its own, or a user namespace, where the kernel counts its processes apart from the
        grader's), applied by the child before it serves a request."""
        limits = self.limits
        memory = 0 if self.group is not None else int(limits.memory_mb) << 20
        own_count = self.available.get("uid") or (self.available.get("namespaces") and os.getuid() != 0)
        processes = limits.max_processes if own_count else 0
        return f"{int(limits.cpu_seconds)},{memory},{int(limits.file_mb) << 20},{processes}"


def _tail_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def _explain_exit(code: int | None, limits: Limits) -> tuple[str, str]:
    """Turn a child's exit status into a fault kind and words for a student."""
    if code is None:
        return "crash", "stopped answering"
    if code >= 0:
        return "crash", f"exited with status {code} (sys.exit or os._exit ends the process the grader talks to)"
    sig = -code
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
    if sig == signal.SIGXCPU:
        return "cpu", f"used more than its {limits.cpu_seconds} s of CPU time and was stopped ({name})"
    if sig == signal.SIGXFSZ:
        return "output", f"wrote more than {limits.file_mb} MB (printed output or a file) and was stopped ({name})"
    if sig == signal.SIGKILL:
        return "memory", f"was killed ({name}), most likely for using too much memory (limit {limits.memory_mb} MB)"
    if sig in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS):
        return "crash", f"crashed ({name}); this often means it ran out of memory (limit {limits.memory_mb} MB)"
    return "crash", f"was ended by {name}"

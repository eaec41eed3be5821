"""The trust boundary: runs submitted code in a separate, resource-limited process.

The child is a fresh `python -I` interpreter in its own session (process group), with a private
temporary working directory, a scrubbed environment and rlimits on CPU time, address space and
file size. Its stdout and stderr go to a file in that directory. The grader talks to it over two
pipes (protocol.py) and puts a wall-clock deadline on every answer; a child that misses one, dies
or garbles the channel is killed, and the failure becomes a `SandboxFault` for the check in hand.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader import protocol
from grader.spec import Limits

MAX_ANSWER_BYTES = 256 << 20


@dataclass
class SandboxFault(Exception):
    """The sandboxed process failed to answer: it hung, died, flooded or garbled its channel."""

    kind: str  # timeout | crash | memory | output | cpu | protocol
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
    """One sandboxed interpreter; start it, send it requests, close it."""

    def __init__(self, limits: Limits, preload: tuple[str, ...] = (), *, keep_gpu: bool = False) -> None:
        self.limits = limits
        self.preload = preload
        self.keep_gpu = keep_gpu
        self.workdir = Path(tempfile.mkdtemp(prefix="grader-sandbox-"))
        self.process: subprocess.Popen | None = None
        self.versions: dict[str, str] = {}
        self._started = 0.0

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Start the child; does not wait for it to be ready (see `wait_ready`)."""
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        self._log = open(self.workdir / "output.log", "wb")
        (self.workdir / "home").mkdir()
        (self.workdir / "tmp").mkdir()
        self._started = time.monotonic()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-m", "grader.worker", str(to_child_r), str(from_child_w), self._limits_arg(), *self.preload],
                cwd=self.workdir / "home",
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(to_child_r, from_child_w),
                start_new_session=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        return self

    def wait_ready(self) -> dict[str, str]:
        """Block until the child has imported its preloaded modules; a failure here is the grader's."""
        reply = self._receive(self.limits.startup_seconds, stage="starting the sandbox")
        self.versions = reply.header.get("versions", {})
        return self.versions

    def close(self) -> None:
        """Kill the child's whole process group and remove its working directory."""
        if self.process is not None:
            self._kill()
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._log.close()
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- requests ---------------------------------------------------------------------------------
    def copy_in(self, source: Path) -> Path:
        """Copy a submission file (and the .py files beside it) into the sandbox's directory."""
        target = self.workdir / "home" / "submission"
        target.mkdir(exist_ok=True)
        for sibling in source.parent.glob("*.py"):
            if sibling.is_file() and sibling.stat().st_size < (8 << 20):
                shutil.copy(sibling, target / sibling.name)
        shutil.copy(source, target / source.name)
        return target / source.name

    def request(self, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None, *, timeout: float, stage: str) -> Reply:
        """Send one request and wait at most `timeout` seconds for its answer."""
        if not self.alive:
            raise SandboxFault("crash", f"the sandbox had already stopped before {stage}")
        try:
            protocol.send(self._to_child, header, arrays)
        except OSError as exc:
            raise self._fault(f"could not send the request for {stage}: {exc}", stage)
        return self._receive(timeout, stage=stage)

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
        return Reply(header, arrays, time.monotonic() - started)

    def _fault(self, prefix: str, stage: str) -> SandboxFault:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
            code = self.process.returncode
        self._kill()
        kind, why = _explain_exit(code, self.limits)
        return SandboxFault(kind, prefix or f"the process running your code {why} during {stage}", self.output())

    def _kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def _environment(self) -> dict[str, str]:
        home = self.workdir / "home"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(self.workdir / "tmp"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_ENABLE_ONEDNN_OPTS": "0",
            "KERAS_HOME": str(home / ".keras"),
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(self.workdir / "tmp"),
        }
        if not self.keep_gpu:
            env["CUDA_VISIBLE_DEVICES"] = "-1"  # the grader trains; submitted code needs no GPU
        return env

    def _limits_arg(self) -> str:
        """CPU seconds, address space and file size, applied by the worker before anything else."""
        limits = self.limits
        return f"{int(limits.cpu_seconds)},{int(limits.memory_mb) << 20},{int(limits.file_mb) << 20}"


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

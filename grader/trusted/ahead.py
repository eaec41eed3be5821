"""The expected training, started ahead: beside the checks that decide whether it is the training to run.

Most submissions build the expected model and compile it with the expected settings, so the training
the accuracy check will ask for is known, most of the time, before any check has run. A single grade
forks a process that starts that training as soon as Keras is imported, while the sandbox runs the
submitted functions on the other core. When the training check comes, it computes its own training's
key (grader.trusted.memo.key: the layers, settings, data, seed, budget and environment) and takes the
training ahead if the key is the same, else stops it and trains the submission's model itself. A
training's results are a function of its key (that is what lets memo reuse them), so either way the
grade is the one a training of its own gives; tests/test_ahead.py compares them.

The process is forked only while TensorFlow has run no operation in the grader (a fork is not safe
after that, and then nothing is started ahead). It runs the grader's trusted code only, never the
submission's, holds nothing the grader does not, and dies with the grader. Where it is given one, it
first sends what a check can ask for before the training ends: the expected layers re-initialised,
with their outputs (grader.checks.models), so that the grading process builds no model of its own
while the training runs; then its key as soon as it has it, then the training packed as memo keeps
it (a JSON record with its checksum, an npz).
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import struct
import sys
import threading
import time
import warnings
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Callable

from grader import orphans, timings

if TYPE_CHECKING:
    from grader.trusted.architecture import Layer
    from grader.trusted.compilation import CompileSettings
    from grader.trusted.memo import Prepared
    from grader.assignment.spec import Assignment, Limits, Training

_LENGTH = struct.Struct(">Q")
_UNREAD = object()
Plan = Callable[[], "tuple[tuple[Layer, ...], CompileSettings]"]
# What the process sends before it trains, given the layers it trains: a JSON-able header and an npz's bytes.
Initialised = Callable[["tuple[Layer, ...]"], "tuple[dict, bytes]"]


class Ahead:
    """A training started ahead in a process of its own: take it when its key is the one needed, else stop it."""

    def __init__(self, pid: int, fd: int, deadline: float, reaper: Any = None) -> None:
        self.pid, self._fd, self._deadline = pid, fd, deadline
        self._reaper = reaper  # the fork server that forked it, which reaps it (None: this process forked it)
        self._buffer = b""
        self._first: bytes | None = None  # the key's frame, read while looking for the initialised model's
        self._initialised: Any = _UNREAD

    def initialised(self, timeout: float = 30) -> tuple[dict, dict[str, Any]] | None:
        """What it sent before training, if anything, within `timeout` s: the header (see grader.checks.models
        .initialised) and the arrays; None if it sent none, sent it broken, or has not sent it yet."""
        if self._initialised is _UNREAD:
            try:
                self._initialised = self._read_initialised(time.monotonic() + timeout)
            except TimeoutError:
                return None  # still to come: `take` skips it
        return self._initialised

    def _read_initialised(self, until: float) -> tuple[dict, dict[str, Any]] | None:
        import io

        import numpy as np

        header = self._frame(until)
        if header is None:
            if self.pid and time.monotonic() >= until and time.monotonic() < self._deadline:
                raise TimeoutError
            return None
        try:
            message = json.loads(header)
        except ValueError:
            return None
        if not isinstance(message, dict) or "initialised" not in message:
            self._first = header  # sent none: this is the key's frame
            return None
        raw = self._frame()
        if raw is None or not isinstance(message["initialised"], dict):
            return None
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
                return message["initialised"], {name: arrays[name] for name in arrays.files}
        except (ValueError, OSError, EOFError):
            return None

    def take(self, name: str) -> tuple[bytes, bytes, bool] | None:
        """The packed training (record, arrays, stopped early) if its key is `name`, once it has finished; else None,
        with the process stopped (its key is another, it failed, or it ran past its deadline)."""
        try:
            if self._initialised is _UNREAD:
                self._initialised = self._read_initialised(self._deadline)  # sent first, not asked for: skipped
            header, self._first = (self._first or self._frame()), None
            if header is None or json.loads(header).get("key") != name:
                return None
            done, raw = self._frame(), self._frame()
            if done is None or raw is None:
                return None
            header = json.loads(done)
            for stage in header.get("timings", []):
                timings.add(stage["stage"], *_span(stage), side="ahead", depth=stage["depth"])
            return header["record"].encode(), raw, bool(header["stopped_early"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        finally:
            self.stop()

    @property
    def running(self) -> bool:
        """Whether the process has not been taken or stopped yet."""
        return bool(self.pid)

    def stop(self) -> None:
        """Stop the process if it still runs, and reap it; taking it afterwards gives None."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self._reaper is not None:
                self._reaper.exit_status(self.pid, timeout=10)
            else:
                os.waitpid(self.pid, 0)
            os.close(self._fd)
            self.pid = 0

    def _frame(self, until: float | None = None) -> bytes | None:
        """The next length-prefixed frame, or None at the end of the stream, past the deadline, or past `until`."""
        deadline = self._deadline if until is None else min(until, self._deadline)
        while True:
            if len(self._buffer) >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(self._buffer)
                if len(self._buffer) >= _LENGTH.size + size:
                    frame = self._buffer[_LENGTH.size:_LENGTH.size + size]
                    self._buffer = self._buffer[_LENGTH.size + size:]
                    return frame
            if not self.pid:
                return None
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                return None
            chunk = os.read(self._fd, 1 << 20)
            if not chunk:
                return None
            self._buffer += chunk


def applies(assignment: Assignment) -> bool:
    """Whether the assignment trains the model one of its checks describes, so that its training can start ahead."""
    kinds = {check.kind for check in assignment.checks}
    return "training" in kinds and "model" in kinds


def start(plan: Plan, data: Prepared, budget: Training, limits: Limits) -> Ahead | None:
    """Fork a process that trains what `plan()` says ((layers, settings)) on `data` within `budget`; None when
    TensorFlow has already run an operation in this process, or the process cannot be made."""
    if not fork_is_safe():
        return None
    from grader.trusted import memo, training  # noqa: F401 - imported here, before the fork, not in the child

    _ = data.digest  # hashed once, before the fork, for both processes
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the grader's threads are not needed in the child
            pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # the child: never returns
        status = 1
        try:
            os.close(read_fd)
            _train(plan, data, budget, limits, write_fd, parent)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return Ahead(pid, read_fd, time.monotonic() + 2 * (budget.max_seconds + 60))


def start_beside(forks: Any, train: Callable[..., None], args: tuple, budget: Training) -> Ahead | None:
    """Have the session's fork server fork the process, a sibling of this one: `train(*args, fd)` runs there and
    writes its frames to `fd` (see `train_into`). None if it cannot be started."""
    import multiprocessing

    reader, writer = multiprocessing.Pipe(duplex=False)
    try:
        pid = forks.start_trusted(train, (*args, writer))
    except Exception:  # noqa: BLE001 - nothing started ahead: the check trains in its turn
        reader.close()
        writer.close()
        return None
    writer.close()
    fd = os.dup(reader.fileno())
    reader.close()
    return Ahead(pid, fd, time.monotonic() + 2 * (budget.max_seconds + 60), reaper=forks)


def train_into(plan: Plan, data: Prepared, budget: Training, limits: Limits, fd: int,
               initialised: Initialised | None = None) -> None:
    """In a process a fork server forked for it (`start_beside`): train what `plan()` says and write the frames,
    after what `initialised(layers)` gives, if given (see `Ahead.initialised`)."""
    _train(plan, data, budget, limits, fd, 0, initialised)


def fork_is_safe() -> bool:
    """Whether TensorFlow, if imported, has not started running operations in this process (its pools would not
    survive a fork)."""
    if "tensorflow" not in sys.modules:
        return False  # nothing to gain: the training would import it too
    from tensorflow.python.eager import context

    return not getattr(context.context(), "_initialized", True)


def _train(plan: Plan, data: Prepared, budget: Training, limits: Limits, fd: int, parent: int,
           initialised: Initialised | None = None) -> None:
    if not orphans.die_with_parent(parent):  # dies with the grader
        return  # it died before the signal was set
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # not the grader's handlers: the grader stops it
        signal.signal(signum, signal.SIG_DFL)
    try:
        signal.set_wakeup_fd(-1)  # the grader's, which would count this process's signals as its own
    except ValueError:
        pass
    os.closerange(3, fd)  # the grader's descriptors, its sandbox's channel among them: held open here, a sandbox
    os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))  # that exits would not be seen to have gone
    timings.forked()  # what this process records is sent back, as stages of its own
    recorder = timings.current() or timings.begin(origin=0.0)  # timed even if the process that takes it began later
    frames = _Frames(fd)
    try:
        _train_and_send(plan, data, budget, limits, frames, recorder, initialised)
    finally:
        frames.close()


def _train_and_send(plan: Plan, data: Prepared, budget: Training, limits: Limits, frames: _Frames, recorder: Any,
                    initialised: Initialised | None) -> None:
    from grader.trusted import memo, training

    layers, settings = plan()
    if initialised is not None:
        with timings.stage("training ahead: the expected layers re-initialised, for the checks that ask early"):
            try:
                header, raw = initialised(layers)
            except Exception:  # noqa: BLE001 - the grading process builds its own, as it would without this
                header, raw = None, b""
        frames.send(json.dumps({"initialised": header}).encode())
        frames.send(raw)
    name, material = memo.key(layers, settings, data, budget)
    frames.send(json.dumps({"key": name}).encode())
    with timings.stage("training ahead: build, train and predict the expected model"):
        trained = training.train(layers, settings, data.x_train, data.y_train, data.x_test, data.y_test, budget, limits)
    if memo.trained_key(trained, settings, data, budget) != name:
        return  # not what the key says: nothing is sent, and the grader trains in its own turn
    record, raw = memo.pack(name, material, trained)
    stages = [{**asdict(s), "start": recorder.origin + s.start} for s in recorder.stages]  # monotonic, not relative
    frames.send(json.dumps({"record": record.decode(), "stopped_early": trained.stopped_early,
                            "timings": stages}).encode())
    frames.send(raw)


class _Frames:
    """Frames written to the grading process in order by a thread of their own: the training goes on while a frame
    larger than the pipe holds (the initialised model's weights) waits for the grading process to read it."""

    def __init__(self, fd: int) -> None:
        self._fd, self._queue = fd, queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="grader-ahead-frames", daemon=True)
        self._thread.start()

    def send(self, frame: bytes) -> None:
        self._queue.put(frame)

    def close(self) -> None:
        """Wait until every frame sent is written, or the grading process has stopped reading."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            try:
                _write(self._fd, frame)
            except OSError:  # the grading process is gone, or stopped this process's training
                return


def _write(fd: int, frame: bytes) -> None:
    view = memoryview(_LENGTH.pack(len(frame)) + frame)
    while view:
        view = view[os.write(fd, view):]


def _span(stage: dict) -> tuple[float, float]:
    """A stage the child recorded (its monotonic start, and its length) as monotonic start and end."""
    return stage["start"], stage["start"] + stage["seconds"]

"""How long each stage of one grade took, from the process's start: recorded as it happens, printed, stored.

One recorder per process, like logging's root logger: `begin()` starts it (the `grader` program does at
its start), and `stage(name)` marks a stage wherever it happens without a recorder being passed
through every call; with no recorder started, marking costs nothing and records nothing. Times are
on `time.monotonic()`'s clock, which every process of the machine shares, so the zygote and the
sandboxes can report when they were ready and their stages line up with the grader's.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterator

SIDES = ("grader", "zygote", "worker", "sandbox", "ahead")


@dataclass(frozen=True)
class Stage:
    """One timed stage: seconds from the process's start to its start, its length, who ran it, how deeply nested."""

    stage: str
    side: str
    start: float
    seconds: float
    depth: int = 0


class Timings:
    """The stages of one command, in the order they ended."""

    def __init__(self, origin: float | None = None) -> None:
        self.origin = process_start() if origin is None else origin
        self.stages: list[Stage] = []
        self._open = threading.local()

    @contextlib.contextmanager
    def stage(self, name: str, *, side: str = "grader") -> Iterator[None]:
        """Time the enclosed block as `name`; blocks opened inside it in the same thread are nested under it."""
        depth = getattr(self._open, "depth", 0)
        self._open.depth = depth + 1
        started = time.monotonic()
        try:
            yield
        finally:
            self._open.depth = depth
            self.add(name, started, time.monotonic(), side=side, depth=depth)

    def add(self, name: str, started: float, ended: float, *, side: str = "grader", depth: int | None = None) -> None:
        """Record a stage measured elsewhere (another process, another thread), from `started` to `ended` (monotonic)."""
        if side not in SIDES:
            raise ValueError(f"side {side!r}: expected one of {', '.join(SIDES)}")
        depth = getattr(self._open, "depth", 0) if depth is None else depth
        self.stages.append(Stage(name, side, round(started - self.origin, 3), round(max(0.0, ended - started), 3), depth))

    def to_dict(self) -> dict[str, Any]:
        """The stages as plain data for results.json: total so far, and how much of it no grader-side stage covers."""
        total = time.monotonic() - self.origin
        stages = sorted(self.stages, key=lambda s: (s.start, s.depth))
        covered = sum(s.seconds for s in stages if s.side == "grader" and s.depth == 0)
        return {"origin": "the process's start", "total": round(total, 3),
                "unaccounted": round(total - covered, 3), "stages": [asdict(s) for s in stages]}


_CURRENT: list[Timings] = []


def begin(origin: float | None = None) -> Timings:
    """Start recording this process's stages (from `origin`, by default the process's start) and return the recorder."""
    _CURRENT[:] = [Timings(origin)]
    return _CURRENT[0]


def ensure() -> Timings:
    """The recorder started by `begin`, or else one started now (grading called as a library, not as the program)."""
    return current() or begin(origin=time.monotonic())


def started_up() -> None:
    """Record the start-up: from the process's start to now (the interpreter, the grader's modules, the command line)."""
    recorder = current()
    if recorder is not None and not recorder.stages:
        recorder.add("start-up: the interpreter and the grader's modules", recorder.origin, time.monotonic(), depth=0)


def forked() -> None:
    """In a process just forked from this one: forget the stages recorded before the fork and how deeply they were
    nested, so that what it records from now on is its own (on the same origin, the parent's start)."""
    recorder = current()
    if recorder is not None:
        recorder.stages.clear()
        recorder._open = threading.local()


def current() -> Timings | None:
    """The recorder started by `begin`, if any."""
    return _CURRENT[0] if _CURRENT else None


@contextlib.contextmanager
def stage(name: str, *, side: str = "grader") -> Iterator[None]:
    """Time the enclosed block as `name` if a recorder was started; else just run it."""
    recorder = current()
    if recorder is None:
        yield
        return
    with recorder.stage(name, side=side):
        yield


def add(name: str, started: float, ended: float, *, side: str = "grader", depth: int | None = None) -> None:
    """Record a stage measured elsewhere, if a recorder was started."""
    recorder = current()
    if recorder is not None:
        recorder.add(name, started, ended, side=side, depth=depth)


def process_start() -> float:
    """When this process started, on time.monotonic()'s clock (from /proc/self/stat, to 10 ms); else now."""
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()
    return time.monotonic() - max(0.0, age)


def table(timings: dict[str, Any]) -> str:
    """The stages as a text table: when each started and how long it took, nested stages indented."""
    stages = timings.get("stages") or []
    width = max([len(s["stage"]) + 2 * s["depth"] for s in stages] + [5])
    lines = [f"{'start':>7} {'took':>7}  {'stage':<{width}}  side", f"{'s':>7} {'s':>7}"]
    for s in stages:
        name = "  " * s["depth"] + s["stage"]
        lines.append(f"{s['start']:7.2f} {s['seconds']:7.2f}  {name:<{width}}  {s['side']}")
    lines.append(f"total {timings['total']:.2f} s from the process's start; {timings['unaccounted']:.2f} s of it in no "
                 "grader-side stage (zygote and sandbox stages run beside the grader's)")
    return "\n".join(lines)

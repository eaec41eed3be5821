"""A control group per sandbox: memory and process-count limits on what it really uses, and a clean kill.

cgroup v2 is used when the grader's own group lets it enable the memory controller for groups
below it (a delegated subtree, or a container's root); otherwise cgroup v1's `memory` and `pids`
hierarchies when they are mounted and writable (hybrid hosts, as many CI machines); otherwise none,
and the sandbox falls back to an address-space rlimit. The sandboxed process joins its group
itself, before it runs anything submitted.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_COUNTER = itertools.count()


@dataclass
class Group:
    """One sandbox's control group(s): v2 has one folder, v1 one per controller."""

    version: int
    folders: tuple[Path, ...]

    @property
    def procs(self) -> list[str]:
        """The files a process writes its pid to in order to join."""
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this group for exceeding its memory limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for folder in self.folders:
            try:
                for line in (folder / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and value.strip() not in ("", "0"):
                        return True
            except OSError:
                continue
        return False

    def kill(self) -> None:
        """Kill every process in the group, however it detached itself."""
        if self.version == 2:
            try:
                (self.folders[0] / "cgroup.kill").write_text("1")
                return
            except OSError:
                pass
        for _ in range(50):
            pids = self._members()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left and delete the group's folders."""
        self.kill()
        for folder in self.folders:
            for _ in range(100):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # the last processes are still being torn down

    def _members(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders:
            try:
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return found


def detect() -> str | None:
    """'v2' or 'v1' if this process may create limited groups, else None."""
    if _v2_parent() is not None:
        return "v2"
    if _v1_folder("memory") is not None and _v1_folder("pids") is not None:
        return "v1"
    return None


def create(*, memory_bytes: int, max_pids: int) -> Group | None:
    """A new group with the given limits, or None if this machine does not let the grader make one."""
    name = f"grader-{os.getpid()}-{next(_COUNTER)}"
    parent = _v2_parent()
    if parent is not None:
        folder = parent / name
        try:
            folder.mkdir()
            (folder / "memory.max").write_text(str(memory_bytes))
            (folder / "memory.swap.max").write_text("0") if (folder / "memory.swap.max").exists() else None
            (folder / "pids.max").write_text(str(max_pids))
            return Group(2, (folder,))
        except OSError:
            Group(2, (folder,)).remove()
    memory, pids = _v1_folder("memory"), _v1_folder("pids")
    if memory is None or pids is None:
        return None
    group = Group(1, (memory / name, pids / name))
    try:
        for folder in group.folders:
            folder.mkdir()
        (memory / name / "memory.limit_in_bytes").write_text(str(memory_bytes))
        try:
            (memory / name / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        except OSError:
            pass  # no swap accounting: swap is not limited separately
        (pids / name / "pids.max").write_text(str(max_pids))
    except OSError:
        group.remove()
        return None
    return group


def _own_paths() -> dict[str, str]:
    """Controller (or '' for v2) -> this process's group path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    except (OSError, ValueError):
        pass
    return paths


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, file system type, super options) of every cgroup mount."""
    found = []
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                found.append((fields[4], tail[0], set(tail[2].split(","))))
    except OSError:
        pass
    return found


def _v2_parent() -> Path | None:
    path = _own_paths().get("")
    mount = next((point for point, kind, _ in _mounts() if kind == "cgroup2"), None)
    if path is None or mount is None:
        return None
    folder = Path(mount) / path.lstrip("/")
    try:
        if "memory" not in (folder / "cgroup.controllers").read_text().split():
            return None
        enabled = (folder / "cgroup.subtree_control").read_text().split()
        if "memory" not in enabled or "pids" not in enabled:
            (folder / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def _v1_folder(controller: str) -> Path | None:
    path = _own_paths().get(controller)
    mount = next((point for point, kind, options in _mounts() if kind == "cgroup" and controller in options), None)
    if path is None or mount is None:
        return None
    folder = Path(mount) / path.lstrip("/")
    return folder if os.access(folder, os.W_OK) else None

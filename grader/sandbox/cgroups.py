"""A control group per sandbox: bounds on the memory, processes and CPU it really uses, and a clean kill.

cgroup v2 is used when the grader's own group lets it enable the memory, pids and cpu controllers
for groups below it (a delegated subtree, or a container's root); otherwise cgroup v1's `memory`,
`pids` and `cpu` hierarchies when they are mounted and writable (hybrid hosts, as many CI
machines); otherwise none, and the sandbox falls back to rlimits. The sandboxed process joins its
group itself, before it runs anything submitted.

The CPU bound is a quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us`) on the whole group: however many
processes and sessions a submission starts, together they get at most the cores its grading
worker was given. A process in a cpu group of its own is also out of the kernel's autogroup
scheduling, where every new session weighed as much as the grader's whole session.

Groups are named `grader-<pid of the grader>-<n>` (`grader-<pid>-<run's tag>_<n>` in a run of the command line,
whose end removes the groups its killed workers left: `remove_run`); a group whose grader is gone (killed before
it could remove it) is removed by the next grader that makes one beside it.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from grader import scratch

_COUNTER = itertools.count()
CPU_PERIOD_US = 100_000
CPU_WEIGHT = 50  # v2 cpu.weight (default 100): a sandbox weighs half a grader's process when the cores are busy
CPU_SHARES = 512  # the same for v1 cpu.shares (default 1024)
STALE_SECONDS = 60  # an empty group this old whose grader is not seen is left over, not about to be joined
_CONTROLLERS_V1 = ("memory", "pids", "cpu")


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
            pids = self.members()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)

    def stop_others(self, keep: set[int]) -> int:
        """Kill every process of the group but `keep` (the sandbox's own); how many there were."""
        others = self.members() - keep
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return len(others)

    def remove(self) -> None:
        """Kill what is left and delete the group's folders."""
        self.kill()
        for folder in self.folders:
            for _ in range(300):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # the last processes are still being torn down

    def members(self) -> set[int]:
        """The pids (thread-group ids) of the processes in the group, as this process sees them."""
        found: set[int] = set()
        for folder in self.folders:
            try:
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return found


def detect() -> str | None:
    """'v2' or 'v1' if this process may create groups bounding memory, processes and CPU, else None."""
    if _v2_parent() is not None:
        return "v2"
    if all(_v1_folder(controller) is not None for controller in _CONTROLLERS_V1):
        return "v1"
    return None


def create(*, memory_bytes: int, max_pids: int, cpus: float) -> Group | None:
    """A new group with the given limits (`cpus`: cores' worth of CPU time), or None if this machine does not let
    the grader make one."""
    name = f"grader-{os.getpid()}-{scratch.tag() + '_' if scratch.tag() else ''}{next(_COUNTER)}"
    quota = max(1000, int(cpus * CPU_PERIOD_US))
    parent = _v2_parent()
    if parent is not None:
        _remove_stale(parent)
        folder = parent / name
        try:
            folder.mkdir()
            (folder / "memory.max").write_text(str(memory_bytes))
            (folder / "memory.swap.max").write_text("0") if (folder / "memory.swap.max").exists() else None
            (folder / "pids.max").write_text(str(max_pids))
            (folder / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
            (folder / "cpu.weight").write_text(str(CPU_WEIGHT))
            return Group(2, (folder,))
        except OSError:
            Group(2, (folder,)).remove()
    parents = {controller: _v1_folder(controller) for controller in _CONTROLLERS_V1}
    if any(folder is None for folder in parents.values()):
        return None
    for folder in set(parents.values()):
        _remove_stale(folder)
    memory, pids, cpu = (parents[c] / name for c in _CONTROLLERS_V1)
    group = Group(1, tuple(dict.fromkeys((memory, pids, cpu))))  # co-mounted controllers share one folder
    try:
        for folder in group.folders:
            folder.mkdir(exist_ok=True)
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        try:
            (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        except OSError:
            pass  # no swap accounting: swap is not limited separately
        (pids / "pids.max").write_text(str(max_pids))
        (cpu / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(quota))
        (cpu / "cpu.shares").write_text(str(CPU_SHARES))
    except OSError:
        group.remove()
        return None
    return group


def remove_run(seconds: float = 1.0) -> None:
    """Remove the groups this run of the command line made (see grader.scratch), once their processes are killed."""
    run = scratch.tag()
    v2 = _v2_parent()
    parents = {v2} if v2 is not None else {f for c in _CONTROLLERS_V1 if (f := _v1_folder(c)) is not None}
    if not run:
        return
    deadline = time.monotonic() + seconds
    for folder in {entry for parent in parents for entry in parent.glob(f"grader-*-{run}_*")}:
        Group(2 if v2 is not None else 1, (folder,)).kill()
        while folder.exists() and time.monotonic() < deadline:
            try:
                folder.rmdir()
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)  # its last processes are still being torn down


def _remove_stale(parent: Path) -> None:
    """Remove the empty groups of graders that are gone (killed before they could remove their own)."""
    try:
        entries = [entry for entry in os.scandir(parent) if entry.name.startswith("grader-") and entry.is_dir()]
    except OSError:
        return
    for entry in entries:
        owner = entry.name.split("-")[1]
        try:
            young = time.time() - entry.stat().st_mtime < STALE_SECONDS  # a grader in another pid namespace
        except OSError:
            continue
        if owner.isdigit() and int(owner) != os.getpid() and not young and not os.path.exists(f"/proc/{owner}"):
            try:
                os.rmdir(entry.path)  # only an empty group goes: one with processes is refused by the kernel
            except OSError:
                pass


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
        if not {"memory", "pids", "cpu"} <= set((folder / "cgroup.controllers").read_text().split()):
            return None
        enabled = (folder / "cgroup.subtree_control").read_text().split()
        if not {"memory", "pids", "cpu"} <= set(enabled):
            (folder / "cgroup.subtree_control").write_text("+memory +pids +cpu")
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

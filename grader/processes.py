"""The machine's processes as /proc shows them: what the grader reads to find the processes it started (a run's
descendants, a sandbox's leftovers)."""

from __future__ import annotations

import os
from typing import Iterator


def table() -> Iterator[tuple[int, str, int]]:
    """(pid, state, parent pid) of every process /proc shows now; those that end while it is read are left out."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            yield int(entry), fields[0], int(fields[1])


def descendants(root: int | None) -> set[int]:
    """Every living process below `root`, by parent links (zombies, already dead, are left to their parents)."""
    children: dict[int, list[int]] = {}
    for pid, state, parent in table():
        if state not in ("Z", "X"):
            children.setdefault(parent, []).append(pid)
    found, todo = set(), list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found

"""The machine's processes as /proc shows them: what the grader reads to find a sandbox's leftovers."""

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

"""A bound on what a sandbox may write: its home/ and tmp/ are each a tmpfs of `disk_mb` megabytes.

RLIMIT_FSIZE bounds one file (`file_mb`), not how many: a submission could fill the grader's disk with
files of that size. Where the grader may mount (as root, the grader's usual place on a grading
server or in CI), each of the sandbox's writable folders is a tmpfs of its own, mounted before the
sandbox starts, so that the copy of the submission lands in it and the sandbox sees it through every
later layer (its mount namespace, the allow-list root). Past the size, writing fails with ENOSPC, a
verdict on the submission; the pages are charged to the sandbox's memory cgroup as well. Where the
grader may not mount, only the per-file limit holds, and the isolation record says so.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

_MS_NOSUID, _MS_NODEV = 0x2, 0x4
_MNT_DETACH = 0x2
_libc = ctypes.CDLL(None, use_errno=True)


def bound(folder: Path, megabytes: int) -> bool:
    """Mount a tmpfs of `megabytes` on `folder` (an empty folder, mode 0700); False if this process may not mount."""
    if os.geteuid() != 0:
        return False
    options = f"size={int(megabytes)}m,mode=700".encode()
    return _libc.mount(b"tmpfs", str(folder).encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, options) == 0


def release(folder: Path) -> None:
    """Unmount what `bound` mounted on `folder` (lazily: a process of the sandbox may still hold it open)."""
    _libc.umount2(str(folder).encode(), _MNT_DETACH)

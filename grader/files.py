"""Files the grader writes for itself and reads back: replaced in one step, and read only if they are its own.

A reader of results.json, a report or a cache never sees half a file: each is written to a
temporary file beside it (mode 0600, as mkstemp makes it) and renamed over it. A cache is read back
only if it is a regular file (not a link) of this user's that no one else may write, since another
user, or a sandbox running as one, could otherwise hand the grader a file of its own making.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

_O_FLAGS = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step; on any failure no temporary file is left and the error is raised."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_own(path: Path) -> bytes | None:
    """The bytes of `path` if it is a regular file of this user's that no one else may write, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_FLAGS)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)

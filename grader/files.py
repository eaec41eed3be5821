"""Files the grader writes for itself and reads back: replaced in one step, and read only if they are its own.

A reader of results.json, a report or a cache never sees half a file: each is written to a
temporary file beside it, named for the host, the process and a random part, and renamed over it (rename is atomic
within a folder, on NFS as on a local disk). What people read (results, reports, gradebooks) gets the
mode the user's umask gives any new file; a cache is private (0600), as mkstemp makes it. A cache is read back
only if it is a regular file (not a link) of this user's that no one else may write, since another
user, or a sandbox running as one, could otherwise hand the grader a file of its own making.
A file someone handed in is read only if it is a regular file, and only up to a bound: a named pipe
blocks its reader until someone writes to it, and a device or a socket may never end.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import tempfile
from pathlib import Path

from grader import scratch

_O_FLAGS = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_HOST = "".join(c for c in socket.gethostname() if c.isascii() and c.isalnum())[:32] or "host"  # a temporary file's name: see below


def write_atomically(path: Path, data: bytes, *, private: bool = False) -> None:
    """Replace `path` with `data` in one step; on any failure no temporary file is left and the error is raised.

    The file gets the mode the umask gives a new file (0644 under the usual 022), or 0600 if `private`.
    """
    run = scratch.tag()  # a run that is killed before it renames the file removes it by this name (grader.scratch)
    # Unique without any lock, even in a folder that processes of several machines share (a training cache on NFS):
    # the host and the process in the name, and mkstemp's random part, created with O_EXCL.
    prefix = f".{path.name}.{run + '_' if run else ''}{_HOST}-{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        if not private:
            os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def umask() -> int:
    """This process's umask, read without changing it (Linux' /proc), else by setting it and back."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


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


def read_regular(path: Path, *, limit: int) -> bytes:
    """At most `limit` + 1 bytes of `path` (more than `limit` says it is larger); OSError unless it is a regular file.

    Opened without blocking, and its type checked both before opening and on the open descriptor, so
    neither a named pipe, a device or a socket, nor one swapped in between, can hold the reader up.
    """
    before = os.stat(path)
    if not stat.S_ISREG(before.st_mode):
        raise OSError(errno.EINVAL, f"it is {kind(before.st_mode)}, not a regular file", str(path))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"it is {kind(mode)}, not a regular file", str(path))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit + 1)
    finally:
        os.close(fd)


def kind(mode: int) -> str:
    """What a file of this `st_mode` is, in words: "a named pipe (FIFO)", "a folder", ..."""
    kinds = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISLNK, "a symbolic link"))
    return next((words for test, words in kinds if test(mode)), "a special file")

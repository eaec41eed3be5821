"""Where Landlock is missing: a root of the sandbox's own that holds only what it may use (an allow-list by mounts).

In the sandbox's mount namespace, the init builds a new root on an empty tmpfs and binds into it,
read-only, exactly what Landlock would let it read (the interpreter, its standard library,
site-packages and the system's libraries, minus the grader's own copies and the data), and
read-write only the sandbox's own `home/` and `tmp/`; it mounts a /proc of the sandbox's pid
namespace there, moves into the new root and detaches the old one. Nothing else of the machine's
file system is there to read, and nothing of the grader's user is there to write: without a uid
of its own (an ordinary user's grader) the sandbox is the grader's user, and read-only mounts are
what keep it from planting a `.pth` in the interpreter's site-packages, or anything in the grader's
home or caches. The sandbox cannot undo a mount: its worker has no capabilities and its seccomp
filter refuses mount calls.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from grader import libc
from grader.libc import (MNT_DETACH, MS_BIND, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_RDONLY,
                         MS_REC, MS_RELATIME, MS_REMOUNT)

# statvfs' f_flag -> the mount flag a bind's remount must keep (a user namespace may not clear a locked flag).
_KEPT = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
         (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))


def enter(*, read: list[str], write: list[str], links: list[str], workdir: str) -> None:
    """Build the new root from `read` (bound read-only), `write` (bound read-write) and `links` (symbolic links
    recreated, such as /lib -> usr/lib, which programs' loaders are named by), then move into it."""
    new = os.path.join(workdir, ".root")
    os.makedirs(new, 0o700, exist_ok=True)
    _mount(b"tmpfs", new, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=755")
    for path in links:
        if os.path.islink(path) and not os.path.lexists(new + path):
            os.makedirs(os.path.dirname(new + path), 0o755, exist_ok=True)
            os.symlink(os.readlink(path), new + path)
    for path in sorted(set(read) - set(write)):
        _bind(path, new + path, writable=False)
    for path in write:
        _bind(path, new + path, writable=True)
    os.makedirs(new + "/proc", 0o555, exist_ok=True)
    _mount(b"proc", new + "/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    os.chdir(new)
    _do("move into the sandbox's own root", libc.pivot_root, b".", b".")  # the old root ends up stacked on the new
    _do("detach the machine's root", libc.umount2, b".", MNT_DETACH)
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)  # no new files at its top


def supported() -> bool:
    """Whether this module knows how to move into a new root on this machine's architecture."""
    return libc.can_pivot_root()


def _bind(source: str, target: str, *, writable: bool) -> None:
    if not os.path.exists(source) or os.path.islink(source):
        return  # a link is recreated (its target is bound in its own right) or not there to bind
    if os.path.isdir(source):
        os.makedirs(target, 0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if not os.path.exists(target):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    _mount(source.encode(), target, None, MS_BIND | MS_REC, None)
    flags = os.statvfs(source).f_flag
    kept = sum(flag for st, flag in _KEPT if flags & st) | (0 if writable else MS_RDONLY)
    kept |= MS_NOSUID
    _mount(None, target, None, MS_REMOUNT | MS_BIND | kept, None)


def _mount(source: bytes | None, target: str, kind: bytes | None, flags: int, data: bytes | None) -> None:
    _do(f"mount {target}", libc.mount, source, target.encode(), kind, flags, data)


def _do(what: str, call: Callable[..., None], *args: Any) -> None:
    """`call(*args)`, a call into the C library; an OSError saying what could not be done if the kernel refused."""
    try:
        call(*args)
    except OSError as exc:
        raise OSError(exc.errno, f"could not {what}: {exc.strerror}") from None

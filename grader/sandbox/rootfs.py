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

import ctypes
import os
import platform

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC, _MS_RELATIME = 1024, 2048, 0x1000, 0x4000, 1 << 21
_MNT_DETACH = 2
# statvfs' f_flag -> the mount flag a bind's remount must keep (a user namespace may not clear a locked flag).
_KEPT = ((os.ST_NOSUID, _MS_NOSUID), (os.ST_NODEV, _MS_NODEV), (os.ST_NOEXEC, _MS_NOEXEC),
         (os.ST_NOATIME, _MS_NOATIME), (os.ST_NODIRATIME, _MS_NODIRATIME), (os.ST_RELATIME, _MS_RELATIME))
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_libc = ctypes.CDLL(None, use_errno=True)


def enter(*, read: list[str], write: list[str], links: list[str], workdir: str) -> None:
    """Build the new root from `read` (bound read-only), `write` (bound read-write) and `links` (symbolic links
    recreated, such as /lib -> usr/lib, which programs' loaders are named by), then move into it."""
    new = os.path.join(workdir, ".root")
    os.makedirs(new, 0o700, exist_ok=True)
    _mount(b"tmpfs", new, b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=1m,mode=755")
    for path in links:
        if os.path.islink(path) and not os.path.lexists(new + path):
            os.makedirs(os.path.dirname(new + path), 0o755, exist_ok=True)
            os.symlink(os.readlink(path), new + path)
    for path in sorted(set(read) - set(write)):
        _bind(path, new + path, writable=False)
    for path in write:
        _bind(path, new + path, writable=True)
    os.makedirs(new + "/proc", 0o555, exist_ok=True)
    _mount(b"proc", new + "/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    os.chdir(new)
    if _libc.syscall(_PIVOT_ROOT[platform.machine()], b".", b".") != 0:  # the old root ends up stacked on the new
        _fail("move into the sandbox's own root")
    if _libc.umount2(b".", _MNT_DETACH) != 0:
        _fail("detach the machine's root")
    os.chdir("/")
    _mount(None, "/", None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None)  # no new files at its top


def supported() -> bool:
    """Whether this module knows how to move into a new root on this machine's architecture."""
    return platform.machine() in _PIVOT_ROOT


def _bind(source: str, target: str, *, writable: bool) -> None:
    if not os.path.exists(source) or os.path.islink(source):
        return  # a link is recreated (its target is bound in its own right) or not there to bind
    if os.path.isdir(source):
        os.makedirs(target, 0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if not os.path.exists(target):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    _mount(source.encode(), target, None, _MS_BIND | _MS_REC, None)
    flags = os.statvfs(source).f_flag
    kept = sum(flag for st, flag in _KEPT if flags & st) | (0 if writable else _MS_RDONLY)
    kept |= _MS_NOSUID
    _mount(None, target, None, _MS_REMOUNT | _MS_BIND | kept, None)


def _mount(source: bytes | None, target: str, kind: bytes | None, flags: int, data: bytes | None) -> None:
    if _libc.mount(source, target.encode(), kind, flags, data) != 0:
        _fail(f"mount {target}")


def _fail(what: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, f"could not {what}: {os.strerror(code)}")

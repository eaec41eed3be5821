"""Landlock, Linux's unprivileged access control (5.13+), through its three system calls (made by grader.libc).

A process restricts itself, and everything it starts, to an allow-list: files it may read or
write beneath given folders, TCP ports it may bind or connect to (ABI 4+), and, from ABI 6, no
signals to and no abstract unix sockets of processes outside its own domain. Landlock also
forbids ptrace of any process outside the domain, whatever the ABI. Nothing here needs privileges.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import Any, Callable

from grader import libc

# Filesystem rights, by the ABI that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
# Network rights (ABI 4) and scopes (ABI 6).
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

READ = EXECUTE | READ_FILE | READ_DIR
# Files only: a rule on a regular file or device may hold these and no directory rights.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


class LandlockError(OSError):
    """The kernel refused a Landlock call; `errno` says why."""


def abi() -> int:
    """The Landlock ABI version this kernel offers, 0 if none (not built in, or disabled at boot)."""
    return libc.landlock_abi()


def filesystem_rights(version: int) -> int:
    """Every filesystem right the given ABI can handle."""
    return next(mask for level, mask in sorted(_FS_BY_ABI.items(), reverse=True) if version >= level)


def restrict(*, read: list[str], write: list[str], version: int) -> dict[str, bool]:
    """Confine this thread (and all it starts) to reading `read`, writing `write`, no TCP and its own scope.

    Paths that do not exist are skipped. Returns what was enforced: filesystem, network, scopes.
    Call it in a single-threaded process: other threads would stay unconfined.
    """
    if version < 1:
        raise LandlockError(0, "Landlock is not available on this kernel")
    handled_fs = filesystem_rights(version)
    handled_net = (BIND_TCP | CONNECT_TCP) if version >= 4 else 0
    scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if version >= 6 else 0
    if version >= 6:
        attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    elif version >= 4:
        attr = struct.pack("=QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("=Q", handled_fs)
    ruleset = _check("create a ruleset", libc.landlock_create_ruleset, attr)
    try:
        full = handled_fs
        for path in write:
            _allow(ruleset, path, full)
        for path in read:
            _allow(ruleset, path, READ)
        _check("restrict this process", libc.landlock_restrict_self, ruleset)
    finally:
        os.close(ruleset)
    return {"filesystem": True, "network": bool(handled_net), "scopes": bool(scoped)}


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # nothing there to allow
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        _check(f"allow {path}", libc.landlock_allow_beneath, ruleset, rights, fd)
    finally:
        os.close(fd)


def _check(what: str, call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)`, a Landlock system call; a LandlockError saying what could not be done if the kernel refused."""
    try:
        return call(*args)
    except OSError as exc:
        raise LandlockError(exc.errno, f"Landlock could not {what}: {exc.strerror}") from None

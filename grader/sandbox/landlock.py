"""Landlock, Linux's unprivileged access control (5.13+), through its three system calls.

A process restricts itself, and everything it starts, to an allow-list: files it may read or
write beneath given folders, TCP ports it may bind or connect to (ABI 4+), and, from ABI 6, no
signals to and no abstract unix sockets of processes outside its own domain. Landlock also
forbids ptrace of any process outside the domain, whatever the ABI. Nothing here needs privileges.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct

# The three calls have the same numbers on every architecture (they postdate the unified table).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

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

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class LandlockError(OSError):
    """The kernel refused a Landlock call; `errno` says why."""


def abi() -> int:
    """The Landlock ABI version this kernel offers, 0 if none (not built in, or disabled at boot)."""
    version = _libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


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
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(_libc.syscall(_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0)), "create a ruleset")
    try:
        full = handled_fs
        for path in write:
            _allow(ruleset, path, full)
        for path in read:
            _allow(ruleset, path, READ)
        _check(_libc.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "restrict this process")
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
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        _check(_libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), rule,
                             ctypes.c_uint32(0)), f"allow {path}")
    finally:
        os.close(fd)


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise LandlockError(code, f"Landlock could not {what}: {os.strerror(code)}")
    return int(result)

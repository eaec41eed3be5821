"""The grader's calls into the C library: the one module that uses ctypes, each call a small typed function.

Python's os module has no prctl, unshare, mount, capset or pivot_root, and no call for Landlock. The
sandbox's layers (grader.sandbox.confine, landlock, seccomp, rootfs, isolation) and the helpers that
keep the grader's processes from outliving it (grader.orphans) make those calls here, so the numbers
of the kernel's interface are written once and nothing else handles C pointers. It sits at the bottom
of the import graph: the command line, the sandbox and the training started ahead all need it.

Like the os module's functions, each raises OSError with the errno and the system's words for it when
the kernel refuses (and ENOSYS where the C library lacks the call: not Linux); a caller that can go on
without the call catches that, one that cannot turns it into an error of its own.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

# prctl(2)'s options (linux/prctl.h). The seccomp filter compares prctl's first argument with PR_SET_PDEATHSIG.
PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE, _PR_SET_KEEPCAPS, _PR_SET_SECCOMP, _PR_CAPBSET_DROP = 4, 8, 22, 24
_PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 36, 38
_SECCOMP_MODE_FILTER = 2
# unshare(2)'s flags (linux/sched.h).
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
# mount(2)'s and umount2(2)'s flags (linux/mount.h).
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 1024, 2048, 0x1000, 0x4000, 0x40000, 1 << 21
MNT_DETACH = 2
_CAPABILITY_VERSION_3 = 0x20080522
# System calls the C library has no function for. Landlock's have the same numbers on every architecture (they
# postdate the unified table); pivot_root's differ.
_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION, _LANDLOCK_RULE_PATH_BENEATH = 1, 1
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
    _LIBC.syscall.restype = ctypes.c_long
except (OSError, AttributeError):  # no C library to load by that name, or one without syscall(): not Linux
    _LIBC = None


def _call(name: str, *args: object) -> int:
    """The C library's `name` called with `args`: its result, or OSError with the errno if it failed (below 0)."""
    function = getattr(_LIBC, name, None)
    if function is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    result = int(function(*args))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def _prctl(option: int, value: int) -> None:
    _call("prctl", option, value, 0, 0, 0)


# -- the life of a process ------------------------------------------------------------------------

def set_pdeathsig(signum: int) -> None:
    """Have the kernel send `signum` to this process when the thread that started it ends."""
    _prctl(PR_SET_PDEATHSIG, signum)


def set_child_subreaper() -> None:
    """Have the processes below this one that lose their parent re-parented to this one rather than to init."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def set_dumpable(dumpable: bool) -> None:
    """Whether processes of the same user may ptrace this one or read its memory, and who owns its /proc files."""
    _prctl(_PR_SET_DUMPABLE, int(dumpable))


# -- privileges ------------------------------------------------------------------------------------

def set_no_new_privs() -> None:
    """Never gain privileges again, through setuid programs or file capabilities (Landlock and seccomp need it)."""
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)


def set_keepcaps(keep: bool) -> None:
    """Whether this process keeps its permitted capabilities when it changes from root to another uid."""
    _prctl(_PR_SET_KEEPCAPS, int(keep))


def drop_bounding_capability(capability: int) -> None:
    """Remove `capability` from the bounding set, so that nothing this process runs can gain it (EINVAL: the
    kernel has no capability of that number)."""
    _prctl(_PR_CAPBSET_DROP, capability)


def capset(mask: int) -> None:
    """Set this thread's effective and permitted capabilities to `mask` (bit N: capability N), none inheritable."""
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    low, high = mask & 0xFFFFFFFF, mask >> 32
    data = (ctypes.c_uint32 * 6)(low, low, 0, high, high, 0)
    _call("capset", header, data)


def set_seccomp_filter(program: bytes) -> None:
    """Load `program`, an array of classic BPF `struct sock_filter`, as this thread's seccomp filter (it needs
    set_no_new_privs first, unprivileged)."""
    filters = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(filters))
    _call("prctl", _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.create_string_buffer(fprog, len(fprog)), 0, 0)


# -- namespaces and mounts -------------------------------------------------------------------------

def unshare(flags: int) -> None:
    """Move this process into new namespaces, one for each CLONE_NEW* flag in `flags`."""
    _call("unshare", flags)


def mount(source: bytes | None, target: bytes, kind: bytes | None, flags: int, data: bytes | None) -> None:
    """mount(2): mount `source` (a device, a folder to bind, or a name) of file system `kind` on `target`."""
    _call("mount", source, target, kind, flags, data)


def umount2(target: bytes, flags: int) -> None:
    """Unmount what is mounted on `target` (MNT_DETACH: now for new lookups, when no longer busy for the rest)."""
    _call("umount2", target, flags)


def can_pivot_root() -> bool:
    """Whether this module knows pivot_root's number on this machine's architecture."""
    return platform.machine() in _PIVOT_ROOT


def pivot_root(new_root: bytes, put_old: bytes) -> None:
    """Make `new_root` this mount namespace's root and put the old root at `put_old`."""
    if not can_pivot_root():
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    _call("syscall", _PIVOT_ROOT[platform.machine()], new_root, put_old)


# -- Landlock --------------------------------------------------------------------------------------

def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers, 0 if none (not built in, disabled at boot, or not Linux)."""
    try:
        return _call("syscall", _LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                     ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    except OSError:
        return 0


def landlock_create_ruleset(attr: bytes) -> int:
    """A new Landlock ruleset handling what `attr` (a packed `struct landlock_ruleset_attr`) names; its descriptor."""
    buffer = ctypes.create_string_buffer(attr, len(attr))
    return _call("syscall", _LANDLOCK_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))


def landlock_allow_beneath(ruleset: int, rights: int, fd: int) -> None:
    """Allow `rights` beneath the file or folder open as `fd` (opened with O_PATH) in the ruleset."""
    rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)  # struct landlock_path_beneath_attr
    _call("syscall", _LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH), rule,
          ctypes.c_uint32(0))


def landlock_restrict_self(ruleset: int) -> None:
    """Confine this thread, and all it starts from now on, to the ruleset."""
    _call("syscall", _LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))

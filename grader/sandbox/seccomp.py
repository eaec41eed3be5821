"""A small seccomp filter, written as classic BPF: the system calls a submission never needs are refused.

Refused with EPERM: ptrace and reading or writing another process's memory, creating sockets
(`socketpair` stays: a unix socket file on the machine, say a database's, is reachable whatever the
network namespace, and Landlock before ABI 9 does not guard it), new namespaces, mounts, kernel modules, BPF, keyrings, perf, userfaultfd, io_uring
and changing the parent-death signal. `clone3` answers ENOSYS so that the C library falls back to
`clone`, whose flags a filter can read (a pointer argument it cannot). Installed after
PR_SET_NO_NEW_PRIVS, it needs no privileges and stays for every process the submission starts.
"""

from __future__ import annotations

import errno
import platform
import struct

from grader import libc

_LD_W_ABS, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_ALLOW, _KILL_PROCESS, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (arguments' low halves on little-endian)
_NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET

# Per architecture: its audit tag and the numbers of the calls this filter looks at.
_ARCHES = {
    "x86_64": (0xC000003E, {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsmount": 432, "fsconfig": 431,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
        "bpf": 321, "perf_event_open": 298, "keyctl": 250, "add_key": 248, "request_key": 249,
        "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_by_handle_at": 304, "socket": 41, "clone": 56, "clone3": 435, "prctl": 157,
    }),
    "aarch64": (0xC00000B7, {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsmount": 432, "fsconfig": 431,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
        "bpf": 280, "perf_event_open": 241, "keyctl": 219, "add_key": 217, "request_key": 218,
        "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_by_handle_at": 265, "socket": 198, "clone": 220, "clone3": 435, "prctl": 167,
    }),
}
_SPECIAL = ("clone", "clone3", "prctl")


class SeccompError(OSError):
    """The filter could not be installed (no seccomp in this kernel, or an unknown architecture)."""


def supported() -> bool:
    """Whether this module knows the machine's architecture."""
    return platform.machine() in _ARCHES


def program(machine: str | None = None) -> bytes:
    """The filter as an array of `struct sock_filter`, for the given (default: this) architecture."""
    arch, numbers = _ARCHES[machine or platform.machine()]
    eperm, enosys = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    code: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH), (_JEQ, 1, 0, arch), (_RET, 0, 0, _KILL_PROCESS),
        (_LD_W_ABS, 0, 0, _NR),
    ]
    if arch == 0xC000003E:  # x32 system calls share the table with a high bit: refuse them all
        code += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, eperm)]
    for name, number in numbers.items():
        if name not in _SPECIAL:
            code += [(_JEQ, 0, 1, number), (_RET, 0, 0, eperm)]
    code += [(_JEQ, 0, 1, numbers["clone3"]), (_RET, 0, 0, enosys)]
    # Each block below ends in a return, so a call it does not match skips it with A still holding the number.
    code += [(_JEQ, 0, 4, numbers["clone"]), (_LD_W_ABS, 0, 0, _ARG0), (_JSET, 0, 1, _NAMESPACE_FLAGS),
             (_RET, 0, 0, eperm), (_RET, 0, 0, _ALLOW)]
    code += [(_JEQ, 0, 4, numbers["prctl"]), (_LD_W_ABS, 0, 0, _ARG0), (_JEQ, 0, 1, libc.PR_SET_PDEATHSIG),
             (_RET, 0, 0, eperm), (_RET, 0, 0, _ALLOW)]
    code += [(_RET, 0, 0, _ALLOW)]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in code)


def install() -> None:
    """Set no_new_privs and load the filter on this thread; every process it starts inherits both."""
    if not supported():
        raise SeccompError(0, f"no seccomp filter is known for the {platform.machine()} architecture")
    try:
        libc.set_no_new_privs()
    except OSError as exc:
        raise SeccompError(exc.errno, "PR_SET_NO_NEW_PRIVS was refused") from None
    try:
        libc.set_seccomp_filter(program())
    except OSError as exc:
        raise SeccompError(exc.errno, f"the seccomp filter was refused: {errno.errorcode.get(exc.errno, exc.errno)}") from None

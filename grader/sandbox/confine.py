"""Inside a freshly forked sandbox child: put up every isolation layer the plan asks for, before any submitted code.

Three processes make one sandbox. The *keeper*, forked by the zygote, joins the sandbox's control
group, unshares new pid, network, mount and IPC namespaces (and a user namespace when not root)
and forks the *init*: pid 1 of the new pid namespace, which mounts a /proc that shows only the
sandbox, reaps orphans, and dies with the keeper (parent-death signal); when pid 1 dies the kernel
kills everything in its namespace. The init forks the *worker*, which drops to a uid of its own
(as root), drops its capabilities, becomes non-dumpable, sets no_new_privs, restricts itself with
Landlock and a seccomp filter, and only then serves requests. Each process mirrors its child's
exit status up the chain, so the grader sees the worker's.

A layer the plan asks for that fails to go up is fatal: the child exits with `SETUP_FAILED` and
the grader reports its own fault, rather than grading with less isolation than it announced.
"""

from __future__ import annotations

import errno
import os
import signal
import struct
import sys
from typing import Any, Callable

from grader import libc
from grader.libc import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC
from grader.results import EXIT_SIGNALLED
from grader.sandbox import landlock, rootfs, seccomp

SETUP_FAILED = 71
_CAP_DAC_READ_SEARCH, _LAST_CAP = 2, 63


class SetupError(OSError):
    """An isolation layer the plan asked for could not be put up."""


def enter(plan: dict[str, Any], serve: Callable[[], int], channel: tuple[int, ...]) -> int:
    """Become a confined sandbox as `plan` says and run `serve` in it; return the exit status to use.

    `channel` are the descriptors only the worker keeps: the keeper and the init close them, so
    that the grader sees the channel close as soon as the worker is gone.
    """
    try:
        return _enter(plan, serve, channel)
    except OSError:  # SetupError and whatever the kernel refused on the way: never serve half-confined
        import traceback

        traceback.print_exc()
        return SETUP_FAILED


def _enter(plan: dict[str, Any], serve: Callable[[], int], channel: tuple[int, ...]) -> int:
    for path in plan.get("cgroup", []):
        _write(path, str(os.getpid()))
    if plan.get("drop_uid"):
        plan = {**plan, "uid": plan["drop_uid"] + os.getpid()}  # one uid per sandbox: pids are unique
        for path in plan.get("chown", []):
            os.chown(path, plan["uid"], plan["uid"])
    if not plan.get("namespaces"):
        _confine_worker(plan)
        return _serve_after_setup(serve)
    _unshare_namespaces(plan)
    status_r, status_w = os.pipe()
    init = _fork(lambda: _init(plan, serve, channel, status_w))
    for fd in (*channel, status_w):
        os.close(fd)
    code = _mirror(init)
    try:
        reported = os.read(status_r, 4)  # how the worker ended: the init cannot end itself by a signal
    except OSError:
        reported = b""
    if len(reported) == 4:
        code = _mirror_status(struct.unpack("=i", reported)[0])
    return code


def _unshare_namespaces(plan: dict[str, Any]) -> None:
    flags = libc.CLONE_NEWPID | libc.CLONE_NEWNET | libc.CLONE_NEWNS | libc.CLONE_NEWIPC
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        flags |= libc.CLONE_NEWUSER
    _check("unshare the pid, network, mount and IPC namespaces", libc.unshare, flags)
    if uid != 0:  # map our own ids to root inside, so that the init may mount its /proc
        # A non-dumpable process's /proc/self files belong to root: it could not write its own maps.
        _check("make the process dumpable while it maps its ids", libc.set_dumpable, True)
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
        _check("make the process non-dumpable again", libc.set_dumpable, False)


def _init(plan: dict[str, Any], serve: Callable[[], int], channel: tuple[int, ...], status_w: int) -> int:
    """pid 1 of the sandbox's namespace: mount its /proc, start the worker, reap until the worker ends."""
    _check("set the parent-death signal", libc.set_pdeathsig, signal.SIGKILL)
    _check("make the mounts private", libc.mount, b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    _check("mount /proc", libc.mount, b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    if plan.get("workdir"):
        _private_parent(plan["workdir"], plan.get("keep", []))
        for folder in ("home", "tmp") if plan.get("space_mb") else ():
            _bound_space(os.path.join(plan["workdir"], folder), plan["space_mb"], plan.get("uid"))
        os.chdir(os.path.join(plan["workdir"], "home"))  # the folder as mounted now, not the one it covers
    for path in plan.get("hide", []):
        _hide(path)
    if plan.get("allow"):  # no Landlock: a root of its own holding only what it may read and write
        rootfs.enter(read=plan["read"], write=plan["write"], links=plan.get("links", []), workdir=plan["workdir"])
        os.chdir(os.path.join(plan["workdir"], "home"))
    worker = _fork(lambda: (os.close(status_w), _confine_worker(plan), _serve_after_setup(serve))[2])
    for fd in channel:
        os.close(fd)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return SETUP_FAILED
        if pid == worker:
            os.write(status_w, struct.pack("=i", status))
            return 0


def _confine_worker(plan: dict[str, Any]) -> None:
    """Drop privileges and lock this process in, in the order the kernel requires."""
    uid = plan.get("uid")
    if uid is not None:
        _drop_to(uid, keep_read=bool(plan.get("keep_read_cap")))
    elif os.getuid() == 0 and plan.get("namespaces"):
        _capset(0)  # root inside our own user namespace: keep the id, lose the capabilities
    _check("set the parent-death signal", libc.set_pdeathsig, signal.SIGKILL)
    _check("make the process non-dumpable", libc.set_dumpable, False)
    _check("set no_new_privs", libc.set_no_new_privs)  # Landlock and seccomp need it
    if plan.get("landlock"):
        landlock.restrict(read=plan.get("read", []), write=plan.get("write", []), version=int(plan["landlock"]))
    if plan.get("seccomp"):
        seccomp.install()


def _serve_after_setup(serve: Callable[[], int]) -> int:
    """Serve; an OSError escaping it is the submission's doing, not a failed layer."""
    try:
        return serve()
    except OSError:
        import traceback

        traceback.print_exc()
        return 70


def _drop_to(uid: int, *, keep_read: bool) -> None:
    """From root to `uid`, keeping at most CAP_DAC_READ_SEARCH (Landlock then decides what may be read)."""
    keep = 1 << _CAP_DAC_READ_SEARCH if keep_read else 0
    _check("keep capabilities across the uid change", libc.set_keepcaps, True)
    for cap in range(_LAST_CAP + 1):
        if not keep >> cap & 1:
            try:
                libc.drop_bounding_capability(cap)
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: a number past the kernel's last capability
                    raise SetupError(exc.errno, f"could not drop capability {cap} from the bounding set") from None
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _capset(keep)
    try:
        libc.set_keepcaps(False)
    except OSError:
        pass  # it has no capabilities left to keep


def _capset(mask: int) -> None:
    _check("set the capabilities", libc.capset, mask)


def _bound_space(folder: str, megabytes: int, uid: int | None) -> None:
    """Make `folder` a tmpfs of `megabytes`, owned by the sandbox's uid: all it may write there, in files of any number.

    RLIMIT_FSIZE bounds one file only. The tmpfs lives in the sandbox's mount namespace, which the grader does not
    reach (the worker writes the submission's files into it from bytes the grader sends); past its size, writing
    fails with ENOSPC, a verdict on the submission, and nothing reaches the grader's disk; its pages count in the
    sandbox's memory cgroup.
    """
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    _check(f"bound what {folder} may hold", libc.mount, b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
           f"size={int(megabytes)}m,mode=700{owner}".encode())


def _private_parent(workdir: str, keep: list[str]) -> None:
    """Cover the folder that holds the sandbox's own (the temporary folder, with every other sandbox, the zygote
    and whatever else the grader keeps there) with an empty one, and put back the sandbox's own folder and the
    `keep` paths inside it (a virtual environment or a checkout that lives in the temporary folder)."""
    parent = os.path.dirname(workdir.rstrip(os.sep))
    if parent in ("", os.sep):
        return
    inside = [path for path in keep if path.startswith(parent + os.sep)]
    put_back = [workdir] + [p for p in inside if not any(p.startswith(q + os.sep) for q in inside if q != p)]
    handles = [(path, os.open(path, os.O_PATH | os.O_CLOEXEC)) for path in put_back if os.path.exists(path)]
    try:
        _check(f"cover {parent}", libc.mount, b"tmpfs", parent.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
               b"size=64k,mode=711")
        for path, handle in handles:
            if os.path.isdir(f"/proc/self/fd/{handle}"):
                os.makedirs(path, 0o711, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), 0o711, exist_ok=True)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            _check(f"put {path} back", libc.mount, f"/proc/self/fd/{handle}".encode(), path.encode(), None,
                   MS_BIND | MS_REC, None)
    finally:
        for _, handle in handles:
            os.close(handle)


def _hide(path: str) -> None:
    """Without Landlock: cover a path the submission must not read (an empty read-only tmpfs, or /dev/null)."""
    target = path.encode()
    if os.path.isdir(path):
        _check(f"hide {path}", libc.mount, b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
               b"size=4k")
    elif os.path.exists(path):
        _check(f"hide {path}", libc.mount, b"/dev/null", target, None, MS_BIND, None)


def _fork(body: Callable[[], int]) -> int:
    pid = os.fork()
    if pid == 0:
        code = SETUP_FAILED
        try:
            code = body()
        except BaseException:  # noqa: BLE001 - report and leave; nothing may run on past a failed layer
            import traceback

            traceback.print_exc()
        finally:
            _exit(code)
    return pid


def _mirror(pid: int) -> int:
    """Wait for `pid` and end this process the way it ended."""
    while True:
        try:
            done, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return SETUP_FAILED
        except InterruptedError:
            continue
        if done == pid:
            return _mirror_status(status)


def _mirror_status(status: int) -> int:
    """End this process by the signal that ended the child, or return its exit code."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        return EXIT_SIGNALLED + sig
    return os.WEXITSTATUS(status)


def _exit(code: int) -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except OSError as exc:
        raise SetupError(exc.errno, f"could not write {path}: {exc.strerror}") from exc


def _check(what: str, call: Callable[..., None], *args: Any) -> None:
    """`call(*args)`, a call into the C library; a SetupError saying what could not be done if the kernel refused."""
    try:
        call(*args)
    except OSError as exc:
        raise SetupError(exc.errno, f"could not {what}: {exc.strerror}") from None

"""Which isolation layers this machine allows, and the plan that puts them up around each sandbox.

The layers (see confine.py for how each goes up):
- `landlock`: the submission reads only what importing it needs and writes only its own folder;
  no TCP; from ABI 6 no signals or abstract sockets outside its sandbox; never ptrace.
- `namespaces`: its own pid namespace (everything it starts dies with it; it sees no other
  process), network namespace (no network at all), mount and IPC namespaces.
- `seccomp`: no ptrace, no process_vm_*, no new sockets of any kind, no new namespaces or mounts.
- `uid`: as root, it runs as a uid of its own with no capabilities (but reading, which Landlock bounds).
- `cgroup`: memory, process-count and CPU bounds on what it really uses, its sessions all together.
- `no_new_privs` and non-dumpable processes, always.
`probe()` finds out which of them work here; `--isolation strict` refuses to grade without all of them.
"""

from __future__ import annotations

import functools
import os
import site
import sys
from pathlib import Path
from typing import Any, Iterable

from grader import libc
from grader.errors import UsageError
from grader.sandbox import cgroups, landlock, rootfs, seccomp

MODES = ("auto", "strict")
LAYERS = ("landlock", "namespaces", "seccomp", "uid", "cgroup")
UID_BASE = 1_000_000  # sandboxes run as UID_BASE + the pid of their keeper
_HOW_TO_ENABLE = {
    "landlock": "needs Linux 5.13+ built with CONFIG_SECURITY_LANDLOCK and 'landlock' in the lsm= boot list",
    "namespaces": "needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
                  "user.max_user_namespaces > 0) or running as root; in Docker, --security-opt seccomp=unconfined",
    "seccomp": "needs a kernel with CONFIG_SECCOMP_FILTER on x86_64 or aarch64",
    "uid": "only possible when the grader runs as root; as another user the sandbox already has no privileges",
    "cgroup": "needs a writable cgroup: v2 with the memory, pids and cpu controllers delegated to the grader's group, "
              "or v1's memory, pids and cpu hierarchies (for example run as root, or under systemd-run --user -p "
              "Delegate=yes)",
}
# What is lost without a layer, where the fallback does not hold all of it: said in the warning.
_LOST = {
    "cgroup": "without it memory is bounded per process only (the address space, not in total), CPU time per "
              "process only (a submission's many processes can slow its classmates down), and processes only where "
              "the sandbox has a user namespace or a uid of its own",
}
_DISABLE_ENV = "GRADER_ISOLATION_DISABLE"  # comma-separated layers to leave out, for testing the fallbacks


class IsolationError(UsageError):
    """--isolation strict and a layer this machine cannot provide; the message says which and how to enable it."""


@functools.lru_cache(maxsize=1)
def probe() -> dict[str, Any]:
    """What this machine allows, found by trying it in a throw-away child: {layer: detail or None}; once per process."""
    disabled = {name.strip() for name in os.environ.get(_DISABLE_ENV, "").split(",") if name.strip()}
    found: dict[str, Any] = {name: None for name in LAYERS}
    abi = landlock.abi()
    if abi:
        found["landlock"] = abi
    if _try_in_child(_unshare_probe):
        found["namespaces"] = "pid, net, mount, ipc" + ("" if os.getuid() == 0 else ", user")
    if seccomp.supported() and _try_in_child(seccomp.install):
        found["seccomp"] = "ptrace, process_vm, socket(), namespaces, mounts"
    if os.getuid() == 0:
        found["uid"] = f"{UID_BASE}+"
    found["cgroup"] = cgroups.detect()
    for name in disabled:
        found[name] = None
    return found


_ANNOUNCED: list[str] = []


def announce(mode: str) -> dict[str, Any]:
    """At the start of a command: make this process non-dumpable, probe the layers, refuse (strict) or warn once."""
    make_undumpable()
    available = probe()
    warning = require(available, mode)
    if warning and warning not in _ANNOUNCED:
        _ANNOUNCED.append(warning)
        print(f"grader: {warning}", file=sys.stderr)
    return available


def missing(available: dict[str, Any]) -> dict[str, str]:
    """The layers not available, each with how to enable it."""
    return {name: _HOW_TO_ENABLE[name] for name in LAYERS if not available.get(name)}


def require(available: dict[str, Any], mode: str) -> str | None:
    """Raise IsolationError in strict mode if a layer is missing; else a one-line warning to show once, or None."""
    if mode not in MODES:
        raise IsolationError(f"--isolation {mode!r}: expected one of {', '.join(MODES)}.")
    lacking = missing(available)
    if os.getuid() != 0:
        lacking.pop("uid", None)  # not running as root: nothing to drop
    if not lacking:
        return None
    details = "; ".join(f"{name} ({why}{'; ' + _LOST[name] if name in _LOST else ''})" for name, why in lacking.items())
    if mode == "strict":
        raise IsolationError(f"--isolation strict: this machine lacks {details}. Enable them, or grade with "
                             "--isolation auto to use the layers that are available.")
    return f"warning: grading with reduced isolation; missing: {details}."


def plan(available: dict[str, Any], *, workdir: Path, protect: Iterable[Path], memory_bytes: int,
         max_pids: int, cpus: float, disk_mb: int = 0) -> tuple[dict[str, Any], "cgroups.Group | None"]:
    """The plan one sandbox is confined by, and the control group made for it (the caller removes it)."""
    group = (cgroups.create(memory_bytes=memory_bytes, max_pids=max_pids, cpus=cpus) if available.get("cgroup")
             else None)
    writable = [str(workdir / "home"), str(workdir / "tmp")]
    allow = bool(available.get("namespaces")) and not available.get("landlock") and rootfs.supported()
    secret = sorted({str(Path(p).resolve()) for p in protect if p})
    result: dict[str, Any] = {
        "cgroup": group.procs if group else [],
        "workdir": str(workdir),
        "keep": sorted({*_python_roots(), *(os.path.realpath(p) for p in _SYSTEM_ROOTS if os.path.exists(p))}),
        "namespaces": bool(available.get("namespaces")),
        "landlock": available.get("landlock") or 0,
        "seccomp": bool(available.get("seccomp")),
        "drop_uid": UID_BASE if available.get("uid") else 0,
        "chown": writable,
        # Reading needs the capability when Landlock bounds it anyway, or when the interpreter is in a private home.
        "keep_read_cap": bool(available.get("landlock")) or not _world_readable(sys.base_prefix),
        "read": readable(secret),
        "write": [*writable, "/dev/null"],
        # Without Landlock, a root of its own that holds only `read` (read-only) and `write`, in its mount namespace
        # (rootfs.py); where that cannot be built, the secrets are covered by empty mounts. The control groups (every
        # sandbox's, with its memory and pid count) are covered either way.
        "allow": allow,
        "links": [path for path in _SYSTEM_ROOTS if os.path.islink(path)],
        "hide": [*_CGROUP_ROOT, *([] if available.get("landlock") or allow else covered(secret))],
        # With a mount namespace, its home/ and tmp/ are each a tmpfs of this many MB there (what it may write in all);
        # the sandbox writes the submission's files into it itself, from bytes the grader sends (host.copy_in).
        "space_mb": disk_mb if available.get("namespaces") else 0,
    }
    return result, group


def applied(available: dict[str, Any], group: "cgroups.Group | None") -> dict[str, Any]:
    """The record written in results.json: each layer and what it does here, and what was missing."""
    layers = {name: available.get(name) for name in LAYERS}
    if layers["landlock"]:
        abi = layers["landlock"]
        parts = ["filesystem"] + (["tcp"] if abi >= 4 else []) + (["signals", "abstract sockets"] if abi >= 6 else [])
        layers["landlock"] = f"ABI {abi}: {', '.join(parts)}"
    layers["cgroup"] = f"{group.version and 'v%d' % group.version}: memory, pids, cpu" if group else None
    return {"layers": {k: v for k, v in layers.items() if v}, "missing": sorted(k for k, v in layers.items() if not v),
            "always": ["no_new_privs", "non-dumpable", "rlimits"]}


def covered(secret: list[str]) -> list[str]:
    """What to cover with empty mounts so that `secret` cannot be read, leaving the way to the readable roots open
    (the grader's home may hold the interpreter itself)."""
    keep = sorted({*_python_roots(), *(os.path.realpath(p) for p in _SYSTEM_ROOTS)})
    paths: list[str] = []
    for path in secret:
        paths += _cover(os.path.realpath(path), keep)
    return paths


def _cover(path: str, keep: list[str]) -> list[str]:
    inside = [k for k in keep if k == path or k.startswith(path.rstrip(os.sep) + os.sep)]
    if not inside:
        return [path] if os.path.exists(path) else []
    if path in inside or os.path.islink(path) or not os.path.isdir(path):
        return []  # needed as it is
    try:
        entries = sorted(os.listdir(path))
    except OSError:
        return []
    return [hidden for entry in entries for hidden in _cover(os.path.join(path, entry), keep)]


def readable(secret: list[str]) -> list[str]:
    """What a sandbox may read: the interpreter, its libraries and site-packages, system libraries; minus `secret`."""
    roots = {*_python_roots(), *_SYSTEM_ROOTS}
    allowed: list[str] = []
    for root in sorted(roots):
        allowed += _carve(root, secret)
    return allowed


_SYSTEM_ROOTS = (
    "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/usr/bin", "/bin", "/usr/share/zoneinfo",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf",
    "/etc/passwd", "/etc/group", "/etc/os-release", "/etc/ssl/certs", "/dev/urandom", "/dev/random", "/dev/zero",
    "/proc", "/sys/devices/system/cpu",
)
_CGROUP_ROOT = ("/sys/fs/cgroup",) if os.path.isdir("/sys/fs/cgroup") else ()


def _python_roots() -> set[str]:
    roots = {sys.prefix, os.path.join(sys.base_prefix, "lib"), os.path.join(sys.base_prefix, "bin"),
             os.path.realpath(sys.executable)}
    roots.update(site.getsitepackages())
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return {os.path.realpath(p) for p in roots if os.path.exists(p)}


def _carve(root: str, secret: list[str]) -> list[str]:
    """`root` itself if it holds no secret path; else its entries, recursively, leaving the secrets out."""
    root = os.path.realpath(root)
    if root in secret:
        return []
    if not any(s.startswith(root.rstrip(os.sep) + os.sep) for s in secret):
        return [root]
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return []
    allowed: list[str] = []
    for entry in entries:
        path = os.path.join(root, entry)
        if os.path.islink(path):
            continue  # its target is allowed (or not) in its own right
        allowed += _carve(path, secret)
    return allowed


def sensitive(assignment: Any, data: str | os.PathLike | None) -> list[Path]:
    """Paths no sandbox may read: the grader's package (with its student kits), the assignment's folder, its
    reference solution or its kit, every data source the assignment's spec declares (test labels included) and the
    parsed-data cache, the grader's home."""
    import grader
    from grader.assignment.data import cache_dir

    paths = [Path(p) for p in grader.__path__]
    for name in ("grader.kits", "grader.templates"):
        try:
            paths += [Path(p) for p in __import__(name, fromlist=["_"]).__path__]
        except ImportError:
            pass
    paths += [assignment.directory, Path.home(), cache_dir(os.environ)]
    paths += [p.parent for p in (assignment.solution,) if p is not None] + [p for p in (assignment.kit,) if p is not None]
    paths += [p for source in assignment.data.sources for p in source.protected(os.environ)]
    if data:
        paths.append(Path(data))
    return paths


def _world_readable(path: str) -> bool:
    """Whether a user with no rights of its own can reach and list `path`."""
    import stat

    current = Path(os.path.realpath(path))
    for folder in (current, *current.parents):
        try:
            mode = folder.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH or (folder == current and not mode & stat.S_IROTH):
            return False
    return True


def make_undumpable() -> None:
    """Keep processes of the same user (a sandbox that lost its other layers) from ptracing or reading this one."""
    try:
        libc.set_dumpable(False)
    except OSError:
        pass  # not Linux: there is no ptrace of this kind to refuse


def _unshare_probe() -> None:
    from grader.sandbox import confine

    confine._unshare_namespaces({})


def _try_in_child(action) -> bool:
    """Run `action` in a forked child; whether it returned without raising."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

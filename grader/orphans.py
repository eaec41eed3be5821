"""No process the grader starts outlives it.

Three measures, each for a way a process could be left running. A child the grader starts asks the
kernel to kill it when its parent ends (`die_with_parent`: the parent-death signal), so a worker, a
zygote or a sandbox's keeper cannot go on grading, spinning or writing after the process that
started it is gone, however that one ended. The signal follows the *thread* that started the child,
not its process: a caller passes the parent's pid only when the child was started from the parent's
main thread, which lives as long as the process. The command line's process is a child subreaper
(`become_reaper`): whatever loses its parent below it is re-parented to it rather than to init, so
`end_descendants` finds every process of the run by walking parent links, and kills them all.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from grader import libc, processes


def parent_token() -> int:
    """What a child started now should pass to `die_with_parent`: this process's pid from its main thread, else 0."""
    return os.getpid() if threading.current_thread() is threading.main_thread() else 0


def die_with_parent(parent: int) -> bool:
    """Have the kernel SIGKILL this process when `parent` (a `parent_token()`; 0: do nothing) ends; False if it had
    ended already, before the signal was set (the caller should then exit)."""
    if not parent:
        return True
    try:
        libc.set_pdeathsig(signal.SIGKILL)
    except OSError:
        pass  # not Linux: the parent's end is found by polling, where it is at all
    return os.getppid() == parent


def become_reaper() -> None:
    """Have the processes below this one that lose their parent re-parented here, where `end_descendants` finds them."""
    try:
        libc.set_child_subreaper()
    except OSError:
        pass  # not Linux: end_descendants finds only the processes that kept their parent


def end_descendants(timeout: float = 1.0) -> set[int]:
    """SIGKILL every process below this one, again until none is left (killing a parent re-parents its children
    here), and reap them; return the pids killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        left = processes.descendants(os.getpid())
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        killed |= left
        _reap()
        if not left or time.monotonic() > deadline:
            return killed
        time.sleep(0.01)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return

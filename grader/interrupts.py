"""What SIGINT, SIGTERM and SIGHUP do to a command of the grader: stop it, and everything it started, at once.

The first of them raises `Interrupted` (a KeyboardInterrupt) in the main thread, so that every
`finally` stops what it started: the pool kills its workers, a grade stops its sandbox and its
zygote. Python runs that handler only between two bytecodes of the main thread, which TensorFlow's
C code may hold for long; so a thread woken by the signal itself (`signal.set_wakeup_fd`) gives that
orderly stop GRACE_SECONDS, then calls the command's `leave` to kill every process of the run and
exit, or calls it at once on a second signal (Ctrl-C twice). Either way the command's exit status is
128 + the first signal's number, as a shell reports a command a signal ended (130 for Ctrl-C).
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from typing import Callable

from grader.results import EXIT_SIGNALLED

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 1.0  # for the orderly stop: killing what is left and removing its folders takes well under a second


class Interrupted(KeyboardInterrupt):
    """The command was asked to stop by a signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return EXIT_SIGNALLED + self.signum


_RECEIVED: list[int] = []  # the signals received, first first


def install(leave: Callable[[int], None]) -> None:
    """From now on the signals interrupt this command; `leave(status)` must end the process (it never returns).

    Call it from the main thread, once.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    os.set_inheritable(read_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for signum in SIGNALS:
        signal.signal(signum, _raise_once)
    threading.Thread(target=_watch, args=(read_fd, leave), name="grader-interrupts", daemon=True).start()


def exit_status(status: int) -> int:
    """`status`, or 128 + the signal's number if one was received."""
    return EXIT_SIGNALLED + _RECEIVED[0] if _RECEIVED and _RECEIVED[0] else status


def hold() -> None:
    """Raise no more `Interrupted`: the command is leaving, and killing what it started."""
    _RECEIVED.append(0)


def _raise_once(signum: int, frame: object) -> None:
    if not _RECEIVED:
        _RECEIVED.append(signum)
        raise Interrupted(signum)
    # A later one: the watching thread ends the command now; raising again would only cut the orderly stop short.


def _watch(fd: int, leave: Callable[[int], None]) -> None:
    first, deadline = 0, None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if select.select([fd], [], [], timeout)[0]:
            for signum in os.read(fd, 64):
                if signum not in SIGNALS:
                    continue
                if first:  # a second signal: no more waiting
                    leave(EXIT_SIGNALLED + first)
                first, deadline = signum, time.monotonic() + GRACE_SECONDS
        elif deadline is not None and time.monotonic() >= deadline:
            leave(EXIT_SIGNALLED + first)

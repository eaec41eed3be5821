"""TensorFlow's own log lines kept off the terminal and the notebook cell, unless asked for (`--verbose`).

TensorFlow's C++ libraries write to file descriptor 2 directly: on import, absl's "All log messages
before absl::InitializeLog() is called..." and oneDNN's "custom operations are on" (twice, once per
library that holds TensorFlow's logging); while training with deterministic ops, an error-level
`NodeDef mentions attribute use_unbounded_threadpool` of 600 characters. None of them is about the
submission, and a beginner reads an `E0000` line as "something broke". Two things silence them:

- `TF_CPP_MIN_LOG_LEVEL=3` in a process's environment before TensorFlow is imported (it reads the
  level once): no INFO, WARNING or ERROR line afterwards. The import's own lines pass it.
- `muted()`: while a block runs (the import; in a notebook's kernel, whose TensorFlow may have read
  another level already, the whole self-check), fd 2 goes to a file, and what is not TensorFlow's is
  written back to stderr when it ends. The grader's own messages are delayed, never lost.

The level is passed on through the environment: the batch workers inherit it, the zygote's
environment (grader.sandbox.zygote.environment) copies `level()`, and so the sandboxes run at it
too: what a submission prints is its own, TensorFlow's lines are not. `TF_ENABLE_ONEDNN_OPTS` is
left alone: it changes the numbers, where only the message was a problem.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator

LEVEL = "TF_CPP_MIN_LOG_LEVEL"
VERBOSE = "GRADER_VERBOSE"  # "1": TensorFlow's logs are shown; set for the block of quiet(verbose=True)
QUIET_LEVEL = "3"  # FATAL only

# A line TensorFlow's libraries write: an absl record ("E0000 00:00:1796673189.703375   15412 file.cc:682] ..."),
# absl's note before its initialisation, and the continuation of cpu_feature_guard's record.
_LINES = re.compile(rb"^(?:[IWEF]\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] "
                    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
                    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)")


def verbose() -> bool:
    """Whether TensorFlow's logs are to be shown (`--verbose`, `notebook_check(verbose=True)`)."""
    return os.environ.get(VERBOSE) == "1"


def level() -> str:
    """The TF_CPP_MIN_LOG_LEVEL for a process this one starts: FATAL only, unless verbose (then its own, if any)."""
    return os.environ.get(LEVEL, "0") if verbose() else QUIET_LEVEL


@contextlib.contextmanager
def quiet(verbose: bool = False, *, here: bool = True) -> Iterator[None]:
    """For the block: TensorFlow's logs off in the processes started in it, and with `here` in this one too (for a
    TensorFlow not imported yet; not in a notebook's kernel, which is the student's), or with `verbose`, on as
    TensorFlow has them. The environment is as it was afterwards."""
    saved = {name: os.environ.get(name) for name in (LEVEL, VERBOSE)}
    if verbose:
        os.environ[VERBOSE] = "1"
    else:
        os.environ.pop(VERBOSE, None)
        if here:
            os.environ[LEVEL] = QUIET_LEVEL
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def is_log(line: bytes) -> bool:
    """Whether `line` is one TensorFlow's libraries wrote."""
    return bool(_LINES.match(line))


@contextlib.contextmanager
def muted() -> Iterator[None]:
    """While the block runs, what is written on fd 2 is held in a file; afterwards its lines that are not
    TensorFlow's are written to stderr. Does nothing when verbose. Threads' writes meanwhile are held too."""
    try:
        saved = None if verbose() else os.dup(2)
    except OSError:  # no stderr at all: nothing to keep clean
        saved = None
    if saved is not None:
        try:
            held = tempfile.TemporaryFile()
        except OSError:  # nowhere to hold it: TensorFlow's lines go through rather than the grade failing
            os.close(saved)
            saved = None
    if saved is None:
        yield
        return
    _flush()
    with held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            _flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = b"".join(line for line in held.read().splitlines(keepends=True) if not is_log(line))
            _write(2, kept)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


def _write(fd: int, data: bytes) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except OSError:
            return  # stderr is closed: there is no one to tell
        data = data[written:]

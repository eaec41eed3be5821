"""The grader's own errors: one base, two kinds, at the bottom of the import graph.

The library raises them; the command line (grader.cli) alone turns them into a message and an exit
status. A `UsageError` is a request the grader cannot carry out as given, which the person who made
it can fix: the command line prints its message on one line. A `GraderFault` is the grader's own
failure: it is reported as any bug of the grader is, with its traceback, and never passes for a
verdict on a submission. Both end the command with EXIT_ERROR (grader.results).
"""

from __future__ import annotations


class GraderError(Exception):
    """An error the grader raises on purpose; its message says what happened, what was expected and what to do."""


class UsageError(GraderError):
    """Bad input: a command-line argument, a path, an assignment's spec or data, a roster, or an isolation this
    machine lacks; the message says what to give or do instead."""


class GraderFault(GraderError):
    """The grader itself failed (a process of its own died or stopped answering); never the submission's fault."""

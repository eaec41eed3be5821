"""The errors the command line turns into a message and exit status 2, at the bottom of the import graph."""

from __future__ import annotations


class UsageError(Exception):
    """Bad command-line input; the message says what to give instead."""

"""Text that submitted code wrote, made valid Unicode before the grader keeps or writes it.

A Python string can hold lone UTF-16 surrogates (U+D800 to U+DFFF) that no UTF-8 file can: JSON
decodes "\\ud800" into one, and a file name of bytes that are not UTF-8 decodes into others
(Python's surrogateescape). Such a string raises UnicodeEncodeError in every writer, so one
exception message could cost a submission its report. Each lone surrogate becomes U+FFFD, the
replacement character; a pair of them that makes one character is joined into it.
"""

from __future__ import annotations

from typing import Any


def valid(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD, so that it encodes as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def valid_data(value: Any) -> Any:
    """`value`, plain data as the grader's results are (dicts, lists, tuples, strings, numbers; nested a few
    levels), with `valid` applied to every string, keys included."""
    if isinstance(value, str):
        return valid(value)
    if isinstance(value, dict):
        return {valid_data(k): valid_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(valid_data(v) for v in value)
    return value

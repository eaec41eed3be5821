"""Validators of submitted values: each checks one value's type and range and says what was expected.

Submitted configs (layer arguments, optimizer and metric settings) are plain JSON read from the
sandbox; every value the grader passes on to Keras goes through one of these first. A validator is
`check(value, where) -> value`, raising ArgumentError with a message that names `where`, shows
the value (cut to a line: submitted strings can be megabytes long) and says what would do.
"""

from __future__ import annotations

import math
from typing import Any, Callable

Validator = Callable[[Any, str], Any]
MAX_SHOWN = 80         # characters of a submitted string shown in a message


class ArgumentError(ValueError):
    """An argument the grader does not accept; the message says which, why, and what would do."""


def shorten(value: Any, limit: int = MAX_SHOWN) -> str:
    """`str(value)`, cut to `limit` characters with an ellipsis: submitted strings can be megabytes long."""
    if isinstance(value, (list, tuple)) and len(value) > 10:
        text = f"{repr(list(value[:10]))[:-1]}, … ({len(value):,} items)]"
    else:
        text = value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def quoted(value: Any) -> str:
    """A submitted value as a message shows it: strings quoted, so '0.1' is not mistaken for 0.1."""
    return repr(shorten(value, MAX_SHOWN - 2)) if isinstance(value, str) else shorten(value)


# -- validators ------------------------------------------------------------------------------------

def integer(low: int, high: int) -> Validator:
    """A whole number from `low` to `high` (a bool is not one)."""
    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ArgumentError(f"{where} is {quoted(value)}; expected a whole number from {low:,} to {high:,}.")
        return value
    return check


def integers(low: int, high: int, *, max_len: int = 3) -> Validator:
    """A whole number, or a list of 1 to `max_len` of them (read as a tuple), each from `low` to `high`."""
    return _one_or_list(integer(low, high), max_len)


def number(low: float, high: float) -> Validator:
    """A finite int or float from `low` to `high`."""
    def check(value: Any, where: str) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise ArgumentError(f"{where} is {quoted(value)}; expected a single number from {low:g} to {high:g}.")
        return value
    return check


def flag(value: Any, where: str) -> bool:
    """True or False."""
    if not isinstance(value, bool):
        raise ArgumentError(f"{where} is {quoted(value)}; expected True or False.")
    return value


def choice(*options: str) -> Validator:
    """One of the strings `options`."""
    def check(value: Any, where: str) -> str:
        if value not in options:
            raise ArgumentError(f"{where} is {quoted(value)}; expected one of {', '.join(map(repr, options))}.")
        return value
    return check


def optional(validator: Validator) -> Validator:
    """None, or a value `validator` accepts."""
    def check(value: Any, where: str) -> Any:
        return None if value is None else validator(value, where)
    return check


def absent(value: Any, where: str) -> None:
    """None only: an argument the grader accepts at its default and no other value."""
    if value is not None:
        raise ArgumentError(f"{where} is set; the grader only accepts it at its default (None). Remove it.")
    return None


def numbers(low: float, high: float, *, max_len: int) -> Validator:
    """A single number or a list of 1 to `max_len` numbers (read as a tuple), each from `low` to `high`."""
    return _one_or_list(number(low, high), max_len)


def _one_or_list(single: Validator, max_len: int) -> Validator:
    """What `single` accepts, or a list of 1 to `max_len` such values, read as a tuple."""

    def check(value: Any, where: str) -> Any:
        if isinstance(value, list):
            if not 1 <= len(value) <= max_len:
                raise ArgumentError(f"{where} has {len(value):,} entries; expected 1 to {max_len:,}.")
            return tuple(single(v, where) for v in value)
        return single(value, where)
    return check


def arguments(args: dict[str, Any], allowed: dict[str, Validator], where: str) -> dict[str, Any]:
    """Every entry of `args` validated by its validator in `allowed`; an argument not in `allowed` is refused."""
    out = {}
    for key, value in args.items():
        validator = allowed.get(key)
        if validator is None:
            known = ", ".join(allowed) or "none"
            raise ArgumentError(f"{where} has an argument {shorten(key)!r} the grader does not rebuild "
                                f"(it knows: {shorten(known, 400)}); remove it.")
        out[key] = validator(value, f"{where}, argument {key}")
    return out

"""What submitted code printed, cut to what is kept (a run's output, each check's first lines) and shown.

A beginner debugs with `print`: the lines a function printed while a check called it belong under
that check (`grader check` shows them), and the output of a whole run under the report's "Printed
output". A long output keeps its head, where the first prints are, and its tail, where the last
ones before a failure are; the middle is replaced by a marker saying how much went, and the count
is added to `output_dropped`, so that nothing is dropped without being counted.
"""

from __future__ import annotations

from typing import Any

KEEP = 20_000  # characters of a run's output kept in results.json: the first and the last half of it
CHECK_LINES = 20  # a check's printed output kept in its extra_data: at most these lines
CHECK_CHARS = 2_000  # ... and these characters
MARKER_ROOM = 64  # characters the marker between head and tail takes at most (the longest count is 25 of them)
IMPORTED = "<import>"  # the key of what the module printed while it was imported, before any check ran
SHOWN_LINES = 5  # of a check's printed output, shown under it by `grader check` and notebook_check
MARK = "| "  # before each line the submission printed, so that it never reads as the grader's


def head_and_tail(text: str, keep: int = KEEP) -> tuple[str, int]:
    """`text` if it is at most `keep` characters long, else at most its first and last `keep // 2` characters, cut
    at line ends where a line end is near, with a marker between them; and how many characters the marker stands
    for. Whole lines, so that what is kept never starts in the middle of a printed array."""
    half = keep // 2
    if len(text) <= keep:
        return text, 0
    head, tail = text[:half], text[len(text) - half:]
    end = head.rfind("\n")
    if end >= half // 2:
        head = head[:end + 1]
    start = tail.find("\n")
    if 0 <= start < half // 2:
        tail = tail[start + 1:]
    dropped = len(text) - len(head) - len(tail)
    return f"{head.removesuffix(chr(10))}\n[... {dropped:,} characters dropped ...]\n{tail}", dropped


def first_lines(text: str, lines: int = CHECK_LINES, chars: int = CHECK_CHARS) -> str:
    """The first `lines` lines of `text`, and at most `chars` characters of them."""
    return "".join(text[:chars].splitlines(keepends=True)[:lines])


class PerCheck:
    """The first lines each check's requests printed, and how many characters they printed in all, by check name."""

    def __init__(self) -> None:
        self._kept: dict[str, str] = {}
        self._chars: dict[str, int] = {}

    def add(self, check: str, text: str, more: int = 0) -> None:
        """Keep what `check` printed in one request (`text`, as much as was read) and count it, with `more`
        characters that were printed but not read or not written."""
        if not text and not more:
            return
        kept = self._kept.get(check, "")
        self._kept[check] = first_lines(kept + text[:CHECK_CHARS - len(kept)])
        self._chars[check] = self._chars.get(check, 0) + len(text) + more

    def record(self, check: str) -> dict[str, Any] | None:
        """What `check` printed, as results keep it ({"text": its first lines, "chars": how many it printed in
        all}), or None if it printed nothing."""
        if check not in self._chars:
            return None
        return {"text": self._kept[check], "chars": self._chars[check]}


def shown(record: Any, width: int, most: int = SHOWN_LINES, *, heading: str = "Your code printed:") -> list[str]:
    """What the submission printed, from a check's `printed` record ({"text", "chars"}): `heading` and its first
    `most` lines, each marked and cut to `width`, control characters shown as escapes; [] if it printed nothing."""
    if not isinstance(record, dict) or not isinstance(record.get("chars"), int) or record["chars"] <= 0:
        return []
    text = str(record.get("text") or "")
    rows = text.splitlines()
    lines = [heading]
    for row in rows[:most]:
        row = MARK + _visible(row)
        lines.append(row if len(row) <= width else row[:width - 3] + "...")
    if len(rows) > most or record["chars"] > len(text):
        lines.append(f"{MARK}... ({record['chars']:,} characters in all)")
    return lines


def _visible(line: str) -> str:
    """A printed line as it may go to a terminal: tabs as spaces, other control characters as escapes."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in line.expandtabs(4))

"""Progress of a batch: a rich progress bar on a terminal, one plain line per graded submission elsewhere (CI logs).

The bar shows graded/total, how many passed and failed so far, the time elapsed and left, and the
submissions being graded; it is drawn on stderr, so stdout keeps the summaries (or --json) alone.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from grader import passmark
from grader.trusted import memo
from grader.passmark import PassMark
from grader.results import GRADED, format_points, status_of


def trainings(results: list[dict[str, Any]]) -> tuple[int, int]:
    """How many of these results trained their model here, and how many reused a memoized training."""
    records = [memo.recorded(result) for result in results]
    reused = sum(bool(r.get("reused")) for r in records)
    return sum(bool(r) for r in records) - reused, reused


class Progress:
    """Told when each submission starts and ends; draws a bar (`bar`) or writes one line per submission."""

    def __init__(self, total: int, skipped: int, *, bar: bool, pass_mark: PassMark | None = None,
                 stream: TextIO | None = None) -> None:
        self.total, self.skipped, self.pass_mark = total, skipped, pass_mark
        self.stream = stream or sys.stderr
        self.count, self.passed, self.failed, self.not_graded = skipped, 0, 0, 0
        self.started = time.monotonic()
        self.running: dict[str, None] = {}  # in the order they started
        self.results: list[dict[str, Any]] = []
        if skipped:
            print(f"{skipped} of {total} already graded with the same content and configuration (--force grades them "
                  "again)", file=self.stream, flush=True)
        self._bar = self._task = None
        if bar:
            self._start_bar()

    def start(self, job: Any, pid: int) -> None:
        """A worker took `job` (batch.run's on_start)."""
        self.running[job.name] = None
        self._refresh()

    def done(self, job: Any, results: dict[str, Any]) -> None:
        """`job` was graded (batch.run's on_done)."""
        self.running.pop(job.name, None)
        self.count += 1
        self.results.append(results)
        ok = passmark.exit_status(results, self.pass_mark) == 0
        graded = status_of(results) == GRADED
        self.passed += ok
        self.failed += not ok and graded
        self.not_graded += not graded
        if self._bar is None:
            extra = results.get("extra_data") or {}
            score = f"{format_points(results.get('score', 0))}/{format_points(extra.get('max_score', 0))}" if graded else "-"
            verdict = ("passed" if ok else "fault" if extra.get("grader_faults") else
                       f"not graded ({status_of(results)})" if not graded else "failed")
            print(f"[{self.count}/{self.total}] {job.name}: {score} {verdict} "
                  f"({results.get('execution_time', 0):.1f} s)", file=self.stream, flush=True)
        else:
            self._bar.advance(self._task)
        self._refresh()

    def close(self) -> None:
        """Take the bar down and say what the run did."""
        if self._bar is not None:
            self._refresh()
            self._bar.stop()
        graded = self.count - self.skipped
        if not graded:
            return
        own, reused = trainings(self.results)
        shared = f"; {own} training(s) run, {reused} reused from the training cache" if reused else ""
        unread = f", {self.not_graded} not graded" if self.not_graded else ""
        print(f"graded {graded} in {time.monotonic() - self.started:.0f} s: {self.passed} passed, {self.failed} failed"
              f"{unread}{shared}", file=self.stream, flush=True)

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress as Bar, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = (BarColumn(), TextColumn("{task.fields[graded]}/{task.fields[total_all]}"),
                   TextColumn("[green]{task.fields[passed]} passed[/] [red]{task.fields[failed]} failed[/]"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                   TextColumn("{task.fields[current]}", markup=False))
        self._bar = Bar(*columns, console=Console(file=self.stream), transient=False)
        # ETA from this run's pace: the total counts only what is graded now, not what was skipped.
        self._task = self._bar.add_task("grading", total=max(1, self.total - self.skipped), graded=self.count,
                                        total_all=self.total, passed=0, failed=0, current="")
        self._bar.start()
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is None:
            return
        current = ", ".join(self.running)
        self._bar.update(self._task, graded=self.count, passed=self.passed, failed=self.failed,
                         current=current[:60] + ("…" if len(current) > 60 else ""))

"""Writing a graded submission to disk: results.json and report.html, atomically.

Jinja2 and the report are imported when a report is drawn, not with this module, which the command
line imports before the zygote starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import timings as clock
from grader import utf8
from grader.files import write_atomically

if TYPE_CHECKING:
    import numpy as np

_FALLBACK = (
    "<!doctype html><meta charset=utf-8><title>{{ name }}</title><h1>{{ name }}: {{ score }}/{{ max }}</h1>"
    "<p>The full report could not be drawn ({{ error }}); results.json beside this page holds every result.</p>"
    "<ul>{% for t in tests %}<li>{{ t.name }}: {{ t.status }} ({{ t.score }}/{{ t.max_score }}) {{ t.output }}</li>"
    "{% endfor %}</ul>")


def write(results: dict[str, Any], out_dir: Path, images: np.ndarray | None = None, *,
          timings: bool = False) -> dict[str, Path]:
    """Draw the report, then write results.json and report.html into `out_dir`; return their paths.

    results.json is the record: a report that cannot be drawn is replaced by a plain page rather
    than losing the results. With `timings`, results' extra_data.timings gets the stages this
    process has timed (see grader.timings), drawing the report included: it is drawn first for that.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": out_dir / "results.json", "report": out_dir / "report.html"}
    with clock.stage("report"):
        try:
            from grader.views import report

            page = report.render(results, images)
        except Exception as exc:  # noqa: BLE001 - the record is safe; say what went wrong in its place
            import jinja2

            extra = results.get("extra_data", {})
            page = jinja2.Environment(autoescape=True).from_string(_FALLBACK).render(
                name=extra.get("submission", ""), score=results.get("score"), max=extra.get("max_score"),
                error=f"{type(exc).__name__}: {exc}", tests=results.get("tests", []))
    recorder = clock.current()
    if timings and recorder is not None:
        results.setdefault("extra_data", {})["timings"] = recorder.to_dict()
    with clock.stage("writing results.json and report.html"):
        write_text(paths["results"], json.dumps(results, indent=2, allow_nan=False, default=str) + "\n")
        write_text(paths["report"], page)
    return paths


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8, any lone surrogate replaced) in one step, so a reader never sees half a file."""
    write_atomically(path, utf8.valid(text).encode("utf-8"))


def record_sharing(results: dict[str, dict[str, Any]], folders: dict[str, Path]) -> None:
    """Say in each result and report of a run how many of its submissions shared their memoized training.

    `folders` are the output folders of the run's submissions, by name. A worker does not know, when it
    writes a report, how many later submissions will reuse its training; once the run is over, this sets
    the count in results.json (the training check's training_cache.shared) and in the report's one
    sentence about it (grader.views.report.with_sharing), without drawing the report again.
    """
    import collections

    from grader.trusted import memo
    from grader.views import report

    counts = collections.Counter(key for r in results.values() if (key := memo.recorded(r).get("key")))
    for name, folder in folders.items():
        cache = memo.recorded(results.get(name) or {})
        shared = counts.get(cache.get("key"), 0)
        if shared < 2 or cache.get("shared") == shared:
            continue
        cache["shared"] = shared
        write_text(folder / "results.json", json.dumps(results[name], indent=2, allow_nan=False, default=str) + "\n")
        try:
            page = (folder / "report.html").read_text(encoding="utf-8")
        except OSError:
            continue
        patched = report.with_sharing(page, memo.sharing_text(shared, bool(cache.get("reused"))))
        if patched != page:
            write_text(folder / "report.html", patched)

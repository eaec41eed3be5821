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

"""Writing a graded submission to disk: results.json and report.html, atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from grader import report


_FALLBACK = jinja2.Environment(autoescape=True).from_string(
    "<!doctype html><meta charset=utf-8><title>{{ name }}</title><h1>{{ name }}: {{ score }}/{{ max }}</h1>"
    "<p>The full report could not be drawn ({{ error }}); results.json beside this page holds every result.</p>"
    "<ul>{% for t in tests %}<li>{{ t.name }}: {{ t.status }} ({{ t.score }}/{{ t.max_score }}) {{ t.output }}</li>"
    "{% endfor %}</ul>")


def write(results: dict[str, Any], out_dir: Path, images: np.ndarray | None = None) -> dict[str, Path]:
    """Write results.json, then report.html, into `out_dir`; return their paths.

    results.json is the record: it is written first, and a report that cannot be drawn is
    replaced by a plain page rather than losing the results.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": out_dir / "results.json", "report": out_dir / "report.html"}
    write_text(paths["results"], json.dumps(results, indent=2, allow_nan=False, default=str) + "\n")
    try:
        page = report.render(results, images)
    except Exception as exc:  # noqa: BLE001 - the record is safe; say what went wrong in its place
        extra = results.get("extra_data", {})
        page = _FALLBACK.render(name=extra.get("submission", ""), score=results.get("score"), max=extra.get("max_score"),
                                error=f"{type(exc).__name__}: {exc}", tests=results.get("tests", []))
    write_text(paths["report"], page)
    return paths


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""Writing a graded submission to disk: results.json and report.html, atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from grader import report


def write(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write results.json and report.html into `out_dir`; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": out_dir / "results.json", "report": out_dir / "report.html"}
    write_text(paths["results"], json.dumps(results, indent=2, allow_nan=False, default=str) + "\n")
    write_text(paths["report"], report.render(results))
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

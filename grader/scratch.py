"""The temporary files and folders of one run of the grader, named so that the run can remove them all at its end.

A process killed by SIGKILL runs no `finally`: a worker killed on an interrupt leaves its sandbox's,
its zygote's and its submission's folders in the temporary folder, and perhaps a half-written
`.results.json.*.tmp` beside a result (grader.files writes to one, then renames it). Every such name
holds the run's tag, which the command line sets in its environment (its workers inherit it), so
that `remove` finds exactly this run's leftovers once all its processes are dead, and never another
run's: shards sharing a training cache each remove their own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

TAG = "GRADER_RUN"  # the environment variable holding the run's tag
_WATCHED: list[Path] = []  # folders where files may be written atomically: the output folder, the training cache


def begin() -> str:
    """Give this run a tag of its own (its processes inherit it); return it."""
    os.environ[TAG] = f"r{os.getpid()}x{os.urandom(3).hex()}"
    return os.environ[TAG]


def tag() -> str:
    """The run's tag, or '' outside a run of the command line (a library call: names as before)."""
    tag = os.environ.get(TAG, "")
    return tag if tag.isalnum() else ""


def prefix(kind: str) -> str:
    """The name a temporary folder of `kind` (sandbox, zygote, submission) starts with."""
    return f"grader-{kind}-{tag()}_" if tag() else f"grader-{kind}-"


def watch(folder: Path) -> None:
    """Remove this run's unfinished files in `folder` and the folders in it at the end of the run."""
    _WATCHED.append(Path(folder))


def remove() -> None:
    """Remove the run's temporary folders and unfinished files; call it once every process of the run is dead."""
    run = tag()
    if not run:
        return
    for entry in Path(tempfile.gettempdir()).glob(f"grader-*-{run}_*"):
        shutil.rmtree(entry, ignore_errors=True)
    for folder in _WATCHED:
        for pattern in (f".*.{run}_*.tmp", f"*/.*.{run}_*.tmp"):
            for path in folder.glob(pattern):
                try:
                    if path.is_file() and not path.is_symlink():
                        path.unlink()
                except OSError:
                    pass

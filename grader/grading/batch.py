"""Grading many submissions: which to grade, under which names, in a session's warm workers (grader.grading.session).

Every submission still runs in its own sandbox process, forked from its worker's fork server, so
TensorFlow's start-up is paid once per worker rather than once per submission. Results are written
per submission as soon as each is graded, with a fingerprint of the submission and of the grading
configuration, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

from grader.grading import fingerprint, handins
from grader.grading.session import Job
from grader.assignment.spec import Assignment
from grader.errors import UsageError


class ShardError(UsageError, ValueError):
    """A --shard value that is not K/N with 1 <= K <= N."""


def parse_shard(text: str) -> tuple[int, int]:
    """'2/5' -> (2, 5)."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ShardError(f"--shard {text!r} is not K/N (for example 1/4)") from None
    if not 1 <= k <= n:
        raise ShardError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


RESERVED = frozenset({"gradebook.csv", "index.html"})  # what a run writes beside the submissions' folders
MAX_NAME_BYTES = 80


def names(paths: list[Path], module: str) -> dict[Path, str]:
    """A unique, stable, safe folder name per submission: the folder's name, or the file's stem (or parent's, for module.py files)."""
    stem = Path(module).stem
    raw = {}
    for path in paths:
        download = handins.canvas_download(path)
        if download is not None:
            raw[path] = safe_name(download.folder)
        elif path.is_dir():
            raw[path] = safe_name(path.resolve().name)
        elif path.stem == stem and path.resolve().parent.name:
            raw[path] = safe_name(path.resolve().parent.name)
        else:
            raw[path] = safe_name(path.stem)
    taken = {name.casefold() for name in raw.values()} | RESERVED
    first: set[str] = set()
    unique = {}
    for path in sorted(paths, key=lambda p: str(p)):
        name = raw[path]
        if name.casefold() in first or name.casefold() in RESERVED:  # a case-insensitive disk would mix them up too
            name = next(f"{name}-{k}" for k in itertools.count(2) if f"{name}-{k}".casefold() not in taken)
            taken.add(name.casefold())
        first.add(raw[path].casefold())
        unique[path] = name
    return unique


def safe_name(text: str) -> str:
    """`text` as one folder name that cannot leave the output folder: letters, digits, `_`, `-` and inner dots only."""
    name = re.sub(r"[^\w.-]", "_", text).lstrip(".-")
    name = name.encode()[:MAX_NAME_BYTES].decode(errors="ignore")
    return name or "submission"


def plan(paths: list[Path], task: Assignment, *, out: Path, data_sha256: str, shard: tuple[int, int] | None = None) -> list[Job]:
    """The jobs of this run, in name order, restricted to one shard if asked."""
    config = fingerprint.configuration(task, data_sha256)
    named = names(paths, task.module)
    ordered = sorted(named.items(), key=lambda item: item[1])
    if shard:
        k, n = shard
        ordered = [item for i, item in enumerate(ordered) if i % n == k - 1]
    return [Job(path, name, out / name, f"{fingerprint.submission(path)}:{config}",
                download.to_dict() if (download := handins.canvas_download(path)) else None)
            for path, name in ordered]


def latest(paths: list[Path]) -> tuple[list[Path], dict[Path, Path]]:
    """The hand-ins to grade, and those superseded by a later submission of the same student (Canvas' download
    names: the largest submission id wins), each with the one that supersedes it."""
    newest: dict[str, tuple[int, Path]] = {}
    for path in paths:
        download = handins.canvas_download(path)
        if download is not None and (download.user_id not in newest or download.submission_id > newest[download.user_id][0]):
            newest[download.user_id] = (download.submission_id, path)
    kept, superseded = [], {}
    for path in paths:
        download = handins.canvas_download(path)
        winner = newest[download.user_id][1] if download is not None else path
        if winner == path:
            kept.append(path)
        else:
            superseded[path] = winner
    return kept, superseded


def already_graded(job: Job) -> dict[str, Any] | None:
    """The results of an earlier run for the same submission and configuration, if there are any."""
    try:
        results = json.loads((job.out / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if results.get("extra_data", {}).get("fingerprint") == job.fingerprint and (job.out / "report.html").is_file():
        return results
    return None


def default_workers() -> int:
    """As many workers as cores, but no more than memory allows (about 2 GB each with its zygote)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        available = 1 << 34
    return max(1, min(cores, available // (2 << 30)))

"""Grading many submissions: a pool of warm trusted workers, each with its own zygote.

Every submission still runs in its own sandbox process, forked from the worker's zygote, so
TensorFlow's start-up is paid once per worker rather than once per submission. The trusted
workers train and evaluate; they are spawned (not forked) and never fork student code themselves.
Results are written per submission as soon as each is graded, with a fingerprint of the
submission and of the grading configuration, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import collections
import gc
import html
import itertools
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grader.grading import fingerprint, handins, pool
from grader.trusted import memo
from grader.views import outputs
from grader import timings as clock
from grader.assignment.spec import Assignment
from grader.errors import UsageError


class ShardError(UsageError, ValueError):
    """A --shard value that is not K/N with 1 <= K <= N."""


@dataclass(frozen=True)
class Job:
    """One submission to grade and where its results go."""

    path: Path
    name: str
    out: Path
    fingerprint: str
    canvas: dict[str, Any] | None = None  # who handed it in, from Canvas' download name (see grader.grading.handins)


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


def record_sharing(results: dict[str, dict[str, Any]], jobs: list[Job]) -> None:
    """Say in each result and report how many submissions of this run shared its memoized training.

    A worker does not know, when it writes a report, how many later submissions will reuse its training;
    once the run is over, this sets the count in results.json (the training check's
    training_cache.shared) and in the report's one sentence about it, without drawing the report again.
    """
    counts = collections.Counter(key for r in results.values() if (key := memo.recorded(r).get("key")))
    for job in jobs:
        cache = memo.recorded(results.get(job.name) or {})
        shared = counts.get(cache.get("key"), 0)
        if shared < 2 or cache.get("shared") == shared:
            continue
        cache["shared"] = shared
        outputs.write_text(job.out / "results.json",
                           json.dumps(results[job.name], indent=2, allow_nan=False, default=str) + "\n")
        report = job.out / "report.html"
        try:
            page = report.read_text(encoding="utf-8")
        except OSError:
            continue
        sentence = html.escape(memo.sharing_text(shared, bool(cache.get("reused"))))
        patched = _CACHE_NOTE.sub(lambda _: f'<p class="note" id="training-cache">{sentence}</p>', page, count=1)
        if patched != page:
            outputs.write_text(report, patched)


_CACHE_NOTE = re.compile(r'<p class="note" id="training-cache"( hidden)?>[^<]*</p>')  # submitted text is escaped: no "<"


def run(jobs: list[Job], task: Assignment, *, data: str | None, workers: int, keep_gpu: bool = False,
        on_done: Callable[[Job, dict], None] | None = None,
        on_start: Callable[[Job, int], None] | None = None, protect: tuple[Path, ...] = (),
        trainings: Path | None = None, timings: bool = False) -> dict[str, dict[str, Any]]:
    """Grade the jobs in `workers` processes; return results by name. Never loses a job.

    A worker that dies (out of memory, killed) is replaced and only the job it held is tried again,
    once; if it dies again that submission is recorded as a fault and the others are graded as usual.
    `on_start(job, pid)` is told which worker process each try runs in. `protect` are paths no
    sandbox may read (the output folder, every submission of the class), besides the grader's own.
    `trainings` is the folder of memoized trainings the workers share (grader.trusted.memo; None: each trains its own).
    With `timings`, each results.json holds how long each stage of its grading took (extra_data.timings).
    """
    results: dict[str, dict[str, Any]] = {}

    def finished(job: Job, outcome: Any) -> None:
        if isinstance(outcome, Exception):
            results[job.name] = _write_fault(job, task, _fault_message(outcome))
        else:
            results[job.name] = outcome
        if on_done:
            on_done(job, results[job.name])

    workers = max(1, workers)
    pool.run(jobs, _grade_job, workers=workers, start=_start_worker,
             start_args=(task, data, keep_gpu, protect, trainings, min(workers, len(jobs)), timings),
             stop=_stop_worker, retries=1, on_result=finished, on_start=on_start)
    return results


def default_workers() -> int:
    """As many workers as cores, but no more than memory allows (about 2 GB each with its zygote)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        available = 1 << 34
    return max(1, min(cores, available // (2 << 30)))


def _fault_message(outcome: Exception) -> str:
    """What a student reads when the grader could not grade their submission."""
    if isinstance(outcome, pool.WorkerDied):
        return (f"The grading process died while grading this submission, on both tries ({outcome}). A model too "
                "large for the grader's memory can do this; if yours is the size the assignment asks for, this is "
                "not your fault. Tell your instructor.")
    # JobFailed and NoWorkers carry their cause as their message.
    return f"The grader itself failed on this submission ({outcome}); this is not your fault. Tell your instructor."


def _write_fault(job: Job, task: Assignment, message: str) -> dict[str, Any]:
    from grader.grading.grade import all_failed

    results = all_failed(task, job.name, message, fault="grader").to_dict()
    if job.canvas is not None:
        results["extra_data"]["canvas"] = job.canvas
    outputs.write(results, job.out)  # no fingerprint: it is graded again next time
    return results


# -- inside a worker process -----------------------------------------------------------------------

_WORKER: dict[str, Any] = {}
# Submissions a worker grades between two clean-ups of Keras' state and Python's garbage. Each takes about a
# second (0.6 s and 0.5 s measured after a submission), as long as grading a submission whose training is
# memoized; the few models of ten submissions are a few tens of megabytes meanwhile.
CLEAN_EVERY = 10


def _start_worker(task: Assignment, data: str | None, keep_gpu: bool, protect: tuple[Path, ...] = (),
                  trainings: Path | None = None, workers: int = 1, timings: bool = False) -> None:
    from grader import heap, tflog

    os.environ[tflog.LEVEL] = tflog.level()  # one line per submission on the terminal, not TensorFlow's notes
    from grader.sandbox.isolation import make_undumpable

    heap.pause()
    from grader.sandbox.zygote import Zygote

    make_undumpable()
    _WORKER.update(task=task, data=data, keep_gpu=keep_gpu, protect=protect, timings=timings, trainings=None)
    _WORKER["zygote"] = Zygote(task.preload, keep_gpu=keep_gpu)  # imports TensorFlow while this process does too
    from grader import optional
    from grader.trusted import memo, threads

    threads.configure(workers)  # before TensorFlow starts: this worker's share of the cores
    with tflog.muted():  # its import's lines, which no level hides
        optional.import_keras()  # without the optional packages Keras would import (see grader.optional)

    from grader.assignment.data import load_dataset

    if trainings is not None:
        _WORKER["trainings"] = memo.Cache(trainings)
    _WORKER["dataset"] = load_dataset(data, task.data)
    from grader.checks import context  # noqa: F401 - the checks' modules, imported before the heap settles

    heap.settle()


def _stop_worker() -> None:
    if "zygote" in _WORKER:
        _WORKER["zygote"].close()


def _grade_job(job: Job) -> dict[str, Any]:
    import keras

    from grader.grading.grade import grade
    from grader.sandbox.zygote import Zygote

    task = _WORKER["task"]
    if _WORKER["timings"]:
        clock.begin(origin=time.monotonic())  # this submission's stages, from when its worker took it
    if _WORKER["zygote"].process.poll() is not None:  # it died: start another
        _WORKER["zygote"] = Zygote(task.preload, keep_gpu=_WORKER["keep_gpu"])
    result = grade(job.path, task, data=_WORKER["data"], keep_gpu=_WORKER["keep_gpu"], name=job.name,
                   zygote=_WORKER["zygote"], dataset=_WORKER["dataset"], protect=_WORKER["protect"],
                   trainings=_WORKER["trainings"])
    results = result.to_dict()
    results["extra_data"]["fingerprint"] = job.fingerprint
    if job.canvas is not None:
        results["extra_data"]["canvas"] = job.canvas
    outputs.write(results, job.out, images=_WORKER["dataset"].test_images, timings=_WORKER["timings"])
    _WORKER["graded"] = _WORKER.get("graded", 0) + 1
    if _WORKER["graded"] % CLEAN_EVERY == 0:
        with clock.stage("worker: free the models of the last submissions"):
            keras.backend.clear_session()
            gc.collect()
    return results

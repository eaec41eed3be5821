"""Grading many submissions: a pool of warm trusted workers, each with its own zygote.

Every submission still runs in its own sandbox process, forked from the worker's zygote, so
TensorFlow's start-up is paid once per worker rather than once per submission. The trusted
workers train and evaluate; they are spawned (not forked) and never fork student code themselves.
Results are written per submission as soon as each is graded, with a fingerprint of the
submission and of the grading configuration, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import concurrent.futures
import gc
import itertools
import json
import multiprocessing
import os
import re
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grader import fingerprint, outputs
from grader.spec import Assignment


class ShardError(ValueError):
    """A --shard value that is not K/N with 1 <= K <= N."""


@dataclass(frozen=True)
class Job:
    """One submission to grade and where its results go."""

    path: Path
    name: str
    out: Path
    fingerprint: str


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
        if path.is_dir():
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
    return [Job(path, name, out / name, f"{fingerprint.submission(path)}:{config}") for path, name in ordered]


def already_graded(job: Job) -> dict[str, Any] | None:
    """The results of an earlier run for the same submission and configuration, if there are any."""
    try:
        results = json.loads((job.out / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if results.get("extra_data", {}).get("fingerprint") == job.fingerprint and (job.out / "report.html").is_file():
        return results
    return None


def run(jobs: list[Job], task: Assignment, *, data: str | None, workers: int, keep_gpu: bool = False,
        on_done: Callable[[Job, dict], None] | None = None) -> dict[str, dict[str, Any]]:
    """Grade the jobs in a pool of `workers` processes; return results by name. Never loses a job."""
    results: dict[str, dict[str, Any]] = {}
    pending = list(jobs)
    for attempt in range(2):
        if not pending:
            break
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, min(workers, len(pending))), mp_context=context,
                                                    initializer=_start_worker, initargs=(task, data, keep_gpu)) as pool:
            futures = {pool.submit(_grade_job, job): job for job in pending}
            try:
                for future in concurrent.futures.as_completed(futures):
                    job = futures[future]
                    try:
                        results[job.name] = future.result()
                    except BrokenProcessPool:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a grader bug costs one submission, not the batch
                        results[job.name] = _write_fault(job, task, f"{type(exc).__name__}: {exc}")
                    if on_done:
                        on_done(job, results[job.name])
            except BrokenProcessPool:
                pass
        pending = [job for job in pending if job.name not in results]
    for job in pending:  # a worker died twice while these were in flight
        results[job.name] = _write_fault(job, task, "a grading worker process died (out of memory?) while grading it")
        if on_done:
            on_done(job, results[job.name])
    return results


def default_workers() -> int:
    """As many workers as cores, but no more than memory allows (about 2 GB each with its zygote)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        available = 1 << 34
    return max(1, min(cores, available // (2 << 30)))


def _write_fault(job: Job, task: Assignment, why: str) -> dict[str, Any]:
    from grader.grading import all_failed

    results = all_failed(task, job.name, f"The grader itself failed on this submission ({why}); this is not your "
                                         "fault. Tell your instructor.", fault="grader").to_dict()
    outputs.write(results, job.out)  # no fingerprint: it is graded again next time
    return results


# -- inside a worker process -----------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _start_worker(task: Assignment, data: str | None, keep_gpu: bool) -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # one line per submission on the terminal, not TensorFlow's notes
    from grader.zygote import Zygote

    _WORKER.update(task=task, data=data, keep_gpu=keep_gpu)
    _WORKER["zygote"] = Zygote(task.preload, keep_gpu=keep_gpu)  # imports TensorFlow while this process does too
    import tensorflow  # noqa: F401

    from grader.data import load_dataset

    _WORKER["dataset"] = load_dataset(data, task.data)
    import atexit

    atexit.register(lambda: _WORKER["zygote"].close())


def _grade_job(job: Job) -> dict[str, Any]:
    import keras

    from grader.grading import grade
    from grader.zygote import Zygote

    task = _WORKER["task"]
    if _WORKER["zygote"].process.poll() is not None:  # it died: start another
        _WORKER["zygote"] = Zygote(task.preload, keep_gpu=_WORKER["keep_gpu"])
    result = grade(job.path, task, data=_WORKER["data"], keep_gpu=_WORKER["keep_gpu"], name=job.name,
                   zygote=_WORKER["zygote"], dataset=_WORKER["dataset"])
    results = result.to_dict()
    results["extra_data"]["fingerprint"] = job.fingerprint
    outputs.write(results, job.out, images=_WORKER["dataset"].test_images)
    keras.backend.clear_session()
    gc.collect()
    return results

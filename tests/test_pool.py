"""The worker pool: a worker that dies costs only the job it held; everything else is done as usual."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest

from grader.grading import pool


def _ready() -> None:
    pass


def _cannot_start() -> None:
    raise RuntimeError("no zygote today")


def _square(job: int) -> int:
    time.sleep(0.3 if job != "boom" else 0)
    if job == "boom":
        raise ValueError("a grader bug")
    return job * job


def _run(jobs, *, workers=2, start=_ready, on_start=None) -> tuple[dict, dict]:
    """Run the pool; return outcomes by job and the pids each job was started in."""
    outcomes, pids = {}, {}

    def started(job, pid):
        pids.setdefault(job, []).append(pid)
        if on_start:
            on_start(job, pid, len(pids[job]))

    def finished(job, outcome):
        assert job not in outcomes, f"{job} reported twice"
        outcomes[job] = outcome

    pool.run(jobs, _square, workers=workers, start=start, on_result=finished, on_start=started)
    assert not multiprocessing.active_children()  # no worker left running
    return outcomes, pids


def _kill_later(pid: int, seconds: float = 0.1) -> None:
    threading.Timer(seconds, os.kill, (pid, signal.SIGKILL)).start()


def test_every_job_is_done_once() -> None:
    outcomes, pids = _run(list(range(6)))
    assert outcomes == {i: i * i for i in range(6)}
    assert all(len(tried) == 1 for tried in pids.values())
    assert len({pid for tried in pids.values() for pid in tried}) == 2  # two warm workers did it all


def test_a_killed_worker_costs_only_the_job_it_held_which_is_tried_again() -> None:
    outcomes, pids = _run(list(range(6)), on_start=lambda job, pid, tries: tries == 1 and job == 3 and _kill_later(pid))
    assert outcomes == {i: i * i for i in range(6)}
    assert len(pids[3]) == 2 and pids[3][0] != pids[3][1]
    assert all(len(pids[job]) == 1 for job in pids if job != 3)


def test_a_job_whose_worker_dies_twice_is_reported_and_the_others_are_not() -> None:
    outcomes, pids = _run(list(range(6)), on_start=lambda job, pid, tries: job == 2 and _kill_later(pid))
    assert isinstance(outcomes[2], pool.WorkerDied) and "SIGKILL" in str(outcomes[2])
    assert {job: value for job, value in outcomes.items() if job != 2} == {i: i * i for i in range(6) if i != 2}
    assert len(pids[2]) == 2 and all(len(pids[job]) == 1 for job in pids if job != 2)


def test_a_job_that_raises_is_reported_and_its_worker_keeps_working() -> None:
    outcomes, pids = _run([1, "boom", 2, 3], workers=1)
    assert isinstance(outcomes["boom"], pool.JobFailed) and "ValueError: a grader bug" in str(outcomes["boom"])
    assert {k: v for k, v in outcomes.items() if k != "boom"} == {1: 1, 2: 4, 3: 9}
    assert len({pid for tried in pids.values() for pid in tried}) == 1


def test_workers_that_cannot_start_fail_the_jobs_without_hanging() -> None:
    started = time.monotonic()
    outcomes, pids = _run([1, 2, 3], start=_cannot_start)
    assert not pids and set(outcomes) == {1, 2, 3}
    assert all(isinstance(o, pool.NoWorkers) and "RuntimeError: no zygote today" in str(o) for o in outcomes.values())
    assert time.monotonic() - started < 60


def test_an_interrupted_run_leaves_no_worker_behind() -> None:
    def interrupt(job, outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pool.run([1, 2, 3], _square, workers=2, start=_ready, on_result=interrupt)
    assert not multiprocessing.active_children()

"""One road for every grade: a session of warm grading processes, set up once, that grade submissions on request.

`grader run` (one submission or a class), `grader check`, `grader validate`, `grader release`, Gradescope's
autograder, the tests and the benchmarks all grade through a Session. It resolves once what a grade needs and
keeps it in its workers:

    with Session(task, data=path, protect=(out,), trainings=cache) as session:
        facts = session.data()                 # the data set's source, digest and sizes
        results = session.grade(path, "alice", out=out / "alice")

The grader's own process never imports TensorFlow. Each worker is a trusted process forked, after its
TensorFlow import, by a fork server of its own (grader.sandbox.zygote): it receives its job through a pipe,
loads the data, imports the checks and forks nothing; the submission's sandboxes and the training started
ahead are forked by the same fork server, which has never held the data, the grader's environment or its
arguments. What comes back to the grader's process is plain data.
"""

from __future__ import annotations

import functools
import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from grader import timings as clock
from grader.assignment.data import Facts
from grader.assignment.spec import Assignment
from grader.grading import pool

if TYPE_CHECKING:
    from grader.grading.grade import Setup

# Submissions a worker grades between two clean-ups of Keras' state and Python's garbage. Each takes about a
# second (0.6 s and 0.5 s measured after a submission), as long as grading a submission whose training is
# memoized; the few models of ten submissions are a few tens of megabytes meanwhile.
CLEAN_EVERY = 10


@dataclass(frozen=True)
class Job:
    """One submission to grade, and where its results go (None: nowhere; the caller gets them)."""

    path: Path
    name: str
    out: Path | None = None
    fingerprint: str | None = None  # of the submission and the configuration; recorded so a rerun skips it
    canvas: dict[str, Any] | None = None  # who handed it in, from Canvas' download name (see grader.grading.handins)
    extra: dict[str, Any] | None = None  # more of results' extra_data (a self-check's note on what it checked)
    stages: tuple = ()  # with timings, the stages the grader's process timed before (grader.timings.Stage)


@dataclass(frozen=True)
class Call:
    """A function of the grader's to run in a warm worker, as `function(setup, *args)`; it returns plain data."""

    function: Callable[..., Any]
    args: tuple = ()


@dataclass(frozen=True)
class Plan:
    """What a session's workers set up: sent to each through its pipe."""

    task: Assignment
    data: str | None = None  # --data; None: the spec's sources
    kit: bool = False  # the student kit's own public images (a check in a kit)
    share: tuple[int, int] | None = None  # only a public share of this many (training, test) images
    keep_gpu: bool = False
    protect: tuple[Path, ...] = ()
    trainings: Path | None = None
    workers: int = 1
    timings: bool = False
    ahead: bool = False
    reference: Any = None
    command: str = ""  # the command line that graded, recorded in results.json
    origin: float | None = None  # with timings, when the grader's process started (its stages' time 0)
    reports: bool = False  # its grades write report.html: the report's template is compiled as a worker starts


class Session:
    """Warm grading workers for one assignment; use as a context manager (see the module's docstring).

    `data` is where the data comes from (None: the spec's sources); with `kit`, the student kit's public images;
    with `share` (training, test), only a public share of them. `protect` are more paths no sandbox may read
    (the output folder, the other submissions). `trainings` is the folder of memoized trainings (None: none).
    `workers` grade at once. With `ahead`, the expected training starts before the checks (a single grade,
    whose other core would wait otherwise). `reference` answers in place of the assignment's own. With `reports`,
    its grades write report.html (given an `out`): a worker gets the report ready as it starts, not after a grade.
    """

    def __init__(self, task: Assignment, *, data: str | Path | None = None, kit: bool = False,
                 share: tuple[int, int] | None = None, keep_gpu: bool = False, protect: tuple[Path, ...] = (),
                 trainings: Path | None = None, workers: int = 1, timings: bool = False, ahead: bool = False,
                 reference: Any = None, command: str = "", reports: bool = False) -> None:
        protect = tuple(Path(p).resolve() for p in protect)  # the trainings' folder too, by grade()
        recorder = clock.current() if timings else None
        self.task = task
        self.plan = Plan(task, None if data is None else str(data), kit, share, keep_gpu, protect,
                         None if trainings is None else Path(trainings), max(1, workers), timings, ahead, reference,
                         command, recorder.origin if recorder is not None else None, reports)
        self._pool: pool.Pool | None = None

    def __enter__(self) -> "Session":
        self._pool = pool.Pool(_work, workers=self.plan.workers, start=_start, start_args=(self.plan,), stop=_stop,
                               retries=1, launch=self._launch)
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.close(kill=kind is not None)

    def close(self, *, kill: bool = False) -> None:
        if self._pool is not None:
            self._pool.close(kill=kill)
            self._pool = None

    def data(self) -> Facts:
        """The data the session grades on, once a worker has loaded it; raises what loading it raised."""
        return self._ready()

    def grade(self, path: Path, name: str | None = None, *, out: Path | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Grade one submission; its results dict (written to `out` as well, if given, with `extra` in its
        extra_data)."""
        label = name or (path.stem if path.is_file() else Path(path).resolve().name)
        self._ready()
        recorder = clock.current() if self.plan.origin is not None else None
        stages = tuple(recorder.stages) if recorder is not None else ()
        results = self.grade_all([Job(Path(path), label, out, extra=extra, stages=stages)])[label]
        if recorder is not None and (timed := results["extra_data"].get("timings")):  # the worker's, and these
            recorder.stages[:] = [clock.Stage(**stage) for stage in timed["stages"]]
            if out is not None:  # what the worker did after it timed its stages
                recorder.add("writing results.json and report.html, and the results back from the worker",
                             recorder.origin + timed["total"], time.monotonic(), depth=0)
        return results

    def grade_all(self, jobs: list[Job], *, on_done: Callable[[Job, dict], None] | None = None,
                  on_start: Callable[[Job, int], None] | None = None) -> dict[str, dict[str, Any]]:
        """Grade the jobs in the workers, each written to its `out` as soon as it is graded; their results by name.
        Never loses a job: a worker that dies (out of memory, killed) is replaced and only the job it held is tried
        again, once; one the grader could not grade (its worker died on every try, or the grader failed) gets a
        result that says so, written as any other. `on_start(job, pid)` is told which worker each try runs in."""
        self._ready()
        results: dict[str, dict[str, Any]] = {}

        def finished(job: Job, outcome: Any) -> None:
            results[job.name] = _fault(job, self.task, outcome) if isinstance(outcome, Exception) else outcome
            if on_done:
                on_done(job, results[job.name])

        self._pool.run(list(jobs), on_result=finished, on_start=on_start)
        return results

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(setup, *args)` in a warm worker (a function of the grader's that needs its data or its Keras);
        what it returns. A failure is raised here as pool.JobFailed."""
        self._ready()
        outcome: list[Any] = []
        self._pool.run([Call(function, args)], on_result=lambda _, value: outcome.append(value))
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    def _ready(self) -> Facts:
        if self._pool is None:
            raise RuntimeError("a Session grades inside its `with` block")
        if self._pool.started is not None:
            return self._pool.started
        with clock.stage("session: start the fork server, then its worker (the data)"):
            return self._pool.ready()

    def _launch(self, target: Callable, args: tuple) -> Any:
        from grader.sandbox.zygote import Trusted

        conn, _, *rest = args  # the pool's parent token: a trusted process dies with its fork server instead
        return Trusted(self.task.preload, target, (conn, 0, *rest), keep_gpu=self.plan.keep_gpu)


def _fault(job: Job, task: Assignment, outcome: Exception) -> dict[str, Any]:
    """The results of a submission the grader could not grade, written where its results go."""
    from grader.grading.grade import all_failed

    if isinstance(outcome, pool.WorkerDied):
        message = (f"The grading process died while grading this submission, on both tries ({outcome}). A model too "
                   "large for the grader's memory can do this; if yours is the size the assignment asks for, this is "
                   "not your fault. Tell your instructor.")
    else:  # JobFailed and NoWorkers carry their cause as their message
        message = f"The grader itself failed on this submission ({outcome}); this is not your fault. Tell your instructor."
    results = all_failed(task, job.name, message, fault="grader").to_dict()
    if job.canvas is not None:
        results["extra_data"]["canvas"] = job.canvas
    if job.out is not None:
        from grader.views import outputs

        outputs.write(results, job.out)  # no fingerprint: it is graded again next time
    return results


# -- inside a worker ---------------------------------------------------------------------------------------

_WARM: list[Setup] = []


def _start(plan: Plan) -> Facts:
    """Set a worker up: its training ahead first (a single grade's critical path), then its thread pools, the data,
    the checks' modules; what it learnt of the data."""
    from grader.sandbox import zygote

    forks = zygote.attached()
    if forks is None:
        raise RuntimeError("a session's worker runs in a process its fork server forked")
    started = _start_ahead(plan, forks)
    from grader.assignment.data import facts
    from grader.grading.grade import Setup, trusted_process
    from grader.trusted import memo

    with trusted_process(plan.workers, plan.origin):
        dataset = _load(plan)
        from grader.checks import context  # noqa: F401 - the checks' modules, imported before the heap settles
        if plan.reports:
            from grader.views import report

            with clock.stage("report: its template, compiled", side="worker"):
                report.template()
    _WARM[:] = [Setup(plan.task, dataset, forks, plan.protect, memo.Cache(plan.trainings) if plan.trainings else None,
                      plan.keep_gpu, plan.data, plan.ahead, plan.reference, plan.timings, plan.command,
                      started=started)]
    return facts(dataset)


def _start_ahead(plan: Plan, forks: Any) -> Any:
    """With `plan.ahead`, the expected training started now, as this worker starts, before it sets itself up and loads
    the data (the training's process loads them itself): a single grade's critical path is the fork server's import,
    then this training. Imports little, for the same reason."""
    from grader.trusted import ahead

    if not plan.ahead or plan.reference is not None or not ahead.applies(plan.task):
        return None
    return ahead.start_beside(forks, _train_ahead, (plan.task, functools.partial(_load, plan), plan.origin,
                                                    plan.workers), plan.task.training)


def _train_ahead(*args: Any) -> None:
    """In the process the fork server forked for the training ahead (see grader.grading.grade.train_ahead)."""
    from grader.grading.grade import train_ahead

    train_ahead(*args)


def _load(plan: Plan) -> Any:
    """The session's data: the one place a grading loads a data set."""
    from grader.assignment import kit
    from grader.assignment.data import load_dataset, public_share

    with clock.stage("data: load", side="worker"):
        dataset = kit.dataset(plan.task) if plan.kit else load_dataset(plan.data, plan.task.data)
        if plan.share is not None:
            dataset = public_share(dataset, *plan.share)
    return dataset


def _stop() -> None:
    _WARM.clear()


def _work(item: Job | Call) -> Any:
    setup = _WARM[0]
    if isinstance(item, Call):
        return item.function(setup, *item.args)
    import keras

    from grader.grading.grade import grade

    if setup.timings and item.stages and (recorder := clock.current()) is not None:  # one submission, timed whole
        recorder.stages[:0] = list(item.stages)
    elif setup.timings:
        clock.begin(origin=time.monotonic())  # this submission's stages, from when its worker took it
    results = grade(item.path, setup, name=item.name).to_dict()
    if item.fingerprint is not None:
        results["extra_data"]["fingerprint"] = item.fingerprint
    if item.canvas is not None:
        results["extra_data"]["canvas"] = item.canvas
    if setup.command:
        results["extra_data"]["command"] = setup.command
    results["extra_data"].update(item.extra or {})
    if setup.timings and item.out is None and (recorder := clock.current()) is not None:
        results["extra_data"]["timings"] = recorder.to_dict()
    if item.out is not None:
        from grader.views import outputs

        outputs.write(results, item.out, images=setup.dataset.test_images, timings=setup.timings)
    setup.graded += 1
    if setup.graded % CLEAN_EVERY == 0:
        with clock.stage("worker: free the models of the last submissions"):
            keras.backend.clear_session()
            gc.collect()
    return results


"""Grading one submission: start its sandbox, run every check, collect the results as plain data."""

from __future__ import annotations

import contextlib
import functools
import importlib
import platform
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from grader import heap, optional, printed, scratch, tflog, timings
from grader.sandbox import isolation
from grader.results import GRADED, CheckResult, SubmissionResult
from grader.sandbox.runner import Runner, SubmissionError
from grader.assignment.spec import CHECK_KINDS, Assignment, CheckSpec
from grader.submission.files import (MalformedNotebook, SubmissionNotFound, SubmissionTooLarge, UnsafeSubmission, locate,
                               materialise, sandbox_files)

@dataclass
class Setup:
    """What `grade()` needs, resolved once in a warm worker of a session (grader.grading.session)."""

    task: Assignment
    dataset: Any
    zygote: Any
    protect: tuple[Path, ...] = ()
    trainings: Any = None
    keep_gpu: bool = False
    data: str | None = None
    ahead: bool = False
    reference: Any = None
    timings: bool = False
    command: str = ""
    graded: int = field(default=0)
    started: Any = None  # the expected training the worker started as it started (grader.trusted.ahead.Ahead)

    def take_started(self) -> Any:
        """The training ahead started with the worker, for its first grade only (None: none, or taken)."""
        started, self.started = self.started, None
        return started



@contextlib.contextmanager
def trusted_process(workers: int, origin: float | None = None) -> Iterator[None]:
    """Set up a trusted process the fork server forked (a session's worker, the training ahead) around its imports:
    no garbage collection until they are done, then frozen out of later ones (grader.heap); not dumpable; the
    thread pools of `workers` grading processes, before TensorFlow runs an op; Keras without the optional packages
    (imported by the fork server already); with `origin`, the grader's timings from it."""
    from grader.trusted import threads

    heap.pause()
    if origin is not None:
        timings.begin(origin=origin)
    isolation.make_undumpable()
    threads.configure(workers)
    with tflog.muted():
        optional.import_keras()
    yield
    heap.settle()


# Check kinds and the module of grader.checks that runs each; imported lazily because they import Keras.
KINDS = {kind: kind for kind in CHECK_KINDS}


def grade(submission: Path, setup: Setup, *, name: str | None = None) -> SubmissionResult:
    """Grade one submission in a warm worker of a session (grader.grading.session); never raises for anything the
    submission does.

    `setup` holds the assignment, the loaded data, the fork server its sandboxes are forked from, the paths they
    may not read (the output folder, the other submissions of a batch, besides the grader's own files, the
    solutions and the data sources), the memoized trainings, whether the expected training starts ahead (see
    grader.trusted.ahead), and the reference that answers (grader.checks.reference; `grader release` records the
    answers of the reference solution with one).
    """
    protect = setup.protect
    if setup.trainings is not None and setup.trainings.directory not in protect:
        protect = (*protect, setup.trainings.directory)
    with tempfile.TemporaryDirectory(prefix=scratch.prefix("submission")) as folder:
        return _grade(submission, setup, name=name, scratch=Path(folder), protect=protect)


def _grade(submission: Path, setup: Setup, *, name: str | None, scratch: Path,
           protect: tuple[Path, ...]) -> SubmissionResult:
    assignment, dataset, trainings, reference = setup.task, setup.dataset, setup.trainings, setup.reference
    started = time.monotonic()
    label = name or (submission.stem if submission.is_file() else submission.resolve().name)
    try:
        with timings.stage("submission: find it and copy it for the sandbox"):
            located = locate(submission, assignment)
            module = materialise(located, scratch)
            files = sandbox_files(submission, module)
    except MalformedNotebook as exc:
        return all_failed(assignment, label, str(exc), fault="syntax", seconds=time.monotonic() - started,
                          hint="Open the notebook in Jupyter, save it again, and hand in the saved .ipynb file.",
                          status=exc.status)
    except (UnsafeSubmission, SubmissionTooLarge) as exc:
        return all_failed(assignment, label, str(exc), fault="unsafe", seconds=time.monotonic() - started,
                          hint="Hand in your own files only, as plain files, not links.")
    except SubmissionNotFound as exc:
        return all_failed(assignment, label, str(exc), fault="missing", seconds=time.monotonic() - started,
                          hint=f"Hand in {assignment.module}.", status=exc.status)
    secrets = (*isolation.sensitive(assignment, setup.data), *protect)
    runner = Runner(module, assignment, keep_gpu=setup.keep_gpu, zygote=setup.zygote, protect=secrets, files=files)
    runner.open_in_background()  # the fork server forks the sandbox, which imports the submission, meanwhile
    ctx = None
    try:
        with (timings.stage("imports: Keras and TensorFlow, the checks, the reference solution"), optional.hidden(),
              tflog.muted()):
            from grader.checks.context import Context
            from grader.checks.reference import for_assignment

            ctx = Context(assignment, dataset, reference or for_assignment(assignment), runner, trainings=trainings)
        heap.settle()  # Keras is imported: keep its objects out of every later collection, here and in forks
        ctx.ahead = setup.take_started()
        if setup.ahead and ctx.ahead is None:
            with timings.stage("training ahead: prepare the data and start its process"):
                ctx.ahead = _start_ahead(ctx, setup)
        checks = []
        for check in assignment.checks:
            if check.kind == "training" and ctx.ahead is not None and ctx.ahead.running:
                _prefetch(ctx, after=check)  # while the training ahead runs, the sandbox does what does not need it
            checks.append(_run_check(check, ctx))
        checks = tuple(checks)
    finally:
        if ctx is not None and ctx.ahead is not None:
            ctx.ahead.stop()
        with timings.stage("sandbox: close"):
            runner.shutdown()
    grader_faults = [c.name for c in checks if c.fault == "grader"]
    extra = {
        "accuracy": ctx.found.trained.accuracy if ctx.found.trained is not None else None,
        "data": {"source": dataset.source, "path": dataset.path, "sha256": dataset.sha256},
        "seed": assignment.training.seed,
        "versions": _versions(),
        "module": located.name,
        "grader_faults": grader_faults,
        "isolation": runner.isolation,
        "class_names": list(assignment.data.class_names),
    }
    output, cut = printed.head_and_tail(runner.output)
    extra["output_dropped"] = runner.output_dropped + cut  # every character printed and not kept in `output`
    extra["output_over_limit"] = runner.output_dropped  # of those, the ones past the sandbox's output limit
    imported = runner.printed.record(printed.IMPORTED)
    if imported is not None:
        extra["printed_on_import"] = imported
    trained = ctx.found.trained
    if trained is not None:
        extra["predictions"] = _predictions(trained, dataset.test_labels[: trained.test_samples])
    return SubmissionResult(assignment.name, label, checks, time.monotonic() - started, output, extra)


def _start_ahead(ctx, setup: Setup):
    """The expected training, started in a process of its own, if the assignment trains a model and it can start:
    forked by the session's fork server, beside this worker, when the reference is the assignment's own."""
    from grader.trusted import ahead, memo

    if not ahead.applies(ctx.assignment):
        return None
    budget = ctx.assignment.training
    data = memo.prepared(ctx, budget)
    _ = data.digest  # hashed once, here, for both processes
    if setup.reference is None and setup.zygote is not None:
        return _start_beside(setup.zygote, ctx.assignment, data)
    from grader.checks import training as training_check

    return ahead.start(lambda: training_check.planned(ctx), data, budget, ctx.assignment.limits)


def _start_beside(forks: Any, assignment: Assignment, data: Any) -> Any:
    """Have the fork server `forks` fork the process that trains the assignment's expected model on `data` (prepared,
    grader.trusted.memo.Prepared) ahead, beside this one, with this process's thread pools and timings' origin: a
    grader.trusted.ahead.Ahead, or None."""
    from grader.trusted import ahead, threads

    recorder = timings.current()
    origin = recorder.origin if recorder is not None else None
    return ahead.start_beside(forks, train_ahead, (assignment, data, origin, threads.workers()), assignment.training)


def train_ahead(assignment: Assignment, data: Any, origin: float | None, workers: int, writer: Any) -> None:
    """In the process the fork server forked to train ahead: the worker's thread pools, the data (loaded here if
    `data` is a function that loads them: a session's worker starts it before it has them), a plan from the
    assignment's own reference, then the training (the same key as the worker's, so that it can take it)."""
    with trusted_process(workers, origin):  # the worker's thread pools: the same training, the same key
        from grader.checks import models, training as training_check
        from grader.checks.context import Context
        from grader.checks.reference import for_assignment
        from grader.trusted import ahead, memo
    dataset = None
    if callable(data):
        try:
            dataset = data()
        except Exception:  # noqa: BLE001 - the worker loads the same data and reports what failed
            return
    ctx = Context(assignment, dataset, for_assignment(assignment), None)
    initialised = None
    if dataset is not None:
        data = memo.prepared(ctx, assignment.training)
        if any(check.kind in models.ASKED_EARLY for check in assignment.checks):
            initialised = functools.partial(models.initialised, ctx)  # what the grading process would build early
    ahead.train_into(lambda: training_check.planned(ctx), data, assignment.training, assignment.limits, writer.fileno(),
                     initialised)


def _prefetch(ctx, *, after: CheckSpec) -> None:
    """Let the checks after `after` ask the sandbox now what they can ask without its result (their `prefetch`)."""
    later = ctx.assignment.checks[ctx.assignment.checks.index(after) + 1:]
    for check in later:
        prefetch = getattr(importlib.import_module(f"grader.checks.{KINDS[check.kind]}"), "prefetch", None)
        if prefetch is not None:
            with timings.stage(f"check {check.name}: what it can ask before the training ends"), \
                    ctx.runner.for_check(check.name):
                try:
                    prefetch(check, ctx)
                except Exception:  # noqa: BLE001 - asked again in the check's turn, where any failure is reported
                    ctx.found.answers.pop(check.name, None)


def _run_check(check: CheckSpec, ctx) -> CheckResult:
    with timings.stage(f"check {check.name} ({check.kind})"), ctx.runner.for_check(check.name):
        result = _timed_check(check, ctx)
    shown = ctx.runner.printed.record(check.name)  # what the submission printed while this check asked it
    return result if shown is None else replace(result, extra={**result.extra, "printed": shown})


def _timed_check(check: CheckSpec, ctx) -> CheckResult:
    started = time.monotonic()
    run: Callable = importlib.import_module(f"grader.checks.{KINDS[check.kind]}").run
    try:
        return run(check, ctx)
    except SubmissionError as error:  # a check that did not catch it itself
        from grader.checks.common import from_error

        return from_error(check, error).timed(time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - a bug in the grader must not lose the other checks
        return CheckResult.failed(check.name, check.points,
                                  f"The grader itself failed while running this check ({type(exc).__name__}: {exc}); "
                                  "this is not your fault. Tell your instructor.",
                                  fault="grader", visibility=check.visibility,
                                  details="".join(traceback.format_exception(exc))[-4000:]).timed(time.monotonic() - started)


def all_failed(assignment: Assignment, label: str, message: str, *, fault: str, hint: str = "",
               seconds: float = 0.0, status: str = GRADED) -> SubmissionResult:
    """A result in which every check failed for one reason (nothing to grade, or the grader itself failed).

    `status` says whether that is a grade of 0 (graded) or no grade at all (one of results.NOT_GRADED)."""
    checks = tuple(CheckResult.failed(c.name, c.points, message, fault=fault, visibility=c.visibility, hint=hint)
                   for c in assignment.checks)
    faults = [c.name for c in checks] if fault == "grader" else []
    return SubmissionResult(assignment.name, label, checks, seconds, extra={"grader_faults": faults, "status": status})


def _predictions(trained, labels) -> dict:
    """What the report needs about the trained model's test predictions, as plain data."""
    import numpy as np

    probs = trained.probabilities
    predicted = np.argmax(probs, axis=1)
    confidence = probs[np.arange(len(probs)), predicted]
    classes = probs.shape[1]
    confusion = np.zeros((classes, classes), dtype=int)
    np.add.at(confusion, (labels.astype(int), predicted), 1)
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-confidence[wrong])][:8]
    sample = np.arange(min(24, len(labels)))
    row = lambda i: {"index": int(i), "predicted": int(predicted[i]), "label": int(labels[i]),
                     "confidence": round(float(confidence[i]), 4)}
    return {"samples": [row(i) for i in sample], "confident_mistakes": [row(i) for i in worst],
            "confusion": confusion.tolist()}


def _versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow

    return {"python": platform.python_version(), "tensorflow": tensorflow.__version__, "keras": keras.__version__,
            "numpy": numpy.__version__}

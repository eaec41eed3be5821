"""The library's front door: what the command line calls, usable from Python as well."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.sandbox import isolation as confinement
from grader.assignment import course, spec
from grader.grading import passmark
from grader.views import summary
from grader.grading.passmark import PassMark


@dataclass(frozen=True)
class Outcome:
    """One graded submission: its results dict, where they were written, and the exit status they imply."""

    results: dict[str, Any]
    paths: dict[str, Path]
    summary: str
    pass_mark: PassMark | None = None

    @property
    def exit_status(self) -> int:
        """0 passed (every check, or the pass mark if one is set), 1 not passed, 2 the grader itself failed."""
        return passmark.exit_status(self.results, self.pass_mark)


def run(*, submissions: list[Path], assignment: str | None = None, out: Path = Path("grading-out"),
        data: str | None = None, keep_gpu: bool = False, pass_mark: PassMark | None = None,
        github: bool = False, jobs: int | None = None, force: bool | tuple[str, ...] = False, shard: str | None = None,
        progress: bool | None = None, isolation: str = "auto", timings: bool = False, budget: str | None = None,
        cache: Path | None = None, memoize: bool = True) -> list[Outcome]:
    """Grade submissions and write their results.json and report.html.

    One submission is graded in this process and written to `out`; several (or a `shard` K/N of
    them) are graded by `jobs` warm workers into `out/<name>/`, with `out/gradebook.csv` and
    `out/index.html`, skipping those already graded with the same content and configuration
    unless `force`. With `github`, each result is also reported to GitHub Actions. `isolation` 'strict'
    raises IsolationError if this machine lacks a sandbox layer; 'auto' warns once on stderr and goes on.
    With `timings` (one submission only), results.json's extra_data.timings holds how long each stage took.
    `force` may also name the submissions (folder names or paths) to grade again, leaving the others as graded.
    `budget` names one of the spec's [training.budgets] (None: the default [training]). Each distinct model is
    trained once and kept in `cache` (default: out/.training-cache) for every submission that has it, unless
    not `memoize`.
    """
    from grader import timings as clock
    from grader.errors import UsageError

    if timings and (len(submissions) != 1 or shard is not None):
        raise UsageError("--timings times the grading of one submission; give a single SUBMISSION and no --shard.")
    if timings:
        clock.ensure()
    clock.started_up()
    with clock.stage("set-up: the assignment and the isolation probe"):
        task = course.resolve(assignment, submissions)  # None: the one the submissions are named after, else the default
        confinement.announce(isolation)
    task = _with_budget(task, budget)
    if pass_mark is not None:
        try:
            pass_mark.check_reachable(task.max_score)
        except passmark.PassMarkError as exc:
            raise UsageError(str(exc)) from exc
    missing = [str(s) for s in submissions if not s.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}; give the path of a submission.")
    trainings = _trainings(out, cache) if memoize else None
    if len(submissions) == 1 and shard is None:
        graded = [(submissions[0], _grade_here(submissions[0], task, out=out, data=data, keep_gpu=keep_gpu,
                                               timings=timings, budget=budget, trainings=trainings))]
    else:
        graded = _grade_batch(submissions, task, out=out, data=data, keep_gpu=keep_gpu, jobs=jobs, force=force,
                              shard=shard, progress=progress, budget=budget, pass_mark=pass_mark,
                              trainings=trainings and trainings.directory)
    outcomes = []
    for submission, (results, paths) in graded:
        text = summary.text(results, str(paths["report"]))
        if pass_mark is not None or results["extra_data"].get("grader_faults"):
            text += "\n" + passmark.verdict(results, pass_mark)
        if github:
            from grader.platforms import github as actions

            actions.publish(results, task=task, submission=submission, pass_mark=pass_mark,
                            out=paths["results"].parent)
        outcomes.append(Outcome(results, paths, text, pass_mark))
    return outcomes


def _grade_here(submission: Path, task: spec.Assignment, *, out: Path, data: str | None,
                keep_gpu: bool, timings: bool = False, budget: str | None = None,
                trainings: Any = None) -> tuple[dict[str, Any], dict[str, Path]]:
    from grader.trusted import threads
    from grader import timings as clock
    from grader.assignment.data import load_dataset
    from grader.grading.grade import grade
    from grader.sandbox.zygote import Zygote

    name = submission.stem if submission.is_file() else submission.resolve().name
    threads.configure()  # before this process imports TensorFlow
    with clock.stage("zygote: start its process"):
        zygote = Zygote(task.preload, keep_gpu=keep_gpu)  # first: its TensorFlow import is the longest step
    try:
        with clock.stage("data: load"):
            dataset = load_dataset(data, task.data)
        _check_budget(task, dataset, budget)
        results = grade(submission, task, data=data, keep_gpu=keep_gpu, name=name, dataset=dataset,
                        zygote=zygote, protect=(out,), trainings=trainings, ahead=True).to_dict()
    finally:
        with clock.stage("zygote: stop"):
            zygote.close()
    results["extra_data"]["command"] = _command_line()
    from grader.views import outputs  # Jinja2 and the report: imported once graded, not before the zygote starts

    return results, outputs.write(results, out, images=dataset.test_images, timings=timings)


def _grade_batch(submissions: list[Path], task: spec.Assignment, *, out: Path, data: str | None, keep_gpu: bool,
                 jobs: int | None, force: bool | tuple[str, ...], shard: str | None, progress: bool | None,
                 budget: str | None = None, pass_mark: PassMark | None = None, trainings: Path | None = None,
                 timings: bool = False) -> list[tuple[Path, tuple[dict[str, Any], dict[str, Path]]]]:
    from grader.grading import batch
    from grader.views import gradebook
    from grader.views.progress import Progress
    from grader.errors import UsageError
    from grader.assignment.data import load_dataset

    try:
        part = batch.parse_shard(shard) if shard else None
    except batch.ShardError as exc:
        raise UsageError(str(exc)) from exc
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}: give a number of workers of at least 1.")
    dataset = load_dataset(data, task.data)
    _check_budget(task, dataset, budget)
    plan = batch.plan(submissions, task, out=out, data_sha256=dataset.sha256, shard=part)
    again = _forced(force, plan)
    done = {job.name: r for job in plan if job.name not in again and (r := batch.already_graded(job)) is not None}
    todo = [job for job in plan if job.name not in done]
    terminal = sys.stderr.isatty() and sys.stdout.isatty()  # CI logs get one plain line per submission
    bar = Progress(len(plan), len(done), bar=terminal if progress is None else progress, pass_mark=pass_mark)
    graded = batch.run(todo, task, data=data, workers=jobs or batch.default_workers(), keep_gpu=keep_gpu,
                       on_done=bar.done, on_start=bar.start, trainings=trainings, timings=timings,
                       protect=(out, *([trainings] if trainings else []), *(job.path for job in plan)))
    bar.close()
    everything = {**done, **graded}
    batch.record_sharing(everything, plan)  # "trained once for N submissions", now that N is known
    gradebook.write(everything, out)  # this run's jobs only: a results.json a submission left in `out` is not a student
    return [(job.path, (everything[job.name], {"results": job.out / "results.json", "report": job.out / "report.html"}))
            for job in plan]


def _with_budget(task: spec.Assignment, budget: str | None) -> spec.Assignment:
    from grader.assignment import budgets
    from grader.errors import UsageError

    try:
        return budgets.select(task, budget)
    except budgets.BudgetError as exc:
        raise UsageError(str(exc)) from exc


def _check_budget(task: spec.Assignment, dataset: Any, budget: str | None) -> None:
    from grader.assignment import budgets
    from grader.errors import UsageError

    try:
        budgets.check_data(task, dataset, budget)
    except budgets.BudgetError as exc:
        raise UsageError(str(exc)) from exc


def _trainings(out: Path, cache: Path | None) -> Any:
    """The folder of memoized trainings, made and checked now, so a bad --cache stops the run before grading."""
    from grader.trusted import memo
    from grader.errors import UsageError

    try:
        return memo.Cache(memo.directory(out, cache))
    except memo.CacheError as exc:
        raise UsageError(str(exc)) from exc


def _forced(force: bool | tuple[str, ...], plan: list) -> set[str]:
    """The names of the jobs to grade again: all with `force` True, else those it names (by name or path)."""
    from grader.errors import UsageError

    if force is True:
        return {job.name for job in plan}
    wanted = set()
    for name in force or ():
        match = [job.name for job in plan if name in (job.name, str(job.path)) or Path(name).resolve() == job.path.resolve()]
        if not match:
            listed = ", ".join(job.name for job in plan[:10]) + (", ..." if len(plan) > 10 else "")
            raise UsageError(f"--force {name}: no submission of this run is called that (they are: {listed}). Name "
                             "submissions as their folders in the output folder are named, or give --force alone, "
                             "after the submissions, to grade them all again.")
        wanted.update(match)
    return wanted


def _command_line() -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in ["grader", *sys.argv[1:]]) if sys.argv and "grader" in sys.argv[0] else ""

"""The library's front door: what the command line calls, usable from Python as well."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.sandbox import isolation as confinement
from grader.assignment import course, spec
from grader import passmark
from grader.views import summary
from grader.passmark import PassMark
from grader.platforms import classroom50 as c50
from grader.results import EXIT_OF_GRADER, EXIT_OF_SUBMISSIONS, EXIT_STATUS_KINDS, GRADED, status_of


@dataclass(frozen=True)
class Outcome:
    """One graded submission: its results dict, where they were written, and the exit status they imply."""

    results: dict[str, Any]
    paths: dict[str, Path]
    summary: str
    pass_mark: PassMark | None = None
    in_class: bool = False  # graded as one of a class (a batch, or into a class folder): summarised on one line
    classroom50: bool = False  # graded for Classroom 50's runner: exit 0 whenever it was graded
    exit_of: str = EXIT_OF_SUBMISSIONS  # what the exit status reports (grader.results.EXIT_STATUS_KINDS)

    @property
    def line(self) -> str:
        """One line about this submission, for a batch's output."""
        return summary.line(self.results, str(self.paths["report"]), self.pass_mark)

    @property
    def verdict_status(self) -> int:
        """0 passed (every check, or the pass mark if one is set), 1 not passed, 2 a grader fault or not graded."""
        return passmark.exit_status(self.results, self.pass_mark)

    @property
    def exit_status(self) -> int:
        """The exit status this submission implies: its verdict, or with `exit_of` "grader" 0 unless the grader
        failed on it (2); for Classroom 50, 0 whenever the submission was graded, 2 only when the grader failed."""
        if self.classroom50:
            return c50.exit_status(self.results)
        return passmark.exit_status(self.results, self.pass_mark, of=self.exit_of)


def run(*, submissions: list[Path], assignment: str | None = None, out: Path = Path("grading-out"),
        data: str | None = None, keep_gpu: bool = False, pass_mark: PassMark | None = None,
        github: bool = False, jobs: int | None = None, force: bool | tuple[str, ...] = False, shard: str | None = None,
        progress: bool | None = None, isolation: str = "auto", timings: bool = False, budget: str | None = None,
        cache: Path | None = None, memoize: bool = True, classroom50: bool = False,
        exit_status: str | None = None) -> list[Outcome]:
    """Grade submissions and write their results.json and report.html.

    Each submission is graded against the assignment it answers (grader.grading.handins: by the functions it
    defines, its name a hint), or against `assignment` if given; one that answers none, or several, stops the
    run with a UsageError naming it. One submission is graded in this process and written to `out`; several
    (or a `shard` K/N of them, or one graded into a class folder that `out` holds) are graded by `jobs` warm
    workers into `out/<name>/`, merged into `out/gradebook.csv` and `out/index.html` (see
    grader.views.gradebook.update); submissions of several assignments go to `out/<assignment>/<name>/`, a class
    each. Those already graded with the same content and configuration are skipped unless `force` (True: all;
    a tuple: those names or paths). Of a student's several Canvas downloads only the latest is graded. With
    `github`, each result is also reported to GitHub Actions. `isolation` 'strict' raises IsolationError if this
    machine lacks a sandbox layer; 'auto' warns once on stderr and goes on. With `timings` (one submission only),
    results.json's extra_data.timings holds how long each stage took. `budget` names one of the spec's
    [training.budgets] (None: the default [training]). Each distinct model is trained once and kept in `cache`
    (default: out/.training-cache) for every submission that has it, unless not `memoize`.
    With `classroom50` (Classroom 50's runner: see grader.platforms.classroom50), the one submission's result.json is
    also written into the current folder, a hand-in that is not there is graded 0 (status missing) rather than
    refused, and each Outcome's exit status is 0 whenever the submission was graded. `exit_status` says what
    each Outcome's exit_status reports: "submissions" (their verdicts) or "grader" (only the grader's own faults, as
    a batch scheduler's job needs); None: "grader" for a `shard`, else "submissions".
    """
    from grader import timings as clock
    from grader.errors import UsageError
    from grader.grading import batch

    if timings and (len(submissions) != 1 or shard is not None):
        raise UsageError("--timings times the grading of one submission; give a single SUBMISSION and no --shard.")
    exit_of = exit_status or (EXIT_OF_GRADER if shard is not None else EXIT_OF_SUBMISSIONS)
    if exit_of not in EXIT_STATUS_KINDS:
        raise UsageError(f"--exit-status {exit_of!r} is not one of {', '.join(EXIT_STATUS_KINDS)}; give "
                         f"{EXIT_OF_SUBMISSIONS} (each submission's verdict) or {EXIT_OF_GRADER} (the grader's own "
                         "faults only, as a batch scheduler's job needs).")
    if timings:
        clock.ensure()
    clock.started_up()
    if classroom50 and (len(submissions) != 1 or shard is not None):
        raise UsageError(f"Classroom 50's runner grades one submission per run, and this run has {len(submissions)}"
                         f"{' and --shard' if shard is not None else ''}: give one SUBMISSION and no --shard, or unset "
                         "CLASSROOM or SUBMISSION_TAG to grade a class.")
    missing = [str(s) for s in submissions if not s.exists() and not s.is_symlink()]
    if missing and not classroom50:  # for Classroom 50 a file not in the student's checkout is graded 0
        raise UsageError(f"no such file or folder: {', '.join(missing)}; give the path of a submission.")
    submissions, superseded = batch.latest(submissions)
    for old, new in superseded.items():
        print(f"{old.name}: not graded, superseded by the same student's later submission {new.name}",
              file=sys.stderr)
    with clock.stage("set-up: the assignment and the isolation probe"):
        groups = _assignments(assignment, submissions)
        confinement.announce(isolation)
    groups = [(_with_budget(task, budget), paths) for task, paths in groups]
    if pass_mark is not None:
        for task, _ in groups:
            try:
                pass_mark.check_reachable(task.max_score)
            except passmark.PassMarkError as exc:
                raise UsageError(str(exc)) from exc
    outcomes = []
    several = len(groups) > 1
    trainings = _trainings(out, cache) if memoize else None  # after every refusal: it makes the folder
    for task, paths in groups:
        nested = _holds_class(out / task.name, task)  # out/<assignment>/ holds this assignment's class
        target = out / task.name if several or nested else out
        in_class = nested if target != out else _holds_class(out, task)
        if len(paths) == 1 and shard is None and not in_class and not several:
            graded = [(paths[0], _grade_here(paths[0], task, out=target, data=data, keep_gpu=keep_gpu,
                                             timings=timings, budget=budget, trainings=trainings))]
        else:
            graded = _grade_batch(paths, task, out=target, data=data, keep_gpu=keep_gpu, jobs=jobs, force=force,
                                  shard=shard, progress=progress, budget=budget, pass_mark=pass_mark,
                                  trainings=trainings and trainings.directory)
        for submission, (results, paths_written) in graded:
            text = summary.text(results, str(paths_written["report"]))
            ungraded = classroom50 and c50.verdict(results)
            if ungraded:
                text += "\n" + ungraded
            elif (pass_mark is not None or results["extra_data"].get("grader_faults")
                    or status_of(results) != GRADED):
                text += "\n" + passmark.verdict(results, pass_mark, of=exit_of)
            if github:
                from grader.platforms import github as actions

                actions.publish(results, task=task, submission=submission, pass_mark=pass_mark,
                                out=paths_written["results"].parent, exit_of=exit_of)
            if classroom50:
                paths_written = {**paths_written, "classroom50": c50.write(results)}
            outcomes.append(Outcome(results, paths_written, text, pass_mark, in_class or len(graded) > 1 or several,
                                    classroom50, exit_of))
    return outcomes


def _assignments(requested: str | None, submissions: list[Path]) -> list[tuple[spec.Assignment, list[Path]]]:
    """The assignment each submission is graded against, as (assignment, its submissions) in name order.

    With `requested`, all of them; else each the one it answers (see grader.grading.handins). A hand-in
    holding no module the grader can find (nothing, or several files) goes with the run's one assignment, or
    the one it is named after; its results then say what was wrong. Any other hand-in that answers no
    assignment, or several, stops the run before anything is graded, naming it.
    """
    from grader.errors import UsageError
    from grader.grading import handins

    if requested is not None:
        task = course.load(requested)
        _warn_elsewhere(task, submissions)
        return [(task, list(submissions))]
    course.require()
    tasks = [course.load(name) for name in course.available()]
    matched: dict[Path, handins.Match] = {path: handins.match(path, tasks) for path in submissions}
    by_name = {task.name: task for task in tasks}
    chosen = {path: found.task.name for path, found in matched.items() if found.task is not None}
    unread = [path for path, found in matched.items() if found.status == "unmatched" and not found.located]
    if unread and len(set(chosen.values())) <= 1 and (chosen or len(tasks) == 1):
        home = next(iter(chosen.values())) if chosen else tasks[0].name
        chosen.update({path: home for path in unread})
    refused = [path for path in submissions if path not in chosen]
    if refused:
        shown = "\n".join(f"  {handins.refusal(path, matched[path])}" for path in refused[:10])
        more = f"\n  and {len(refused) - 10} more" if len(refused) > 10 else ""
        raise UsageError(f"{len(refused)} submission(s) cannot be matched to one assignment; nothing was graded:\n"
                         f"{shown}{more}\nGrade them with --assignment NAME, or move them out of this run.")
    groups: dict[str, list[Path]] = {}
    for path in submissions:
        groups.setdefault(chosen[path], []).append(path)
    return [(by_name[name], groups[name]) for name in sorted(groups)]


def _warn_elsewhere(task: spec.Assignment, submissions: list[Path]) -> None:
    """With --assignment, say which submissions look like another of the course's assignments (graded as asked)."""
    from grader.grading import handins

    if course.find() is None or len(submissions) > 1000:
        return
    others = [course.load(name) for name in course.available() if name != task.name]
    if not others:
        return
    for path in submissions:
        found = handins.match(path, [task, *others])
        if found.task is not None and found.task.name != task.name:
            print(f"{path}: graded as {task.name} as asked, but it looks like {found.task.name} ({found.reason})",
                  file=sys.stderr)


def _holds_class(folder: Path, task: spec.Assignment | None = None) -> bool:
    """Whether `folder` holds a class graded earlier (its gradebook.csv); with `task`, a UsageError if it is
    another assignment's class."""
    if not (folder / "gradebook.csv").is_file():
        return False
    from grader.errors import UsageError
    from grader.views import gradebook

    graded = gradebook.class_assignment(folder)
    if task is not None and graded is not None and graded != task.name:
        raise UsageError(f"{folder} holds the class of {graded}, and these submissions are {task.name}; give another "
                         "--out folder (or --assignment to grade them as the class's assignment).")
    return True


def _grade_here(submission: Path, task: spec.Assignment, *, out: Path, data: str | None,
                keep_gpu: bool, timings: bool = False, budget: str | None = None,
                trainings: Any = None) -> tuple[dict[str, Any], dict[str, Path]]:
    """One submission graded into `out`: a session of one worker, whose expected training starts ahead."""
    from grader.grading.session import Session

    name = submission.stem if submission.is_file() else submission.resolve().name
    with Session(task, data=data, keep_gpu=keep_gpu, protect=(out,), trainings=trainings and trainings.directory,
                 timings=timings, ahead=True, command=_command_line(), reports=True) as session:
        _check_budget(task, session.data(), budget)
        results = session.grade(submission, name, out=out)
    return results, {"results": out / "results.json", "report": out / "report.html"}


def _grade_batch(submissions: list[Path], task: spec.Assignment, *, out: Path, data: str | None, keep_gpu: bool,
                 jobs: int | None, force: bool | tuple[str, ...], shard: str | None, progress: bool | None,
                 budget: str | None = None, pass_mark: PassMark | None = None, trainings: Path | None = None,
                 timings: bool = False) -> list[tuple[Path, tuple[dict[str, Any], dict[str, Path]]]]:
    from grader.grading import batch
    from grader.grading.session import Session
    from grader.views import gradebook
    from grader.views.progress import Progress
    from grader.errors import UsageError

    try:
        part = batch.parse_shard(shard) if shard else None
    except batch.ShardError as exc:
        raise UsageError(str(exc)) from exc
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}: give a number of workers of at least 1.")
    workers = jobs or batch.default_workers()
    with Session(task, data=data, keep_gpu=keep_gpu, protect=(out, *submissions), trainings=trainings,
                 timings=timings, workers=workers, reports=True) as session:
        facts = session.data()
        _check_budget(task, facts, budget)
        plan = batch.plan(submissions, task, out=out, data_sha256=facts.sha256, shard=part)
        again = _forced(force, plan)
        done = {job.name: r for job in plan if job.name not in again and (r := batch.already_graded(job)) is not None}
        todo = [job for job in plan if job.name not in done]
        terminal = sys.stderr.isatty() and sys.stdout.isatty()  # CI logs get one plain line per submission
        bar = Progress(len(plan), len(done), bar=terminal if progress is None else progress, pass_mark=pass_mark)
        graded = session.grade_all(todo, on_done=bar.done, on_start=bar.start) if todo else {}
        bar.close()
    everything = {**done, **graded}
    from grader.views import outputs

    outputs.record_sharing(everything, {job.name: job.out for job in plan})  # "trained once for N", now N is known
    gradebook.update(everything, out)  # merged into the class out's gradebook lists, never replaced by a subset
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
            raise UsageError(f"--regrade {name}: no submission of this run is called that (they are: {listed}). "
                             "Name submissions as their folders in the output folder are named, or give --force to "
                             "grade them all again.")
        wanted.update(match)
    return wanted


def _command_line() -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in ["grader", *sys.argv[1:]]) if sys.argv and "grader" in sys.argv[0] else ""

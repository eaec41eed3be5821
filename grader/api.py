"""The library's front door: what the command line calls, usable from Python as well."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import isolation as confinement
from grader import passmark, spec, summary
from grader.passmark import PassMark


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
        github: bool = False, jobs: int | None = None, force: bool = False, shard: str | None = None,
        progress: bool | None = None, isolation: str = "auto", timings: bool = False) -> list[Outcome]:
    """Grade submissions and write their results.json and report.html.

    One submission is graded in this process and written to `out`; several (or a `shard` K/N of
    them) are graded by `jobs` warm workers into `out/<name>/`, with `out/gradebook.csv` and
    `out/index.html`, skipping those already graded with the same content and configuration
    unless `force`. With `github`, each result is also reported to GitHub Actions. `isolation` 'strict'
    raises IsolationError if this machine lacks a sandbox layer; 'auto' warns once on stderr and goes on.
    With `timings` (one submission only), results.json's extra_data.timings holds how long each stage took.
    """
    from grader import timings as clock
    from grader.errors import UsageError

    if timings and (len(submissions) != 1 or shard is not None):
        raise UsageError("--timings times the grading of one submission; give a single SUBMISSION and no --shard.")
    if timings:
        clock.ensure()
    clock.started_up()
    with clock.stage("set-up: the assignment and the isolation probe"):
        task = spec.resolve(assignment, submissions)  # None: the one the submissions are named after, else the default
        confinement.announce(isolation)
    if pass_mark is not None:
        try:
            pass_mark.check_reachable(task.max_score)
        except passmark.PassMarkError as exc:
            raise UsageError(str(exc)) from exc
    missing = [str(s) for s in submissions if not s.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}; give the path of a submission.")
    if len(submissions) == 1 and shard is None:
        graded = [(submissions[0], _grade_here(submissions[0], task, out=out, data=data, keep_gpu=keep_gpu,
                                               timings=timings))]
    else:
        graded = _grade_batch(submissions, task, out=out, data=data, keep_gpu=keep_gpu, jobs=jobs, force=force,
                              shard=shard, progress=progress)
    outcomes = []
    for submission, (results, paths) in graded:
        text = summary.text(results, str(paths["report"]))
        if pass_mark is not None or results["extra_data"].get("grader_faults"):
            text += "\n" + passmark.verdict(results, pass_mark)
        if github:
            from grader import github as actions

            actions.publish(results, task=task, submission=submission, pass_mark=pass_mark,
                            out=paths["results"].parent)
        outcomes.append(Outcome(results, paths, text, pass_mark))
    return outcomes


def _grade_here(submission: Path, task: spec.Assignment, *, out: Path, data: str | None,
                keep_gpu: bool, timings: bool = False) -> tuple[dict[str, Any], dict[str, Path]]:
    from grader import timings as clock
    from grader.data import load_dataset
    from grader.grading import grade
    from grader.zygote import Zygote

    name = submission.stem if submission.is_file() else submission.resolve().name
    with clock.stage("zygote: start its process"):
        zygote = Zygote(task.preload, keep_gpu=keep_gpu)  # first: its TensorFlow import is the longest step
    try:
        with clock.stage("data: load"):
            dataset = load_dataset(data, task.data)
        results = grade(submission, task, data=data, keep_gpu=keep_gpu, name=name, dataset=dataset,
                        zygote=zygote, protect=(out,)).to_dict()
    finally:
        with clock.stage("zygote: stop"):
            zygote.close()
    results["extra_data"]["command"] = _command_line()
    from grader import outputs  # Jinja2 and the report: imported once graded, not before the zygote starts

    return results, outputs.write(results, out, images=dataset.test_images, timings=timings)


def _grade_batch(submissions: list[Path], task: spec.Assignment, *, out: Path, data: str | None, keep_gpu: bool,
                 jobs: int | None, force: bool, shard: str | None,
                 progress: bool | None) -> list[tuple[Path, tuple[dict[str, Any], dict[str, Path]]]]:
    from grader import batch, gradebook
    from grader.errors import UsageError
    from grader.data import load_dataset

    try:
        part = batch.parse_shard(shard) if shard else None
    except batch.ShardError as exc:
        raise UsageError(str(exc)) from exc
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs {jobs}: give a number of workers of at least 1.")
    dataset = load_dataset(data, task.data)
    plan = batch.plan(submissions, task, out=out, data_sha256=dataset.sha256, shard=part)
    done = {} if force else {job.name: r for job in plan if (r := batch.already_graded(job)) is not None}
    todo = [job for job in plan if job.name not in done]
    bar = _Progress(len(plan), len(done), enabled=sys.stderr.isatty() if progress is None else progress)
    graded = batch.run(todo, task, data=data, workers=jobs or batch.default_workers(), keep_gpu=keep_gpu,
                       on_done=bar.update, protect=(out, *(job.path for job in plan)))
    bar.close()
    everything = {**done, **graded}
    gradebook.write(everything, out)  # this run's jobs only: a results.json a submission left in `out` is not a student
    return [(job.path, (everything[job.name], {"results": job.out / "results.json", "report": job.out / "report.html"}))
            for job in plan]


class _Progress:
    """A progress bar on a terminal; one line per graded submission otherwise."""

    def __init__(self, total: int, skipped: int, *, enabled: bool) -> None:
        self.count, self.total, self.enabled = skipped, total, enabled
        if skipped:
            print(f"{skipped} of {total} already graded with the same content and configuration (--force grades them again)",
                  file=sys.stderr)

    def update(self, job: Any, results: dict[str, Any]) -> None:
        self.count += 1
        line = f"[{self.count}/{self.total}] {job.name}: {results['score']:g}/{results['extra_data'].get('max_score', 0):g}"
        if self.enabled:
            width = 30
            filled = int(width * self.count / max(self.total, 1))
            print(f"\r{'#' * filled}{'.' * (width - filled)} {line[:60]:<60}", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def _command_line() -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in ["grader", *sys.argv[1:]]) if sys.argv and "grader" in sys.argv[0] else ""

"""A student's self-check: the public checks, run quickly, with what is wrong and what to try next.

The checks are the grader's own (grader.grading.grade.grade) on a copy of the assignment whose training
uses fewer images; the accuracy threshold stays the assignment's. A self-check trains and tests on a public
share of the training images (grader.assignment.data.public_share), never on the held-out test split, so that
a student kit (grader.assignment.kit), which holds that share and the reference's answers as data, checks
exactly as the course folder with its reference solution does. In the course folder, checks that are not
visible to students run too, because later checks build on them, but only their names are shown; a kit holds
nothing of them but their names and points.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader import printed
from grader.assignment import course
from grader.grading import handins
from grader.grading.session import Session
from grader.assignment.spec import Assignment
from grader.errors import UsageError
from grader.results import details_of, format_points
from grader.views.summary import code_lines

WIDTH = 100
MAX_DETAIL_LINES = 16
WHEN_SHOWN = {"hidden": "graded when you hand in; not shown here",
              "after_due_date": "graded when you hand in; shown after the due date",
              "after_published": "graded when you hand in; shown once grades are published"}


class NothingToCheck(UsageError):
    """The path given to check does not exist, or the check asked for cannot be made; the message says what to do."""


@dataclass(frozen=True)
class SelfCheck:
    """What a self-check found: the results dict, the text for the student, and the exit status."""

    results: dict[str, Any]
    text: str
    passed: bool
    exit_status: int

    def __str__(self) -> str:
        return self.text


def quick(assignment: Assignment, train_samples: int | None = None) -> Assignment:
    """`assignment` with at most `train_samples` training images (default: the spec's quick_train_samples, calibrated
    with the assignment; none set, as many as grading uses); everything else, thresholds included, as is."""
    budget = assignment.training
    samples = min(train_samples or budget.quick_train_samples or budget.train_samples, budget.train_samples)
    return replace(assignment, training=replace(assignment.training, train_samples=samples,
                                                test_samples=budget.quick_test_samples,
                                                epochs=budget.quick_epochs or budget.epochs))


def check(submission: str | Path, *, assignment: str | Path | Assignment | None = None, data: str | Path | None = None,
          full: bool = False, isolation: str = "auto", timings: bool = False, ahead: bool = False,
          out: Path | None = None, github: bool = False) -> SelfCheck:
    """Run the checks on `submission` (a .py, .ipynb or folder) at the quick budget, or the grading one if `full`;
    `assignment` as course.resolve finds it with kits (None: a kit beside the submission, else the one whose
    functions the submission defines, its name deciding a tie: see grader.grading.handins);
    `isolation` as for `grader run` ('strict' refuses a machine that lacks a sandbox layer). With `timings`, the
    results' extra_data.timings holds how long each stage took. With `ahead`, the
    expected training starts before the checks (grader.trusted.ahead): for the `grader check` command, not a kernel.
    With `out`, the results.json and report.html of the check are written there, and with `github` reported to
    GitHub Actions (a student's CI)."""
    from grader import timings as clock
    from grader.assignment import kit
    from grader.sandbox.isolation import announce

    recorder = clock.ensure() if timings else clock.current()
    clock.started_up()
    path = Path(submission)
    if not path.exists():
        module = (assignment.module if isinstance(assignment, Assignment) else
                  path.name if path.suffix in (".py", ".ipynb") else "module")
        raise NothingToCheck(f"{path} does not exist; give the path of your {module}, your notebook, or the "
                             "folder holding it.")
    with clock.stage("set-up: the assignment and the isolation probe"):
        announce(isolation)
        task = (assignment if isinstance(assignment, Assignment) else
                course.resolve(assignment, [path], kits=True,
                               match=lambda candidate, tasks: handins.match(candidate, tasks).task))
    if task.kit is not None and (full or data is not None):
        raise NothingToCheck(f"the student kit in {task.kit} checks at the quick budget on its own public images; "
                             f"{'--full trains as the final grading does, on held-out images' if full else '--data'} "
                             "it does not hold. Check without "
                             f"{'--full (full=True)' if full else '--data'}; your work is graded in full when you "
                             "hand it in.")
    budget = task if full else quick(task)
    share = None if full else (budget.training.train_samples, budget.training.test_samples)
    extra = {"self_check": _what_was_checked(task, budget)} if out is not None else {}
    try:
        with Session(budget, data=data, kit=task.kit is not None, share=share, ahead=ahead, timings=timings,
                     reports=out is not None) as session:
            results = session.grade(path, path.stem if path.is_file() else path.resolve().name, out=out, extra=extra)
    except kit.KitError as exc:
        raise NothingToCheck(str(exc)) from exc
    if timings and recorder is not None:
        results["extra_data"].setdefault("timings", recorder.to_dict())
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    passed = all(t["status"] == "passed" for t in visible)
    faults = bool(results["extra_data"].get("grader_faults"))
    text = render(results, task, budget, name=path.name)
    if out is not None and github:
        from grader.platforms import github as actions

        actions.publish(results, task=task, submission=path, out=out)
    return SelfCheck(results, text, passed, 2 if faults else 0 if passed else 1)


def _what_was_checked(task: Assignment, budget: Assignment) -> str:
    """Said in the report and the summary of a self-check's files: they are a check of the public part, not a grade."""
    hidden = [c for c in task.checks if c.visibility != "visible"] + list(task.withheld)
    where = "the student kit" if task.kit is not None else "the course folder"
    return (f"A self-check from {where}, not a grade: the public checks at the quick budget"
            + (f"; {len(hidden)} hidden check(s), {format_points(sum(c.points for c in hidden))} points, are graded "
               "when you hand in" if hidden else "") + ". " + budget_note(task, budget)).strip()


def render(results: dict[str, Any], task: Assignment, budget: Assignment, *, name: str | None = None) -> str:
    """The self-check as text: a line per check, what to try next under each failed one, then the budget used."""
    extra = results["extra_data"]
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    # Hidden checks after the visible ones, by name and points: the course's (run, not shown) or a kit's (not run).
    hidden = [*({"name": t["name"], "max_score": t["max_score"], "visibility": t["visibility"]}
                for t in results["tests"] if t["visibility"] != "visible"),
              *({"name": c.name, "max_score": c.points, "visibility": c.visibility} for c in task.withheld)]
    name = name or extra.get("module") or extra.get("submission")
    lines = [f"Self-check of {name} for {task.name}: {task.title}", ""]
    on_import = printed.shown(extra.get("printed_on_import"), WIDTH - 2,
                                heading=f"While {name} was imported, your code printed:")
    if on_import:
        lines += ["  " + line for line in on_import] + [""]
    width = max(len(t["name"]) for t in [*visible, *hidden])
    previous = None
    for test in visible:
        lines.extend(_check_lines(test, width, repeated=test["extra_data"].get("feedback") == previous))
        if test["status"] != "passed":
            previous = test["extra_data"].get("feedback")
    for test in hidden:
        lines.extend(_check_lines(test, width, repeated=False))
    score = sum(t["score"] for t in visible)
    top = sum(t["max_score"] for t in visible)
    total = f"Visible checks: {format_points(score)}/{format_points(top)} points."
    if hidden:
        total += (f" {len(hidden)} hidden check(s), {format_points(sum(t['max_score'] for t in hidden))} points, "
                  "graded when you hand in.")
    lines += ["", total]
    failed = [t for t in visible if t["status"] != "passed"]
    if failed:
        first = failed[0]
        feedback = {t["extra_data"].get("feedback") for t in failed}
        if len(failed) > 1 and len(feedback) == 1:
            lines.append("Next: fix the problem above; every check failed because of it.")
        else:
            lines.append(_wrap(f"Next: fix {first['name']} first"
                               + (f": {first['extra_data']['hint']}" if first["extra_data"].get("hint") else ".")))
    elif visible:
        lines.append("Every visible check passed.")
    note = budget_note(task, budget) if extra.get("accuracy") is not None else ""
    if note:
        lines.append(_wrap(note))
    return "\n".join(lines)


def _check_lines(test: dict[str, Any], width: int, *, repeated: bool) -> list[str]:
    name = f"{test['name']:<{width}}"
    if test["visibility"] != "visible":  # nor what it printed: it could print the data a hidden check uses
        return [f"  HIDDEN  {name}  {WHEN_SHOWN.get(test['visibility'], WHEN_SHOWN['hidden'])}"]
    indent = " " * 10
    return _verdict_lines(test, name, indent, repeated=repeated) + [
        indent + line for line in printed.shown(test["extra_data"].get("printed"), WIDTH - len(indent))]


def _verdict_lines(test: dict[str, Any], name: str, indent: str, *, repeated: bool) -> list[str]:
    info = test["extra_data"]
    points = f"{format_points(test['score'])}/{format_points(test['max_score'])}"
    if test["status"] == "passed":  # with a note when it passed with a caveat (a hint on a passed check)
        note = [_wrap(f"Note: {info['hint']}", " " * 10)] if info.get("hint") else []
        return [f"  PASS    {name}  {points:>5}", *note]
    if repeated:
        return [f"  FAIL    {name}  {points:>5}  (the same problem as above)"]
    lines = [f"  FAIL    {name}  {points:>5}", _wrap(info.get("feedback", ""), indent)]
    if info.get("hint"):
        lines.append(_wrap(f"Try: {info['hint']}", indent))
    lines.extend(f"{indent}    {line}" for line in code_lines(str(info.get("fix") or "")))
    detail = details_of(test).splitlines()
    if detail and info.get("fault") not in ("not_implemented", "missing"):
        shown = detail[:MAX_DETAIL_LINES] + (["..."] if len(detail) > MAX_DETAIL_LINES else [])
        lines.extend(indent + line for line in shown)
    return lines


def budget_note(task: Assignment, budget: Assignment, *, option: str = "--full (or full=True)") -> str:
    """What the training budget of a self-check means for the grade; empty if the assignment trains nothing.
    `option` is how the reader asks for the full budget (a notebook passes full=True)."""
    if not any(c.kind == "training" for c in task.checks):
        return ""
    used, graded = budget.training, task.training
    if budget is not task:
        full = ("" if task.kit is not None else
                f" Use {option} to train exactly as the grader does.")
        return (f"Quick budget: the model was trained for {used.epochs} epoch(s) on up to {used.train_samples:,} "
                f"images and tested on up to {used.test_samples:,} other training images; grading trains for "
                f"{graded.epochs} epoch(s) on {graded.train_samples:,} and tests on held-out images. The minimum accuracy is the same, so a "
                f"model that passes here should pass when graded.{full}")
    return (f"Full budget: the model was trained as the grader does ({used.epochs} epoch(s), up to "
            f"{used.train_samples:,} images).")


def _wrap(text: str, indent: str = "") -> str:
    return "\n".join(textwrap.wrap(" ".join(text.split()), WIDTH, initial_indent=indent, subsequent_indent=indent))



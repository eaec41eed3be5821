"""A student's self-check: the public checks, run quickly, with what is wrong and what to try next.

The checks are the grader's own (grader.grading.grade.grade) on a copy of the assignment whose training
uses fewer images; the accuracy threshold stays the assignment's. Checks that are not visible to
students run too, because later checks build on them, but only their names are shown.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.assignment import spec
from grader.grading.grade import grade
from grader.assignment.spec import Assignment
from grader.results import format_points

WIDTH = 100
MAX_DETAIL_LINES = 16
WHEN_SHOWN = {"hidden": "graded when you hand in; not shown here",
              "after_due_date": "graded when you hand in; shown after the due date",
              "after_published": "graded when you hand in; shown once grades are published"}


class NothingToCheck(Exception):
    """The path given to check does not exist; the message says what to give instead."""


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
    return replace(assignment, training=replace(assignment.training, train_samples=samples))


def check(submission: str | Path, *, assignment: str | Path | Assignment | None = None, data: str | Path | None = None,
          full: bool = False, isolation: str = "auto", timings: bool = False, ahead: bool = False) -> SelfCheck:
    """Run the checks on `submission` (a .py, .ipynb or folder) at the quick budget, or the grading one if `full`;
    `assignment` as spec.resolve finds it (None: the one the submission is named after, else the course's default);
    `isolation` as for `grader run` ('strict' refuses a machine that lacks a sandbox layer). With `timings`, the
    results' extra_data.timings holds how long each stage took. With `ahead`, the
    expected training starts before the checks (grader.trusted.ahead): for the `grader check` command, not a kernel."""
    from grader import timings as clock
    from grader.assignment.data import load_dataset
    from grader.sandbox.isolation import announce
    from grader.sandbox.zygote import Zygote

    recorder = clock.ensure() if timings else clock.current()
    clock.started_up()
    with clock.stage("set-up: the assignment and the isolation probe"):
        announce(isolation)
        task = assignment if isinstance(assignment, Assignment) else spec.resolve(assignment, [Path(submission)])
    path = Path(submission)
    if not path.exists():
        raise NothingToCheck(f"{path} does not exist; give the path of your {task.module}, your notebook, or the "
                             "folder holding it.")
    budget = task if full else quick(task)
    with clock.stage("zygote: start its process"):
        zygote = Zygote(task.preload)  # first: its TensorFlow import is the longest step
    try:
        with clock.stage("data: load"):
            dataset = load_dataset(data, task.data)
        results = grade(path, budget, data=data, zygote=zygote, dataset=dataset, ahead=ahead).to_dict()
    finally:
        with clock.stage("zygote: stop"):
            zygote.close()
    if timings and recorder is not None:
        results["extra_data"]["timings"] = recorder.to_dict()
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    passed = all(t["status"] == "passed" for t in visible)
    faults = bool(results["extra_data"].get("grader_faults"))
    text = render(results, task, budget, name=path.name)
    return SelfCheck(results, text, passed, 2 if faults else 0 if passed else 1)


def render(results: dict[str, Any], task: Assignment, budget: Assignment, *, name: str | None = None) -> str:
    """The self-check as text: a line per check, what to try next under each failed one, then the budget used."""
    extra = results["extra_data"]
    tests = results["tests"]
    name = name or extra.get("module") or extra.get("submission")
    lines = [f"Self-check of {name} for {task.name}: {task.title}", ""]
    width = max(len(t["name"]) for t in tests)
    previous = None
    for test in tests:
        lines.extend(_check_lines(test, width, repeated=test["extra_data"].get("feedback") == previous))
        if test["visibility"] == "visible" and test["status"] != "passed":
            previous = test["extra_data"].get("feedback")
    visible = [t for t in tests if t["visibility"] == "visible"]
    hidden = [t for t in tests if t["visibility"] != "visible"]
    score = sum(t["score"] for t in visible)
    top = sum(t["max_score"] for t in visible)
    summary = f"Visible checks: {format_points(score)}/{format_points(top)} points."
    if hidden:
        summary += (f" {len(hidden)} hidden check(s), {format_points(sum(t['max_score'] for t in hidden))} points, "
                    "graded when you hand in.")
    lines += ["", summary]
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
    if test["visibility"] != "visible":
        return [f"  HIDDEN  {name}  {WHEN_SHOWN.get(test['visibility'], WHEN_SHOWN['hidden'])}"]
    info = test["extra_data"]
    points = f"{format_points(test['score'])}/{format_points(test['max_score'])}"
    if test["status"] == "passed":
        return [f"  PASS    {name}  {points:>5}"]
    if repeated:
        return [f"  FAIL    {name}  {points:>5}  (the same problem as above)"]
    indent = " " * 10
    lines = [f"  FAIL    {name}  {points:>5}", _wrap(info.get("feedback", ""), indent)]
    if info.get("hint"):
        lines.append(_wrap(f"Try: {info['hint']}", indent))
    _, _, details = str(test["output"]).partition("\n\n")
    detail = details.splitlines()
    if detail and info.get("fault") not in ("not_implemented", "missing"):
        shown = detail[:MAX_DETAIL_LINES] + (["..."] if len(detail) > MAX_DETAIL_LINES else [])
        lines.extend(indent + line for line in shown)
    return lines


def budget_note(task: Assignment, budget: Assignment) -> str:
    """What the training budget of a self-check means for the grade; empty if the assignment trains nothing."""
    if not any(c.kind == "training" for c in task.checks):
        return ""
    used, graded = budget.training, task.training
    if used.train_samples < graded.train_samples:
        return (f"Quick budget: the model was trained for {used.epochs} epoch(s) on up to {used.train_samples:,} "
                f"images; grading uses {graded.train_samples:,}. The minimum accuracy is the same, so a model that "
                "passes here should pass when graded. Use --full (or full=True) to train exactly as the grader does.")
    return (f"Full budget: the model was trained as the grader does ({used.epochs} epoch(s), up to "
            f"{used.train_samples:,} images).")


def _wrap(text: str, indent: str = "") -> str:
    return "\n".join(textwrap.wrap(" ".join(text.split()), WIDTH, initial_indent=indent, subsequent_indent=indent))



"""Named training budgets: grading with the spec's `[training.budgets.NAME]` instead of its default `[training]`.

The default budget is the quick one that works offline on the data the spec's sources provide; a
named budget (for example one that trains on a whole data set for several epochs, as a seed
notebook does) replaces the training values and the training checks' threshold, which is
calibrated for it. Selecting one gives a new Assignment, so everything downstream (fingerprints, workers, the
training cache's keys) sees it as plain data.
"""

from __future__ import annotations

import dataclasses
import os

from grader.assignment.data import Facts
from grader.assignment.spec import Assignment
from grader.errors import UsageError

DEFAULT = "default"


class BudgetError(UsageError):
    """A budget the assignment does not name, or data too small for it; the message says what to do."""


def names(task: Assignment) -> list[str]:
    """The budgets `task` offers: default first, then the named ones in the spec's order."""
    return [DEFAULT, *(b.name for b in task.budgets)]


def describe(task: Assignment) -> str:
    """Each budget in a few words, for messages: "default (1 epoch on 4,000 images), full (5 epochs on 60,000 images)"."""
    def words(training) -> str:
        return f"{training.epochs} epoch{'s' if training.epochs != 1 else ''} on {training.train_samples:,} images"

    return ", ".join([f"{DEFAULT} ({words(task.training)})", *(f"{b.name} ({words(b.training)})" for b in task.budgets)])


def select(task: Assignment, name: str | None) -> Assignment:
    """`task` with the budget `name` (None or 'default': `task` itself) and that budget's threshold on its training checks."""
    if name in (None, DEFAULT):
        return task
    budget = next((b for b in task.budgets if b.name == name), None)
    if budget is None:
        raise BudgetError(f"--budget {name}: the {task.name} assignment has no budget of that name; it has "
                          f"{describe(task)}.")
    checks = tuple(dataclasses.replace(c, params={**c.params, "min_accuracy": budget.min_accuracy})
                   if c.kind == "training" and budget.min_accuracy is not None else c for c in task.checks)
    return dataclasses.replace(task, training=budget.training, checks=checks)


def check_data(task: Assignment, dataset: Facts, name: str | None) -> None:
    """Refuse a named budget whose images the data does not have (the default takes what there is)."""
    if name in (None, DEFAULT):
        return
    wanted = task.training
    have_train, have_test = dataset.train, dataset.test
    if have_train >= wanted.train_samples and have_test >= wanted.test_samples:
        return
    where = f"{dataset.source}" + (f", {dataset.path}" if dataset.path else "")
    fills = [f"fill {s.describe(os.environ)} ({s.how_to_fill()})" for s in task.data.sources if s.kind == "keras_cache"]
    raise BudgetError(
        f"--budget {name} trains on {wanted.train_samples:,} images and tests on {wanted.test_samples:,}, but the "
        f"data ({where}) has {have_train:,} training and {have_test:,} test images, so the grades would not be those "
        f"of this budget. Give the full data set with --data PATH (a Keras .npz or a folder of the four IDX "
        f"*-ubyte.gz files){''.join(', or ' + f for f in fills)}; or grade with the default budget (no --budget).")

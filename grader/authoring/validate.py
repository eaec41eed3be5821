"""Validating an assignment, for its author: does the reference earn full marks, the template zero, and is the
accuracy threshold calibrated with a margin?

`grader validate NAME` runs this: the reference solution and the student template are graded as any
submission is (same sandbox, same budget), and the reference model is trained by the grader for the
calibration seeds at the grading budget and at the self-check's (on its public share of the training
images), to show how far above the threshold it lands. If the course has released the assignment's student
kit (kits/<name>/), the kit must agree with the reference: the answers it holds are made again and compared.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.assignment import course
from grader.assignment.data import Dataset, public_share
from grader.assignment.spec import Assignment
from grader.results import format_points

SAFE_MARGIN = 0.02  # the reference's lowest accuracy should sit at least this far above the threshold


@dataclass(frozen=True)
class Calibration:
    """The reference model's test accuracy, per seed, at one training budget, against the threshold."""

    budget: str
    train_samples: int
    accuracies: dict[int, float]
    threshold: float

    @property
    def lowest(self) -> float:
        return min(self.accuracies.values())

    @property
    def margin(self) -> float:
        return self.lowest - self.threshold

    def describe(self) -> str:
        seeds = ", ".join(f"{a:.4f} (seed {s})" for s, a in self.accuracies.items())
        return (f"{self.budget} budget ({self.train_samples:,} training images): reference accuracy {seeds}; "
                f"lowest {self.lowest:.4f}, threshold {self.threshold:.2f}, margin {self.margin:+.4f}")


@dataclass
class Validation:
    """What `validate` found: problems (each fails it), warnings, and the lines of its report."""

    assignment: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # "reference", "template": results dicts

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def text(self) -> str:
        verdict = (f"{self.assignment}: valid" if self.ok else f"{self.assignment}: {len(self.problems)} problem(s)")
        return "\n".join([*self.lines, *(f"PROBLEM: {p}" for p in self.problems),
                          *(f"warning: {w}" for w in self.warnings), verdict])


def validate(assignment: str | Path | Assignment, *, data: str | Path | None = None,
             seeds: tuple[int, ...] = ()) -> Validation:
    """Grade the reference and the template of `assignment` and calibrate its threshold (the spec's seed, plus
    `seeds`); the Validation's problems say what an author must fix."""
    from grader.grading.session import Session

    task = assignment if isinstance(assignment, Assignment) else course.load(assignment)
    found = Validation(task.name)
    for what, path in (("reference", task.solution), ("template", task.template)):
        if path is None or not path.is_file():
            found.problems.append(f"the {what} {path} is missing.")
    if found.problems:
        return found
    with Session(task, data=data) as session:
        found.lines.append(f"{task.name}: {task.title}; data: {session.data().source}")
        for what, path in (("reference", task.solution), ("template", task.template)):
            found.results[what] = session.grade(path, what)
        _judge_reference(found, found.results["reference"])
        _judge_template(found, found.results["template"], task)
        _calibrate(found, task, session, seeds)
    if not found.problems:
        _judge_kit(found, task, data)
    return found


def _judge_kit(found: Validation, task: Assignment, data: str | Path | None) -> None:
    """The course's released kit for `task`, if any, holds what `grader release` would write now."""
    from grader.authoring import release

    folder = release.default_folder(task)
    if not folder.is_dir():
        found.warnings.append(f"no student kit in {folder}: students cannot check their work without the reference "
                              f"until you make one with `grader release {task.name}`.")
        return
    differences = release.compare(task, folder, data=data)
    if differences:
        found.problems.extend(f"the student kit {folder} disagrees with the reference: {d}; make it again with "
                              f"`grader release {task.name}`." for d in differences)
    else:
        found.lines.append(f"kit: {folder} agrees with the reference")


def _judge_reference(found: Validation, results: dict) -> None:
    score, top = results["score"], results["extra_data"]["max_score"]
    found.lines.append(f"reference: {format_points(score)}/{format_points(top)}")
    for test in results["tests"]:
        if test["status"] != "passed":
            found.problems.append(f"the reference loses check {test['name']}: {test['extra_data'].get('feedback')}")


def _judge_template(found: Validation, results: dict, task: Assignment) -> None:
    found.lines.append(f"template: {format_points(results['score'])}/{format_points(results['extra_data']['max_score'])}")
    for test in results["tests"]:
        info = test["extra_data"]
        if test["score"]:
            found.problems.append(f"the template earns {format_points(test['score'])} point(s) on check {test['name']}; it "
                                  "should earn none until the student writes the functions.")
        check = task.check(test["name"])
        if check.function and info.get("fault") != "not_implemented":
            found.problems.append(f"the template's {check.function}() is not reported as not implemented by check "
                                  f"{test['name']} (it says: {info.get('feedback')}); make it raise "
                                  "NotImplementedError with a hint.")


def _calibrate(found: Validation, task: Assignment, session: Any, seeds: tuple[int, ...]) -> None:
    check = next((c for c in task.checks if c.kind == "training"), None)
    if check is None:
        found.lines.append("calibration: the assignment trains no model.")
        return
    threshold = float(check.params["min_accuracy"])
    from grader.grading.selfcheck import quick

    own = quick(task).training
    wanted = tuple(dict.fromkeys((task.training.seed, *seeds)))
    graded = found.results["reference"]["extra_data"].get("accuracy")
    for label, budget, share in (("grading", task.training, False), ("self-check", own, True)):
        known = {task.training.seed: graded} if label == "grading" and graded is not None else {}
        trained, more = session.call(_accuracies, budget, share, tuple(s for s in wanted if s not in known))
        accuracies = {seed: {**known, **more}[seed] for seed in wanted}
        calibration = Calibration(label, trained, accuracies, threshold)
        found.lines.append(f"calibration: {calibration.describe()}")
        if calibration.margin < 0:
            found.problems.append(f"at the {label} budget the reference model reaches {calibration.lowest:.4f}, under "
                                  f"the threshold {threshold:.2f}: lower min_accuracy or raise the budget.")
        elif calibration.margin < SAFE_MARGIN:
            found.warnings.append(f"at the {label} budget the reference model's lowest accuracy is only "
                                  f"{calibration.margin:.4f} above the threshold; a correct submission may fail on "
                                  "another machine. Calibrate with more seeds (--seeds).")


def _accuracies(setup: Any, budget: Any, share: bool, seeds: tuple[int, ...]) -> tuple[int, dict[int, float]]:
    """In a session's worker: the images the reference trains on at `budget` (all the data, or with `share` the
    self-check's public share of it), and its accuracy for each seed."""
    data = public_share(setup.dataset, budget.train_samples, budget.test_samples) if share else setup.dataset
    return min(budget.train_samples, len(data.train_images)), reference_accuracies(setup.task, data, budget, seeds)


def reference_accuracies(task: Assignment, dataset: Dataset, budget: Any, seeds: tuple[int, ...]) -> dict[int, float]:
    """The expected model, prepared and compiled as the reference does (from_logits fitted to its output),
    trained by the grader at `budget` for each seed: seed -> test accuracy."""
    from grader.trusted import architecture, comparison, compilation, training
    from grader.checks.reference import CodeReference

    reference = CodeReference(task.solution)
    model_check = next(c for c in task.checks if c.kind == "model")
    layers = comparison.expected_layers(model_check.params["layers"])
    logits = architecture.fold_activations(layers)[-1].args.get("activation", "linear") == "linear"
    settings = dataclasses.replace(compilation.reference(budget.optimizer, budget.loss, budget.metrics),
                                   from_logits=logits)

    def prepare(images: np.ndarray) -> np.ndarray:
        for step in budget.prepare:
            images = np.asarray(reference.call(step, images))
        return images

    if not seeds:
        return {}
    x_train = prepare(dataset.train_images[:budget.train_samples])
    y_train = dataset.train_labels[:budget.train_samples].astype(np.int64)
    x_test = prepare(dataset.test_images[:budget.test_samples])
    y_test = dataset.test_labels[:budget.test_samples].astype(np.int64)
    return {seed: training.train(layers, settings, x_train, y_train, x_test, y_test,
                                 dataclasses.replace(budget, seed=seed), task.limits).accuracy for seed in seeds}

"""Releasing an assignment: the student kit, made from the course folder (`grader release NAME`).

The kit (grader.assignment.kit) holds the template module and notebook, the public part of the spec, the public
share of the training images the self-check uses, and the reference's answers to every question the public
checks ask, written down while the reference solution is graded at the self-check's budget on that share
(grader.checks.reference.Recorder). Hidden checks are not run, so nothing of their expectations is written;
they appear by name, points and visibility. Nothing of the reference's code is copied: a kit answers the
questions the checks ask of the grader's own inputs, and nothing else.

The same course folder and data give the same bytes, so `grader validate` makes the kit again and compares.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from grader import toml
from grader.errors import UsageError
from grader.assignment import course, kit
from grader.assignment.spec import Assignment

# Check kinds that need the expected model (the model check's layers): public only if the model check is.
NEEDS_MODEL = ("compile", "training", "predict", "model_output")


class ReleaseError(UsageError):
    """The kit cannot be made; the message says what to fix."""


def default_folder(task: Assignment) -> Path:
    """Where a course keeps an assignment's kit: kits/<name>/ beside assignments/ and solutions/."""
    return course.root(task) / "kits" / task.name


def release(assignment: str | Path, *, out: Path | None = None, data: str | Path | None = None) -> list[Path]:
    """Make the student kit of `assignment` (a name of the course or a path to its assignment.toml) in `out` (default:
    the course's kits/<name>/); returns the files written."""
    task = course.load(assignment)
    folder = out or default_folder(task)
    for private in (task.directory, *([task.solution.parent] if task.solution else [])):
        if folder.resolve() == private.resolve():
            raise ReleaseError(f"--out {folder} is the course's own {private}; give the kit a folder of its own "
                               f"(default: {default_folder(task)}).")
    files = build(task, data=data)
    stale = [p for p in folder.iterdir() if p.is_file() and p.name not in files and p.name != kit.SUMS] \
        if folder.is_dir() else []
    for path in stale:  # a kit made earlier with other files (a notebook since removed)
        path.unlink()
    return kit.write(folder, files)


def build(task: Assignment, *, data: str | Path | None = None) -> dict[str, bytes]:
    """The files of `task`'s kit, by name (SHA256SUMS aside)."""
    from grader.grading.selfcheck import quick
    from grader.grading.session import Session

    if task.solution is None or not task.solution.is_file():
        raise ReleaseError(f"the reference solution {task.solution} is missing; the kit's answers are the reference's.")
    if not task.template.is_file():
        raise ReleaseError(f"the student template {task.template} is missing; the kit hands it to the students.")
    public = tuple(c for c in task.checks if c.visibility == "visible")
    withheld = tuple(c for c in task.checks if c.visibility != "visible")
    _refuse_leaks(task, public, withheld)
    checking = dataclasses.replace(quick(task), checks=public, budgets=())
    with Session(checking, data=data) as session:
        full = session.data()
        recorded = session.call(_record, task.solution, bool(public))
    if recorded["lost"]:
        raise ReleaseError(f"the reference solution loses public check(s) at the self-check's budget: "
                           f"{'; '.join(recorded['lost'])}. Fix the assignment (`grader validate {task.name}`) first.")
    arrays = {"train_images": recorded["train_images"], "train_labels": recorded["train_labels"], **recorded["arrays"]}
    files = {
        kit.SPEC: _json({"format": kit.FORMAT, "spec": _public_spec(task, public),
                         "withheld": [{"name": c.name, "points": c.points, "visibility": c.visibility} for c in withheld],
                         "data": {"source": full.source, "sha256": recorded["sha256"]}}),
        kit.INDEX: _json(recorded["index"]),
        kit.ANSWERS: kit.pack(arrays),
        task.module: task.template.read_bytes(),
    }
    notebook = task.directory / f"{Path(task.module).stem}.ipynb"
    if notebook.is_file():
        files[notebook.name] = notebook.read_bytes()
    return files


def compare(task: Assignment, folder: Path, *, data: str | Path | None = None) -> list[str]:
    """How the kit in `folder` differs from the one `build` makes now (empty if it agrees)."""
    try:
        kit.verify(folder)
    except kit.KitError as exc:
        return [str(exc)]
    made = build(task, data=data)
    differences = []
    for name, content in made.items():
        path = folder / name
        if not path.is_file():
            differences.append(f"it lacks {name}")
        elif path.read_bytes() != content:
            differences.append(_difference(name, path.read_bytes(), content))
    return differences


def _difference(name: str, held: bytes, made: bytes) -> str:
    if name == kit.INDEX:
        try:
            old, new = json.loads(held)["calls"], json.loads(made)["calls"]
            functions = sorted({entry["function"] for key in set(old) ^ set(new) for entry in [{**old, **new}[key]]})
            if functions:
                return f"its answers for {', '.join(f'{f}()' for f in functions)} are not the reference's"
        except (ValueError, KeyError, TypeError):
            pass
    return f"its {name} is not what the course folder makes now"


def _refuse_leaks(task: Assignment, public: tuple, withheld: tuple) -> None:
    """A public check may not need the expectation of a hidden one (the kit would have to hold it)."""
    steps = {step for c in public for step in c.params.get("prepare", [])}
    if any(c.kind == "training" for c in public):
        steps.update(task.training.prepare)
    for check in withheld:
        if check.function in steps:
            raise ReleaseError(f"check {check.name} is hidden, but the public checks prepare their images with "
                               f"{check.function}(), so the kit would hold its answers: make {check.name} visible, or "
                               f"the checks that prepare with it hidden too.")
    hidden_model = [c.name for c in withheld if c.kind == "model"]
    needing = [c.name for c in public if c.kind in NEEDS_MODEL]
    if hidden_model and needing:
        raise ReleaseError(f"check(s) {', '.join(needing)} are visible but build on the hidden check "
                           f"{hidden_model[0]}, whose expected layers a kit would have to hold: make them hidden too, "
                           f"or {hidden_model[0]} visible.")


def _record(setup: Any, solution: Path, public: bool) -> dict[str, Any]:
    """In a session's worker, on the self-check's share of the data: the reference solution graded on the public
    checks with a recorder answering, and what the recorder wrote down, as plain data."""
    from grader.assignment.data import public_share
    from grader.checks.reference import CodeReference, Recorder
    from grader.grading.grade import grade

    budget = setup.task.training
    share = public_share(setup.dataset, budget.train_samples, budget.test_samples)
    recorder, lost = Recorder(CodeReference(solution)), []
    if public:
        on_share = dataclasses.replace(setup, reference=recorder, dataset=share)
        results = grade(solution, on_share, name="reference").to_dict()
        lost = [f"{t['name']} ({t['extra_data'].get('feedback')})" for t in results["tests"] if t["status"] != "passed"]
        if not lost:
            _record_compile(setup.task, share, recorder)
    return {"lost": lost, "arrays": dict(recorder.arrays), "index": recorder.index(), "sha256": share.sha256,
            "train_images": np.concatenate([share.train_images, share.test_images]),
            "train_labels": np.concatenate([share.train_labels, share.test_labels])}


def _record_compile(checking: Assignment, share: Any, recorder: Any) -> None:
    """Have the recorder write down the compile settings the reference sets, which the training ahead asks for."""
    if not any(c.kind == "training" for c in checking.checks) or not any(c.kind == "model" for c in checking.checks):
        return
    from grader.checks import training
    from grader.checks.context import Context

    training.planned(Context(checking, share, recorder, runner=None))


def _public_spec(task: Assignment, public: tuple) -> dict[str, Any]:
    """The spec's table without what students do not get: named budgets, platform options and the hidden checks
    (listed apart, by name and points). The data sources stay: they say where the public data sets are, for a
    notebook's own experiments (grader.load_data); the kit brings the self-check's share of them itself."""
    table = toml.loads((task.directory / "assignment.toml").read_text(encoding="utf-8"))
    names = {c.name for c in public}
    table["training"] = {k: v for k, v in table.get("training", {}).items() if k != "budgets"}
    table.pop("gradescope", None)
    table["checks"] = [c for c in table.get("checks", []) if c.get("name") in names]
    return table


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

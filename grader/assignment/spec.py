"""Assignment specs: the declarative description of one exercise, read from its assignment.toml."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader import toml
from grader.errors import UsageError
from grader.assignment import schema
from grader.assignment.data import DataSpec, DataError

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# Each kind is a mechanism, run by the module of grader.checks of the same name.
CHECK_KINDS = ("array", "model", "compile", "training", "predict", "model_output", "values")


class SpecError(UsageError):
    """An assignment spec is missing or malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of the sandbox that runs a submission."""

    startup_seconds: float = 120
    import_seconds: float = 60
    call_seconds: float = 60
    cpu_seconds: int = 600
    memory_mb: int = 4096
    max_processes: int = 256
    output_kb: int = 1024
    file_mb: int = 16
    disk_mb: int = 256  # what the sandbox may write in its home and its tmp, each (as root: a tmpfs of this size)
    max_params: int = 3_000_000
    max_activations: int = 200_000
    max_macs: int = 25_000_000
    max_layers: int = 100
    max_training_mb: int = 2048  # what training a model may need (grader.trusted.model_cost.training_bytes)


@dataclass(frozen=True)
class Training:
    """How the grader trains a submission's model: data preparation, budget and seed."""

    prepare: tuple[str, ...] = ()
    seed: int = 0
    epochs: int = 1
    train_samples: int = 4000
    test_samples: int = 10000
    batch_size: int = 32
    max_seconds: float = 300
    quick_train_samples: int = 0  # what a self-check (`grader check`) trains on; 0: as many as grading does
    quick_test_samples: int = 1000  # the self-check's test images: the training images after those it trains on
    quick_epochs: int = 0  # the self-check's epochs; 0: as many as grading
    optimizer: str = "Adam"
    loss: str = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)


@dataclass(frozen=True)
class NamedBudget:
    """A training budget besides the default `[training]` ([training.budgets.NAME]), chosen with `grader run --budget`."""

    name: str
    training: Training               # [training] with the budget's own values over it
    min_accuracy: float | None = None  # its own threshold for the training checks, calibrated at this budget
    description: str = ""


@dataclass(frozen=True)
class GradescopeOptions:
    """What the Gradescope results.json carries besides the checks ([gradescope] in the spec)."""

    leaderboard: bool = False  # the test accuracy as a leaderboard entry


@dataclass(frozen=True)
class CheckSpec:
    """One graded check: its kind, its points and the kind's own parameters."""

    name: str
    kind: str
    points: float
    description: str = ""
    function: str | None = None
    visibility: str = "visible"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Assignment:
    """A whole assignment: where its files are and what to check."""

    name: str
    title: str
    module: str
    functions: tuple[str, ...]
    preload: tuple[str, ...]
    data: DataSpec
    limits: Limits
    training: Training
    checks: tuple[CheckSpec, ...]
    directory: Path
    solution: Path | None  # the reference module; None for a student kit, which holds answers as data instead
    gradescope: GradescopeOptions = GradescopeOptions()
    budgets: tuple[NamedBudget, ...] = ()
    kit: Path | None = None  # the student kit's folder, when the assignment was loaded from one
    withheld: tuple[CheckSpec, ...] = ()  # a kit's hidden checks: name, points and visibility only, never run

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def template(self) -> Path:
        return self.directory / self.module

    def check(self, name: str) -> CheckSpec:
        """The check called `name`."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)


def load_file(path: str | os.PathLike) -> Assignment:
    """Load an assignment.toml (or the folder holding it) of a course folder: its reference solution is
    solutions/<name>/<module> in the same course."""
    candidate = Path(path)
    if candidate.is_dir():
        candidate = candidate / "assignment.toml"
    try:
        table = toml.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, toml.TOMLDecodeError) as exc:
        raise SpecError(f"{candidate}: cannot read the assignment spec: {exc}") from exc
    task = parse(table, candidate, solution=None)
    return replace(task, solution=candidate.parent.parent.parent / "solutions" / task.name / task.module)


def parse(table: dict, path: Path, *, solution: Path | None, kit: Path | None = None,
          withheld: tuple[CheckSpec, ...] = ()) -> Assignment:
    """The Assignment a spec's table describes; `path` names the file in messages and its folder holds the template."""
    where = str(path)
    problem = schema.unknown(table, schema.TOP, where)
    head = _table(table, "assignment", where)
    problem = problem or schema.unknown(head, schema.ASSIGNMENT, f"{where} [assignment]")
    if problem:
        raise SpecError(problem)
    if not isinstance(table.get("checks", []), list):
        raise SpecError(f"{where}: checks must be an array of tables ([[checks]]), got {table['checks']!r}.")
    name = _required(head, "name", str, f"{where} [assignment]")
    module = _required(head, "module", str, f"{where} [assignment]")
    limits = _dataclass(Limits, _table(table, "limits", where, default={}), f"{where} [limits]")
    training_table = dict(_table(table, "training", where, default={}))
    named = training_table.pop("budgets", {})
    training = _dataclass(Training, training_table, f"{where} [training]")
    checks = tuple(_check(entry, f"{where} [[checks]] #{i + 1}") for i, entry in enumerate(table.get("checks", [])))
    if not checks:
        raise SpecError(f"{where}: no [[checks]] defined; an assignment needs at least one.")
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise SpecError(f"{where}: check names must be unique, got {names}.")
    try:
        data = DataSpec.from_dict(_table(table, "data", where, default={}))
    except DataError as exc:
        raise SpecError(f"{where} [data]: {exc}") from exc
    return Assignment(
        name=name,
        title=head.get("title", name),
        module=module,
        functions=tuple(head.get("functions", [])),
        preload=tuple(head.get("preload", [])),
        data=data,
        limits=limits,
        training=training,
        checks=checks,
        directory=path.parent,
        solution=solution,
        gradescope=_gradescope(_table(table, "gradescope", where, default={}), f"{where} [gradescope]"),
        budgets=_budgets(named, training_table, f"{where} [training.budgets]"),
        kit=kit,
        withheld=withheld,
    )


def _gradescope(table: dict, where: str) -> GradescopeOptions:
    known = GradescopeOptions.__dataclass_fields__
    unknown = set(table) - set(known)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}.")
    for key, value in table.items():
        if not isinstance(value, bool):
            raise SpecError(f"{where}: {key} must be true or false, got {value!r}.")
    return GradescopeOptions(**table)


def _budgets(table: Any, base: dict, where: str) -> tuple[NamedBudget, ...]:
    """The named budgets: each a table of [training]'s keys (over [training]'s values), min_accuracy and description."""
    if not isinstance(table, dict):
        raise SpecError(f"{where}: expected tables such as [training.budgets.full], got {table!r}.")
    budgets = []
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise SpecError(f"{where}: {name} must be a table ([training.budgets.{name}]), got {entry!r}.")
        if name == "default":
            raise SpecError(f"{where}: 'default' is [training] itself; give the other budgets other names.")
        entry = dict(entry)
        threshold = entry.pop("min_accuracy", None)
        if threshold is not None and (not isinstance(threshold, (int, float)) or isinstance(threshold, bool)
                                      or not 0 <= threshold <= 1):
            raise SpecError(f"{where}.{name}: min_accuracy must be a number in [0, 1], got {threshold!r}.")
        description = entry.pop("description", "")
        training = _dataclass(Training, {**base, **entry}, f"{where}.{name}")
        budgets.append(NamedBudget(name, training, None if threshold is None else float(threshold), str(description)))
    return tuple(budgets)


def _check(entry: Any, where: str) -> CheckSpec:
    if not isinstance(entry, dict):
        raise SpecError(f"{where}: expected a table ([[checks]]), got {entry!r}.")
    params = dict(entry)
    name = _required(params, "name", str, where)
    kind = _required(params, "kind", str, where)
    if kind not in CHECK_KINDS:
        near = difflib.get_close_matches(kind, CHECK_KINDS, n=1)
        raise SpecError(f"{where}: kind {kind!r} is not one of {', '.join(CHECK_KINDS)}"
                        + (f"; did you mean {near[0]!r}?" if near else "."))
    points = params.pop("points", 1)
    if not isinstance(points, (int, float)) or points < 0:
        raise SpecError(f"{where}: points must be a number >= 0, got {points!r}.")
    visibility = params.pop("visibility", "visible")
    if visibility not in VISIBILITIES:
        raise SpecError(f"{where}: visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}.")
    problem = schema.check_params(kind, {**params, "visibility": visibility}, f"{where} ({name})")
    if problem:
        raise SpecError(problem)
    for key in ("name", "kind"):
        params.pop(key)
    return CheckSpec(
        name=name,
        kind=kind,
        points=float(points),
        description=params.pop("description", ""),
        function=params.pop("function", None),
        visibility=visibility,
        params=params,
    )


def _near(unknown: set, known: Any) -> str:
    near = difflib.get_close_matches(str(min(unknown)), list(known), n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _table(table: dict, key: str, where: str, default: dict | None = None) -> dict:
    value = table.get(key, default)
    if not isinstance(value, dict):
        raise SpecError(f"{where}: missing or malformed [{key}] table.")
    return value


def _required(table: dict, key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if not isinstance(value, kind):
        raise SpecError(f"{where}: {key!r} is required and must be a {kind.__name__}, got {value!r}.")
    return value


def _dataclass(cls: type, table: dict, where: str):
    known = cls.__dataclass_fields__
    unknown = set(table) - set(known)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}{_near(unknown, known)}; known: "
                        f"{', '.join(known)}.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    for key, value in values.items():
        default = known[key].default
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise SpecError(f"{where}: {key} must be a number >= 0, got {value!r}.")
    return cls(**values)

"""Assignment specs: the declarative description of one exercise, read from its assignment.toml."""

from __future__ import annotations

import importlib.resources
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from grader.assignment.data import DataSpec, DataError

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# Each kind is a mechanism, run by the module of grader.checks of the same name.
CHECK_KINDS = ("array", "model", "compile", "training", "predict", "model_output", "values")


class SpecError(Exception):
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
    solution: Path
    gradescope: GradescopeOptions = GradescopeOptions()
    budgets: tuple[NamedBudget, ...] = ()

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


def course_root() -> Path:
    """The folder holding the bundled assignments/ and solutions/ (inside the installed package)."""
    return Path(str(importlib.resources.files("grader.assignments"))).parent


def available() -> list[str]:
    """Names of the bundled assignments."""
    root = Path(str(importlib.resources.files("grader.assignments")))
    return sorted(p.parent.name for p in root.glob("*/assignment.toml"))


def default_name() -> str | None:
    """The course's default assignment, `default_assignment` in the bundled assignments/course.toml (if any)."""
    path = Path(str(importlib.resources.files("grader.assignments"))) / "course.toml"
    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get("default_assignment")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return value if isinstance(value, str) and value in available() else None


def resolve(requested: str | os.PathLike | None, submissions: Iterable[Path] = ()) -> Assignment:
    """The assignment to use: `requested` if given; else the bundled assignment the submissions are named after
    (lab.py, lab.ipynb or a folder holding one is graded as the assignment whose module is lab.py);
    else the course's default (assignments/course.toml). SpecError says what to give when none applies."""
    if requested is not None:
        return load(requested)
    stems = {Path(spec.module).stem: spec for spec in (load(name) for name in available())}
    found = {Path(path): _named_after(Path(path), stems) for path in submissions if Path(path).exists()}
    named = {spec.name for spec in found.values() if spec is not None}
    if len(named) > 1:
        listed = ", ".join(f"{path.name} ({spec.name})" for path, spec in found.items() if spec is not None)
        raise SpecError(f"the submissions are named after different assignments: {listed}; grade each assignment's "
                        "separately, or give --assignment NAME.")
    if named and all(spec is not None for spec in found.values()):
        return next(iter(found.values()))
    default = default_name()
    if default is None:
        raise SpecError(f"which assignment? Give --assignment NAME ({', '.join(available()) or 'none installed'}) or a "
                        "path to an assignment.toml, or name the file after the assignment's module.")
    return load(default)


def _named_after(path: Path, stems: dict[str, Assignment]) -> Assignment | None:
    """The assignment `path` is named after: its own stem for a .py or .ipynb file, else a module inside the folder."""
    if path.is_file():
        return stems.get(path.stem) if path.suffix in (".py", ".ipynb") else None
    inside = {stems[p.stem].name: stems[p.stem] for p in path.iterdir() if p.suffix in (".py", ".ipynb")
              and p.stem in stems} if path.is_dir() else {}
    return next(iter(inside.values())) if len(inside) == 1 else None


def load(name_or_path: str | os.PathLike) -> Assignment:
    """Load a bundled assignment by name, or any assignment.toml (or its folder) by path."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        candidate = candidate / "assignment.toml"
    if not candidate.is_file():
        bundled = Path(str(importlib.resources.files("grader.assignments"))) / str(name_or_path) / "assignment.toml"
        if not bundled.is_file():
            raise SpecError(
                f"no assignment called {str(name_or_path)!r}: expected a bundled name "
                f"({', '.join(available()) or 'none installed'}) or a path to an assignment.toml."
            )
        candidate = bundled
    try:
        table = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{candidate}: cannot read the assignment spec: {exc}") from exc
    return _parse(table, candidate)


def _parse(table: dict, path: Path) -> Assignment:
    where = str(path)
    head = _table(table, "assignment", where)
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
    solution = path.parent.parent.parent / "solutions" / name / module
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


def _check(entry: dict, where: str) -> CheckSpec:
    params = dict(entry)
    name = _required(params, "name", str, where)
    kind = _required(params, "kind", str, where)
    if kind not in CHECK_KINDS:
        raise SpecError(f"{where}: kind {kind!r} is not one of {', '.join(CHECK_KINDS)}.")
    points = params.pop("points", 1)
    if not isinstance(points, (int, float)) or points < 0:
        raise SpecError(f"{where}: points must be a number >= 0, got {points!r}.")
    visibility = params.pop("visibility", "visible")
    if visibility not in VISIBILITIES:
        raise SpecError(f"{where}: visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}.")
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
        raise SpecError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    for key, value in values.items():
        default = known[key].default
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise SpecError(f"{where}: {key} must be a number >= 0, got {value!r}.")
    return cls(**values)

"""The package's layers, read from every module's imports with `ast`: imports flow one way, from the command line
down (README, Layout), and the rules that keep each floor what it is hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "grader"
# The floors, from the bottom; a top-level module not named here is on floor 0 with the other helpers, which import
# one another freely (without cycles). Folders on one floor do not import each other.
FLOORS = {"assignment": 1, "submission": 2, "trusted": 2, "sandbox": 3, "checks": 4, "views": 4, "grading": 5,
          "platforms": 6, "authoring": 6, "api": 7, "student": 7, "cli": 8, "__main__": 9}
# The imports that go up a floor, each made inside the one function that needs it (README, Layout).
UPWARD = {("grader.assignment.schema", "grader.trusted.layer_args"),
          ("grader.grading.selfcheck", "grader.platforms.github")}


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return found


MODULES = _modules()


class _Imports(ast.NodeVisitor):
    """The import statements of a module; with `top_level`, not those inside a function."""

    def __init__(self, top_level: bool) -> None:
        self.top_level, self.found = top_level, []

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append(node)

    visit_ImportFrom = visit_Import

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if not self.top_level:
            self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef


def _imported(name: str, *, top_level: bool = False) -> set[str]:
    """The grader modules `name` imports (inside functions too, unless `top_level`), as modules that exist."""
    visitor = _Imports(top_level)
    visitor.visit(MODULES[name])
    targets = set()
    for node in visitor.found:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            assert not node.level, f"{name}, line {node.lineno}: a relative import"
            base = node.module or ""
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for target in names:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith("grader.") and target != name:
                targets.add(target)
    return targets


def _floor(name: str) -> tuple[str, int]:
    """The folder (or top-level module) `name` belongs to, and its floor."""
    unit = name.split(".")[1] if name != "grader" else "__init__"
    return unit, FLOORS.get(unit, 0)


IMPORTS = {name: _imported(name) for name in MODULES}


def test_every_folder_has_a_floor() -> None:
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert folders <= set(FLOORS), f"no floor for {sorted(folders - set(FLOORS))}: add it to FLOORS and the README"


def test_imports_flow_down_the_floors() -> None:
    upward = set()
    for name, targets in IMPORTS.items():
        unit, floor = _floor(name)
        for target in targets:
            other, other_floor = _floor(target)
            if other != unit and (other_floor > floor or (other_floor == floor and floor > 0)):
                upward.add((name, target))
    assert upward - UPWARD == set(), "imports that go up a floor (or across one): " + ", ".join(
        f"{a} -> {b}" for a, b in sorted(upward - UPWARD))
    assert UPWARD - upward == set(), f"no longer imported, take them out of UPWARD and the README: {UPWARD - upward}"


def test_the_upward_imports_are_made_inside_the_function_that_needs_them() -> None:
    for name, target in UPWARD:
        assert target in IMPORTS[name] and target not in _imported(name, top_level=True), \
            f"{name} imports {target} at its top level"


@pytest.mark.parametrize("layer", ["grading", "views", "checks", "platforms", "authoring"])
def test_the_sandbox_imports_nothing_above_it(layer: str) -> None:
    for name, targets in IMPORTS.items():
        if name.startswith(("grader.sandbox.", "grader.submission.")):
            assert not [t for t in targets if t.startswith(f"grader.{layer}")], (name, sorted(targets))


def test_init_holds_only_a_docstring_and_the_version() -> None:
    body = MODULES["grader"].body
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), "no docstring"
    rest = body[1:]
    assert len(rest) == 1 and isinstance(rest[0], ast.Assign), ast.dump(ast.Module(rest, []))
    assert [t.id for t in rest[0].targets] == ["__version__"] and isinstance(rest[0].value, ast.Constant)


def test_the_notebook_import_only_names_what_platforms_jupyter_does() -> None:
    body = [node for node in MODULES["grader.student"].body if not isinstance(node, ast.Expr)]
    assert all(isinstance(node, (ast.ImportFrom, ast.Assign)) for node in body)
    assert IMPORTS["grader.student"] == {"grader.platforms.jupyter"}


def _calls_named(tree: ast.Module, names: set[str]) -> list[int]:
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) in names or getattr(node.func, "id", None) in names)]


def test_only_libc_uses_ctypes_and_calls_prctl_or_syscall() -> None:
    for name, tree in MODULES.items():
        if name == "grader.libc":
            continue
        imports = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imports += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
        assert not [m for m in imports if m.split(".")[0] == "ctypes"], f"{name} imports ctypes"
        assert not _calls_named(tree, {"prctl", "syscall", "CDLL", "unshare", "mount", "umount2", "capset"}), name


def _handlers(tree: ast.Module) -> list[ast.ExceptHandler]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler)]


def test_only_the_command_line_turns_an_error_into_an_exit_status() -> None:
    for name, tree in MODULES.items():
        if name == "grader.cli":
            continue
        for handler in _handlers(tree):
            statuses = [node.id for node in ast.walk(handler) if isinstance(node, ast.Name) and node.id.startswith("EXIT_")]
            assert not statuses, f"{name}, line {handler.lineno}: an error becomes exit status {statuses[0]}"
        texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
        assert not [t for t in texts if t.startswith("grader: error:")], f"{name} reports errors as the command line"
        assert not _calls_named(tree, {"exit"}) or name == "grader.platforms.gradescope", f"{name} calls sys.exit"


def test_exit_statuses_are_the_constants_of_results_py() -> None:
    defined = {target.id for name, tree in MODULES.items() for node in ast.walk(tree) if isinstance(node, ast.Assign)
               for target in ast.walk(node) if isinstance(target, ast.Name) and target.id.startswith("EXIT_")
               and isinstance(target.ctx, ast.Store) and name != "grader.results"}
    assert not defined, f"exit statuses defined outside grader/results.py: {defined}"
    for name in ("grader.cli", "grader.platforms.gradescope"):  # the two programs a person or a platform runs
        for node in ast.walk(MODULES[name]):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant):
                assert type(node.value.value) is not int, f"{name}, line {node.lineno}: return {node.value.value}"
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "exit" and node.args:
                assert not isinstance(node.args[0], ast.Constant), f"{name}, line {node.lineno}: exit with a number"


def test_one_error_base_in_errors_py() -> None:
    from grader import errors

    assert issubclass(errors.UsageError, errors.GraderError) and issubclass(errors.GraderFault, errors.GraderError)
    bases = {node.name: [ast.unparse(b) for b in node.bases] for node in ast.walk(MODULES["grader.errors"])
             if isinstance(node, ast.ClassDef)}
    assert bases == {"GraderError": ["Exception"], "UsageError": ["GraderError"], "GraderFault": ["GraderError"]}

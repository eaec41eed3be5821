"""Tests for grader.authoring.assign: the instructor's notebook is the one source of the student files and the reference."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from grader.authoring import assign
from grader.submission import notebook
from grader.cli import main

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions" / "digits" / "digits.ipynb"
STUDENT_NOTEBOOK = ROOT / "assignments" / "digits" / "digits.ipynb"
STUDENT_MODULE = ROOT / "assignments" / "digits" / "digits.py"
REFERENCE = ROOT / "solutions" / "digits" / "digits.py"
FUNCTIONS = ("reshape", "normalise", "build_model", "compile_model", "predict")
ASSIGNMENTS = sorted(p.parent.name for p in (ROOT / "assignments").glob("*/assignment.toml"))


def solution_lines(path: Path) -> list[str]:
    """Every line of the source's solutions (between markers, or marked with # SOLUTION), stripped."""
    found, inside = [], False
    for cell in notebook.read(path)["cells"]:
        for line in cell["source"].splitlines():
            if re.match(r"\s*# BEGIN SOLUTION", line):
                inside = True
            elif re.match(r"\s*# END SOLUTION", line):
                inside = False
            elif inside or line.rstrip().endswith("# SOLUTION"):
                found.append(line.replace("# SOLUTION", "").strip())
    return [line for line in found if line]


def student_lines(book: Path = STUDENT_NOTEBOOK, module: Path = STUDENT_MODULE) -> list[str]:
    """Every line of the student notebook's cells and of the student module, stripped."""
    cells = notebook.read(book)["cells"]
    text = "\n".join(c["source"] for c in cells) + "\n" + module.read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines()]


# --- The committed files -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_files_are_what_assign_makes_byte_for_byte(tmp_path, name):
    source = ROOT / "solutions" / name / f"{name}.ipynb"
    committed = (ROOT / "assignments" / name / f"{name}.ipynb", ROOT / "assignments" / name / f"{name}.py",
                 ROOT / "solutions" / name / f"{name}.py")
    made = assign.assign(source, out=tmp_path / "student", solutions_out=tmp_path / "reference")
    assert [p.relative_to(tmp_path) for p in made] == [Path(f"student/{name}.ipynb"), Path(f"student/{name}.py"),
                                                       Path(f"reference/{name}.py")]
    for generated, kept in zip(made, committed):
        assert generated.read_bytes() == kept.read_bytes(), f"{kept} is stale: run grader assign"
    again = assign.assign(source, out=tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in made[:2]]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_student_files_hold_no_line_of_any_solution(name):
    source = ROOT / "solutions" / name / f"{name}.ipynb"
    student = (ROOT / "assignments" / name / f"{name}.ipynb", ROOT / "assignments" / name / f"{name}.py")
    solutions = solution_lines(source)
    assert len(solutions) >= 10
    if name == "digits":
        assert "return images.reshape(-1, 28, 28, 1)" in solutions
    shown = set(student_lines(*student))
    leaked = [line for line in solutions if line in shown]
    assert leaked == []
    for path in student:
        assert "SOLUTION" not in path.read_text(encoding="utf-8")


def test_student_notebook_has_no_outputs_counts_or_metadata():
    raw = json.loads(STUDENT_NOTEBOOK.read_text(encoding="utf-8"))
    source = json.loads(SOURCE.read_text(encoding="utf-8"))
    assert len(raw["cells"]) == len(source["cells"])
    assert set(raw["metadata"]) <= {"kernelspec", "language_info"}
    assert raw["metadata"]["kernelspec"]["name"] == "python3"
    for cell in raw["cells"]:
        assert cell["metadata"] == {}
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_student_module_is_the_five_functions_each_raising_with_a_hint():
    text = STUDENT_MODULE.read_text(encoding="utf-8")
    raises = re.findall(r'^    raise NotImplementedError\("(.+)"\)$', text, flags=re.M)
    assert len(raises) == 5 and all(len(hint) > 20 for hint in raises)
    assert re.findall(r"^def (\w+)\(", text, flags=re.M) == list(FUNCTIONS)
    assert text.startswith('"""Handwritten digit recognition')


def test_reference_module_keeps_the_solutions_without_markers():
    text = REFERENCE.read_text(encoding="utf-8")
    assert "SOLUTION" not in text and "NotImplementedError" not in text
    for line in solution_lines(SOURCE):
        assert line in text
    for seed in ("keras.layers.Conv2D(28, kernel_size=(3, 3)))", "keras.layers.Dense(128, activation=tf.nn.relu)",
                 "activation=tf.nn.softmax)", "keras.Input(shape=input_shape)", 'astype("float32") / 255'):
        assert seed in text


# --- Markers -------------------------------------------------------------------------------------

CELL = '''def f(x):
    """Doc."""
    # BEGIN SOLUTION hint: square it
    y = x * x
    return y
    # END SOLUTION


def g(x):
    # BEGIN SOLUTION
    return -x
    # END SOLUTION


def h(x):
    a = x + 1  # SOLUTION
    return a + 1  # SOLUTION
'''


def test_student_source_replaces_each_solution_with_one_raise():
    student = assign.student_source(CELL, "cell 1")
    assert '    raise NotImplementedError("square it")' in student.splitlines()
    assert student.count(f'raise NotImplementedError("{assign.DEFAULT_HINT}")') == 2  # g, and h's run of two
    assert "x * x" not in student and "-x" not in student and "a + 1" not in student and "SOLUTION" not in student
    names: dict = {}
    exec(student, names)
    for name in "fgh":
        with pytest.raises(NotImplementedError):
            names[name](3)


def test_reference_source_keeps_the_solution_lines():
    names: dict = {}
    reference = assign.reference_source(CELL, "cell 1")
    exec(reference, names)
    assert "SOLUTION" not in reference
    assert (names["f"](3), names["g"](3), names["h"](3)) == (9, -3, 5)


@pytest.mark.parametrize("source, words", [
    ("# BEGIN SOLUTION\nx = 1\n", ["line 1", "never closed"]),
    ("x = 1\n# END SOLUTION\n", ["line 2", "without a # BEGIN SOLUTION"]),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", ["line 2", "inside the solution begun on line 1"]),
])
def test_unbalanced_markers_are_errors_naming_the_line(source, words):
    with pytest.raises(assign.AssignError) as caught:
        assign.student_source(source, "cell 4 of x.ipynb")
    assert str(caught.value).startswith("cell 4 of x.ipynb")
    for word in words:
        assert word in str(caught.value)


def test_a_source_without_module_cells_is_refused(tmp_path, capsys):
    book = tmp_path / "lesson.ipynb"
    book.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1",
                                           "outputs": [], "execution_count": None}]}))
    assert main(["assign", str(book), "--out", str(tmp_path / "out")]) == 2
    assert "no cell tagged 'module'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_assign_refuses_to_overwrite_its_source(tmp_path, capsys):
    source = tmp_path / "digits.ipynb"
    shutil.copy(SOURCE, source)
    assert main(["assign", str(source), "--out", str(tmp_path)]) == 2
    assert "would overwrite digits.ipynb" in capsys.readouterr().err
    assert source.read_bytes() == SOURCE.read_bytes()
    with pytest.raises(assign.AssignError):
        assign.assign(SOURCE, out=tmp_path / "same", solutions_out=tmp_path / "same")


def test_cli_assign_writes_the_student_files(tmp_path, capsys):
    assert main(["assign", str(SOURCE), "--out", str(tmp_path / "student")]) == 0
    out = capsys.readouterr().out
    assert f"Wrote {tmp_path / 'student' / 'digits.ipynb'}" in out and "digits.py" in out
    assert sorted(p.name for p in (tmp_path / "student").iterdir()) == ["digits.ipynb", "digits.py"]


def test_assign_is_documented_and_has_help(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["assign", "--help"])
    help_text = capsys.readouterr().out
    assert caught.value.code == 0
    assert "--solutions-out" in help_text and "NotImplementedError" in help_text
    docs = (ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    for words in ("grader assign", "# BEGIN SOLUTION hint:", "# END SOLUTION", "`module`", "`parameters`"):
        assert words in docs


# --- Running the notebooks -----------------------------------------------------------------------

@pytest.mark.slow
def test_student_module_imports_and_every_function_is_not_implemented():
    import numpy as np

    spec = importlib.util.spec_from_file_location("student_digits", STUDENT_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    calls = {"reshape": (images,), "normalise": (images,), "build_model": (), "compile_model": (None,),
             "predict": (None, images)}
    for name, args in calls.items():
        with pytest.raises(NotImplementedError, match=r"\w+"):
            getattr(module, name)(*args)


@pytest.mark.slow
def test_solution_notebook_runs_end_to_end_and_checks_to_full_marks(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(SOURCE, as_version=4)  # not saved anywhere: the check cell grades the live kernel
    budget = next(i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", []))
    book.cells.insert(budget + 1, nbformat.v4.new_code_cell("EPOCHS = 1\nTRAIN_SAMPLES = 1000", id="small-budget"))
    NotebookClient(book, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    def printed(cell_id: str) -> str:
        cell = next(c for c in book.cells if c.get("id") == cell_id)
        return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")

    assert "32/32" in printed("fit")  # 1,000 images in batches of 32: the small budget took effect
    accuracy = float(re.search(r"Test accuracy: ([\d.]+)%", printed("evaluate")).group(1))
    assert accuracy > 50
    table = printed("read-one")
    assert "digit  probability" in table and len(re.findall(r"^\s+\d  +[01]\.\d{4}", table, flags=re.M)) == 10
    images = [c for c in book.cells if c.get("id") in ("show-digit", "read-one")
              for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2
    (shown,) = [o for o in next(c for c in book.cells if c.get("id") == "check").outputs
                if o.output_type == "display_data"]
    check, page = shown.data["text/plain"], shown.data["text/html"]
    assert "Visible checks: 10/10 points." in check and "Every visible check passed." in check
    assert "FAIL" not in check and "Visible checks: 10/10 points." in page and page.count(">PASS<") == 6
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_fashion_notebook_runs_end_to_end_and_checks_to_full_marks(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(ROOT / "solutions" / "fashion" / "fashion.ipynb", as_version=4)
    budget = next(i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", []))
    book.cells.insert(budget + 1, nbformat.v4.new_code_cell("EPOCHS = 1\nTRAIN_SAMPLES = 2000", id="small-budget"))
    NotebookClient(book, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    def printed(cell_id: str) -> str:
        cell = next(c for c in book.cells if c.get("id") == cell_id)
        return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")

    assert "63/63" in printed("fit")  # 2,000 images in batches of 32: the small budget took effect
    assert float(re.search(r"Test accuracy: ([\d.]+)%", printed("evaluate")).group(1)) > 60
    assert "Ankle boot" in printed("one-image") and "T-shirt/top" in printed("explore")
    (shown,) = [o for o in next(c for c in book.cells if c.get("id") == "check").outputs
                if o.output_type == "display_data"]
    assert "Visible checks: 11/11 points." in shown.data["text/plain"]
    assert list(tmp_path.iterdir()) == []

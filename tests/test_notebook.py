"""Tests for grader.submission.notebook and materialise: a notebook becomes a module of its definitions only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import grade_with
from grader.submission import notebook
from grader.submission.files import MalformedNotebook, SubmissionNotFound, materialise

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "solutions" / "digits" / "digits.py"
STUDENT_NOTEBOOK = ROOT / "assignments" / "digits" / "digits.ipynb"


# --- Helpers -------------------------------------------------------------------------------------

def make_notebook(*cells: str | tuple[str, str], nbformat: int = 4) -> dict:
    """A notebook dict; a plain string is a code cell, (kind, source) any other cell."""
    made = []
    for cell in cells:
        kind, source = ("code", cell) if isinstance(cell, str) else cell
        entry = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            entry.update(execution_count=None, outputs=[])
        made.append(entry)
    return {"nbformat": nbformat, "nbformat_minor": 5, "metadata": {}, "cells": made}


def module_of(*cells: str | tuple[str, str]) -> str:
    return notebook.to_module(notebook.parse(json.dumps(make_notebook(*cells)), "work.ipynb"), "work.ipynb")


def run_module(source: str) -> dict:
    """Execute generated module source (test-written cells only) and return its namespace."""
    namespace: dict = {"__name__": "generated"}
    exec(compile(source, "generated.py", "exec"), namespace)
    return namespace


def write_notebook(path: Path, *cells: str | tuple[str, str]) -> Path:
    path.write_text(json.dumps(make_notebook(*cells)), encoding="utf-8")
    return path


# --- What is kept and what is left out -----------------------------------------------------------

def test_keeps_imports_definitions_and_constants_in_order():
    source = module_of(
        "import math\nfrom os import path as p\nEPOCHS = 5\nSHAPE = (28, 28, EPOCHS)\nPI = math.pi\n",
        ("markdown", "# Some words\n\n    indented = 'not code'"),
        "def double(x):\n    return 2 * x\n\nclass Box:\n    size = EPOCHS\n",
    )
    names = run_module(source)
    assert names["EPOCHS"] == 5 and names["SHAPE"] == (28, 28, 5)
    assert names["double"](21) == 42 and names["Box"].size == 5
    assert names["p"].join("a", "b") == "a/b"
    assert "not code" not in source


def test_imports_of_the_grader_itself_are_left_out():
    source = module_of(
        "import numpy as np\nimport grader.assignment.data\nfrom grader.grading.selfcheck import check\nfrom graders_helper import x\n",
        "dataset = grader.assignment.data.load_dataset(None)\nSPEC = grader.assignment.spec\n",
        "def f():\n    return np.zeros(1)\n",
    )
    assert "import numpy as np" in source and "from graders_helper import x" in source
    assert "grader.assignment.data" not in source and "grader.grading.selfcheck" not in source and "SPEC" not in source


def test_leaves_out_top_level_work():
    source = module_of(
        "import time\nCOUNT = 3\n",
        "model = build()\nmodel.fit(x, epochs=5)\nprint('training')\nfor i in range(COUNT):\n    time.sleep(100)\n"
        "time.sleep(100)\nresult = COUNT + len([1])\nwith open('x') as f:\n    pass\nCOUNT\n",
        "def work():\n    return COUNT\n",
    )
    names = run_module(source)  # would sleep or fail on `build` if anything above had been kept
    assert names["work"]() == 3
    for dropped in ("build()", ".fit(", "print('training')", "sleep(100)", "result =", "open('x')"):
        assert dropped not in source


def test_constants_must_not_depend_on_left_out_names():
    source = module_of("data = load()\nx = data\nLIMIT = 10\nHALF = LIMIT // 2\nUNKNOWN = not_defined_anywhere\n")
    names = run_module(source)
    assert names["HALF"] == 5
    assert "x" not in names and "UNKNOWN" not in names


def test_try_and_if_blocks_of_definitions_are_kept_and_others_are_not():
    source = module_of(
        "try:\n    import google.colab\n    IN_COLAB = True\nexcept ImportError:\n    IN_COLAB = False\n",
        "if IN_COLAB:\n    SIZE = 1\nelse:\n    SIZE = 2\n",
        "if __name__ == '__main__':\n    raise SystemExit('ran')\n",
    )
    names = run_module(source)
    assert names["IN_COLAB"] is False and names["SIZE"] == 2


def test_the_last_of_duplicate_definitions_wins():
    names = run_module(module_of("def answer():\n    return 1\n", "ANSWER = 1\n",
                                 "def answer():\n    return 2\n", "ANSWER = 2\n"))
    assert names["answer"]() == 2 and names["ANSWER"] == 2


def test_statement_sharing_a_line_with_top_level_work_is_kept_alone():
    source = module_of("import math; print(math.pi); LIMIT = 3\n")
    assert run_module(source)["LIMIT"] == 3
    assert "print(math.pi)" not in source


def test_lines_keep_their_place_within_each_cell():
    source = module_of("import math\n", ("markdown", "text"), "x = compute()\n\n\ndef late():\n    return 1\n")
    lines = source.splitlines()
    header = lines.index("# cell 3")
    assert lines[header + 4] == "def late():"  # line 4 of cell 3
    assert lines[lines.index("# cell 1") + 1] == "import math"


# --- IPython syntax ------------------------------------------------------------------------------

def test_magics_shell_and_help_lines_are_left_out():
    source = module_of(
        "%matplotlib inline\n!pip install nothing-at-all\nfiles = !ls\nnp?\nimport math\n%time LIMIT = 4\n",
        "%%time\ndef timed():\n    !echo inside\n    return 'kept'\ntimed()\n",
        "%%bash\necho 'def shell(): pass'\n",
        "%%writefile helper.py\ndef written():\n    pass\n",
    )
    names = run_module(source)
    assert names["timed"]() == "kept"
    assert "shell" not in names and "written" not in names
    for line in ("%matplotlib", "!pip", "!ls", "np?", "!echo"):
        assert line not in source


def test_magic_like_lines_inside_strings_and_brackets_are_code():
    source = module_of('TEXT = """\n%not a magic\n!not a shell line\n"""\nVALUE = (7\n% 4)\n')
    names = run_module(source)
    assert names["TEXT"] == "\n%not a magic\n!not a shell line\n"
    assert names["VALUE"] == 3


def test_indented_cell_is_dedented_as_ipython_does():
    assert run_module(module_of("    LIMIT = 1\n    def f():\n        return LIMIT\n"))["f"]() == 1


# --- Syntax errors -------------------------------------------------------------------------------

def test_a_cell_with_a_syntax_error_becomes_a_module_that_names_it():
    source = module_of("def fine():\n    return 1\n", ("markdown", "words"), "x = 1\ndef broken(:\n    pass\n")
    with pytest.raises(SyntaxError) as caught:
        run_module(source)
    assert "cell 3 of work.ipynb" in caught.value.msg and "line 2 of that cell" in caught.value.msg
    assert caught.value.lineno == 2 and caught.value.text == "def broken(:"


# --- Malformed notebooks -------------------------------------------------------------------------

MALFORMED = {
    "invalid JSON": ('{"cells": [', ["not valid JSON", "line 1", "save or download it again"]),
    "nbformat 3": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}),
                   ["version 3 notebook", "nbformat 4", "jupyter nbconvert --to notebook --nbformat 4"]),
    "no nbformat": (json.dumps({"cells": []}), ["missing its 'nbformat' version"]),
    "a JSON list": ("[1, 2]", ["JSON list", "expected an object"]),
    "cells not a list": (json.dumps({"nbformat": 4, "cells": {"a": 1}}), ["no list of cells", "a dict"]),
    "source not text": (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "source": {"lines": 3}, "outputs": [], "execution_count": None}]}),
        ["cell 1", "a source that is a dict, not text", "a string or a list of strings"]),
    "source list of numbers": (json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": [1, 2]}]}),
                               ["a source that is a list, not text"]),
    "cell not an object": (json.dumps({"nbformat": 4, "cells": ["x = 1"]}), ["cell 1", "not a cell"]),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_notebooks_raise_a_clear_submission_error(case, tmp_path):
    text, words = MALFORMED[case]
    path = tmp_path / "work.ipynb"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SubmissionNotFound) as caught:
        materialise(path, tmp_path / "out")
    assert isinstance(caught.value, MalformedNotebook)
    message = str(caught.value)
    assert message.startswith("work.ipynb") or "of work.ipynb" in message
    for word in words:
        assert word in message


def test_a_notebook_that_is_not_utf8_is_reported(tmp_path):
    path = tmp_path / "work.ipynb"
    path.write_bytes(b'{"nbformat": 4, "cells": [], "x": "\xff\xfe"}')
    with pytest.raises(MalformedNotebook, match="not UTF-8 text"):
        materialise(path, tmp_path / "out")


# --- Bounds: what a hostile notebook cannot make the grader do -------------------------------------

def test_json_nested_deeper_than_any_notebook_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "work.ipynb"
    path.write_text("[" * 50_000 + "]" * 50_000)  # valid JSON that json.loads would overflow its recursion on
    with pytest.raises(MalformedNotebook, match="nested 50,000 levels deep, more than the 100 the grader reads.*Save or "
                                                "download it again"):
        materialise(path, tmp_path / "out")


def test_a_notebook_too_large_or_with_too_much_code_is_refused_with_what_to_do(tmp_path, monkeypatch):
    path = write_notebook(tmp_path / "work.ipynb", "X = 1\n" * 100)
    monkeypatch.setattr(notebook, "MAX_CODE", 500)
    with pytest.raises(MalformedNotebook, match="holds 600 characters of code, more than the 500 the grader reads.*"
                                                "Remove pasted data or generated code"):
        materialise(path, tmp_path / "out")
    monkeypatch.setattr(notebook, "MAX_BYTES", 100)
    with pytest.raises(MalformedNotebook, match="larger than 0 MB.*Clear its outputs"):
        materialise(path, tmp_path / "out")


@pytest.mark.timeout(20)  # a reader that blocked on the pipe would hang here for ever
def test_a_notebook_that_is_a_named_pipe_is_refused_without_blocking(tmp_path):
    import os

    os.mkfifo(tmp_path / "work.ipynb")
    with pytest.raises(notebook.NotebookError, match=r"named pipe \(FIFO\), not a regular file"):
        notebook.read(tmp_path / "work.ipynb")


def test_a_constant_of_1200_terms_is_kept_without_exhausting_the_recursion_limit():
    long_sum = "+".join(["1"] * 1200)
    names = run_module(module_of(f"X = {long_sum}\n", "def f():\n    return X\n", f"Y = {long_sum}; print(Y)\n"))
    assert names["X"] == 1200 and names["f"]() == 1200
    assert "Y" not in names  # sharing its line, it would be rewritten by ast.unparse, which recurses: left out


def test_code_nested_deeper_than_python_reads_becomes_a_module_that_says_what_to_do():
    source = module_of("def fine():\n    return 1\n", "X = " + "+".join(["1"] * 5000) + "\n")
    with pytest.raises(SyntaxError) as caught:
        run_module(source)
    assert "nested too deeply for Python to read (RecursionError" in caught.value.msg
    assert "several shorter statements" in caught.value.msg and "cell 2 of work.ipynb" in caught.value.msg


@pytest.mark.timeout(60)  # comparing every statement with every other took hours for a cell like this
def test_a_cell_of_many_statements_is_read_in_linear_time():
    source = module_of("x = 1\n" * 40_000)
    assert source.count("\nx = 1") == 40_000


# --- materialise ---------------------------------------------------------------------------------

def test_materialise_leaves_modules_alone_and_writes_notebooks_as_modules(tmp_path):
    module = tmp_path / "digits.py"
    module.write_text("X = 1\n")
    assert materialise(module, tmp_path / "out") == module
    (tmp_path / "helpers.py").write_text("def helper():\n    return 'helped'\n")
    marker = tmp_path / "ran.txt"
    book = write_notebook(tmp_path / "my work (1).ipynb", "from helpers import helper\n",
                          f"open({str(marker)!r}, 'w').write('ran')\n")
    made = materialise(book, tmp_path / "out")
    assert made == tmp_path / "out" / "my_work__1_.py" and made.is_file()
    assert not (tmp_path / "out" / "helpers.py").exists()  # what else the sandbox sees is sandbox_files' choice
    assert "from helpers import helper" in made.read_text()
    assert not marker.exists()  # reading a notebook never runs it


# --- End to end: graded in the sandbox -----------------------------------------------------------

@pytest.mark.slow
def test_notebook_with_magics_and_top_level_training_grades_like_the_module(tmp_path, fast_digits):

    marker = tmp_path / "top-level-code-ran.txt"
    book = write_notebook(
        tmp_path / "digits.ipynb",
        ("markdown", "# My digits"),
        "%matplotlib inline\n!pip install --quiet nothing-at-all\n%load_ext autoreload",
        REFERENCE.read_text(encoding="utf-8"),
        "%%time\nimport time\n"
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "time.sleep(300)\n",
        "import grader.assignment.data, grader.assignment.course\n"
        "dataset = grader.assignment.data.load_dataset(None, grader.assignment.course.load('digits').data)\n"
        "x = normalise(reshape(dataset.train_images))\n"
        "model = compile_model(build_model())\n"
        "history = model.fit(x, dataset.train_labels, epochs=5)\n"
        "print(predict(model, x[:1]))\n",
    )
    result = grade_with(book, fast_digits)
    assert not marker.exists(), "top-level code of the notebook ran during grading"
    failed = {t["name"]: t["output"] for t in result["tests"] if t["status"] != "passed"}
    assert failed == {}
    assert result["score"] == 10 and sum(t["max_score"] for t in result["tests"]) == 10
    assert result["extra_data"]["module"] == "digits.ipynb"
    assert result["execution_time"] < 200  # the top-level sleep alone would take 300 s


@pytest.mark.slow
def test_notebook_with_a_syntax_error_fails_every_check_naming_the_cell(tmp_path, fast_digits):

    book = write_notebook(tmp_path / "digits.ipynb", REFERENCE.read_text(encoding="utf-8"),
                          ("markdown", "## Plot"), "import matplotlib.pyplot as plt\nplt.plot([1, 2]\n")
    result = grade_with(book, fast_digits)
    assert result["score"] == 0
    for check in result["tests"]:
        assert check["extra_data"].get("fault") == "syntax" or check["name"] == "accuracy"
        assert "cell 3 of digits.ipynb" in check["extra_data"]["feedback"]


@pytest.mark.slow
def test_student_notebook_grades_to_zero_as_not_implemented(fast_digits):

    result = grade_with(STUDENT_NOTEBOOK, fast_digits)
    assert result["score"] == 0
    for check in result["tests"]:
        assert "not implemented yet" in check["extra_data"]["feedback"], check["name"]
    assert {c["extra_data"].get("fault") for c in result["tests"]} <= {"not_implemented", "blocked"}

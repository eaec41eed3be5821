"""Tests for grader.submission.top_level: a module's top-level work found without running it, within bounds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.submission import notebook, top_level

LONG_SUM = "+".join(["1"] * 1200)  # nests deeper than Python's recursion limit once parsed


def test_work_is_found_and_constants_imports_and_definitions_are_not() -> None:
    source = "import os\nSIZE = 28\n\ndef f():\n    return 1\n\nprint(SIZE)\n"
    assert [(s.line, s.code) for s in top_level.work(source)] == [(7, "print(SIZE)")]


def test_a_constant_of_1200_terms_is_a_constant_and_the_work_after_it_is_found() -> None:
    source = f"X = {LONG_SUM}\nraise RuntimeError('top-level work failed')\n"
    assert [(s.line, s.code) for s in top_level.work(source)] == [(2, "raise RuntimeError('top-level work failed')")]


def test_code_too_deep_to_parse_or_too_long_finds_nothing_rather_than_failing(monkeypatch) -> None:
    assert top_level.work("X = " + "+".join(["1"] * 5000) + "\nprint(X)\n") == []  # RecursionError in ast.parse
    assert top_level.work("X = " + "[" * 5000 + "]" * 5000 + "\n") == []  # too many nested brackets
    monkeypatch.setattr(notebook, "MAX_CODE", 10)
    assert top_level.work("print('work')\n") == []


@pytest.mark.timeout(20)  # a reader that blocked on the pipe would hang here for ever
def test_a_module_that_is_a_named_pipe_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "digits.py")
    assert top_level.read_code(tmp_path / "digits.py") is None
    assert top_level.work_in(tmp_path / "digits.py") == []
    (tmp_path / "work.py").write_text("print(1)\n")
    assert [s.line for s in top_level.work_in(tmp_path / "work.py")] == [1]


NOTEBOOK = """import numpy as np
from tensorflow import keras


def normalise(images):
    return images.astype("float32") / 255


(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
model = keras.Sequential()
model.fit(normalise(x_train), y_train, epochs=5)
"""


def test_explain_names_the_line_that_failed_says_why_and_moves_all_the_work_under_main() -> None:
    statements = top_level.work(NOTEBOOK)
    told = top_level.explain("digits.py", statements, failed=statements[0],
                             error="importing digits.py raised PermissionError: [Errno 13] Permission denied")
    assert told.feedback.startswith("Line 9 (`(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data…`) "
                                    "of digits.py is top-level code: it runs when the grader imports digits.py")
    for why in ("no network", "no writable home folder", "a time limit", "training a model",
                "Here, importing digits.py raised PermissionError", "Lines 10 and 11 of digits.py do work"):
        assert why in told.feedback, why
    assert 'under `if __name__ == "__main__":`' in told.hint
    assert told.fix == ('if __name__ == "__main__":\n'
                        "    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()\n"
                        "    model = keras.Sequential()\n"
                        "    model.fit(normalise(x_train), y_train, epochs=5)")


def test_explain_after_a_limit_names_the_work_and_nothing_without_work() -> None:
    statements = top_level.work(NOTEBOOK + "".join(f"print({i})\n" for i in range(10)))
    told = top_level.explain("digits.py", statements, error="importing digits.py did not finish within 5 seconds")
    assert told.feedback.startswith("Line 9 (`(x_train")
    assert "line 11 (`model.fit(normalise(x_train), y_train, epochs=5)`) and 10 more of digits.py are top-level " \
           "code: they run" in told.feedback
    assert told.feedback.count("Here, importing digits.py did not finish within 5 seconds.") == 1
    assert told.fix.splitlines()[-1] == "    ..." and len(told.fix.splitlines()) == 1 + top_level.MAX_STATEMENTS + 1
    assert top_level.explain("digits.py", []) is None

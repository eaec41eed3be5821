"""Tests for grader.sandbox.worker's description of an exception: the student's file and line, Python's own
suggestion, and never the sandbox's folders."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import worker

SOURCE = '''import numpy as np


def normalise(images):
    return imagse / 255


def divide(images):
    images /= 255
    return images


def shape(images):
    return images.shap


value = normalise(np.zeros(3))
'''


@pytest.fixture
def module(tmp_path: Path, monkeypatch):
    """digits.py in a folder named like the sandbox's, imported as the worker imports it: its top level raises."""
    folder = tmp_path / "grader-sandbox-x1y2" / "home" / "submission"
    folder.mkdir(parents=True)
    (folder / "digits.py").write_text(SOURCE)
    monkeypatch.setitem(worker._SUBMISSION, "dir", str(folder))
    spec = importlib.util.spec_from_file_location("digits_under_test", folder / "digits.py")
    loaded = importlib.util.module_from_spec(spec)
    with pytest.raises(NameError) as raised:
        spec.loader.exec_module(loaded)
    sys.modules.pop("digits_under_test", None)
    return loaded, raised.value


def _described(call) -> dict:
    try:
        call()
    except BaseException as exc:  # noqa: BLE001
        return worker.describe(exc)
    raise AssertionError("did not raise")


def test_a_name_error_keeps_pythons_did_you_mean_and_names_the_students_file(module) -> None:
    _, error = module
    info = worker.describe(error)
    assert info["message"] == "name 'imagse' is not defined. Did you mean: 'images'?"
    assert (info["line"], info["top_line"]) == (5, 17)
    assert 'File "digits.py", line 17, in <module>' in info["traceback"]
    assert 'File "digits.py", line 5, in normalise\n    return imagse / 255' in info["traceback"]
    assert "grader-sandbox" not in info["traceback"] and "/home/submission" not in info["traceback"]
    assert "<frozen" not in info["traceback"]


def test_numpy_errors_name_the_students_line_and_no_library_folder(module) -> None:
    loaded, _ = module
    info = _described(lambda: loaded.divide(np.zeros(3, dtype=np.uint8)))
    assert info["type"] == "UFuncTypeError" and "Cannot cast ufunc 'divide' output" in info["message"]
    assert info["line"] == 9 and 'File "digits.py", line 9, in divide\n    images /= 255' in info["traceback"]
    attribute = _described(lambda: loaded.shape(np.zeros(3)))
    assert attribute["message"].endswith("has no attribute 'shap'. Did you mean: 'shape'?")
    folder = worker._SUBMISSION["dir"]
    missing = _described(lambda: open(f"{folder}/data.csv"))
    assert "'data.csv'" in missing["message"] and folder not in missing["message"]
    assert worker._shown_path("/venv/lib/python3.11/site-packages/numpy/_core/fromnumeric.py") == \
        "numpy/_core/fromnumeric.py"

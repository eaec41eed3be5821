"""Shared fixtures: the digits assignment at a small training budget, and a cache of graded submissions."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from grader import spec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
SOLUTION = ROOT / "solutions" / "digits" / "digits.py"
TEMPLATE = ROOT / "assignments" / "digits" / "digits.py"


def fast(assignment: spec.Assignment) -> spec.Assignment:
    """The assignment with a small training budget and short time limits, for tests that do not measure accuracy."""
    training = dataclasses.replace(assignment.training, train_samples=1000, test_samples=500)
    limits = dataclasses.replace(assignment.limits, call_seconds=20, import_seconds=30, memory_mb=3072)
    checks = tuple(
        dataclasses.replace(c, params={**c.params, "min_accuracy": 0.5}) if c.kind == "training" else c
        for c in assignment.checks
    )
    return dataclasses.replace(assignment, training=training, limits=limits, checks=checks)


@pytest.fixture(scope="session")
def digits() -> spec.Assignment:
    """The bundled digits assignment, exactly as shipped."""
    return spec.load("digits")


@pytest.fixture(scope="session")
def fast_digits(digits: spec.Assignment) -> spec.Assignment:
    """The digits assignment at a small budget."""
    return fast(digits)


@pytest.fixture(scope="session")
def graded(fast_digits):
    """Grade a submission once per session (by path) at the small budget; returns its results dict."""
    from grader.grading import grade

    cache: dict[Path, dict] = {}

    def get(path: Path) -> dict:
        if path not in cache:
            cache[path] = grade(path, fast_digits).to_dict()
        return cache[path]

    return get


@pytest.fixture(scope="session")
def fast_course(tmp_path_factory) -> Path:
    """A copy of the digits assignment on disk at the small budget, for the command line (--assignment PATH)."""
    import re
    import shutil

    root = tmp_path_factory.mktemp("course")
    (root / "assignments" / "digits").mkdir(parents=True)
    (root / "solutions" / "digits").mkdir(parents=True)
    text = (ROOT / "assignments" / "digits" / "assignment.toml").read_text()
    text = re.sub(r"(?m)^train_samples = \d+", "train_samples = 1000", text)
    text = re.sub(r"(?m)^test_samples = \d+", "test_samples = 500", text)
    text = re.sub(r"(?m)^min_accuracy = [0-9.]+", "min_accuracy = 0.5", text)
    text = re.sub(r"(?m)^call_seconds = \d+", "call_seconds = 20", text)
    (root / "assignments" / "digits" / "assignment.toml").write_text(text)
    shutil.copy(SOLUTION, root / "solutions" / "digits" / "digits.py")
    return root / "assignments" / "digits" / "assignment.toml"

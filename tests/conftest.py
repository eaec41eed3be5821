"""Shared fixtures: the bundled assignments at a small training budget, and caches of graded submissions."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from grader.assignment import course, spec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
SOLUTION = ROOT / "solutions" / "digits" / "digits.py"
TEMPLATE = ROOT / "assignments" / "digits" / "digits.py"
# Where Debian's dataset-fashion-mnist package installs Fashion-MNIST; the fashion tests grade on it.
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def fast(assignment: spec.Assignment) -> spec.Assignment:
    """The assignment with a small training budget and short time limits, for tests that do not measure accuracy."""
    training = dataclasses.replace(assignment.training, train_samples=1000, test_samples=500)
    limits = dataclasses.replace(assignment.limits, call_seconds=20, import_seconds=30, memory_mb=3072)
    checks = tuple(
        dataclasses.replace(c, params={**c.params, "min_accuracy": 0.5}) if c.kind == "training" else c
        for c in assignment.checks
    )
    return dataclasses.replace(assignment, training=training, limits=limits, checks=checks)


def by_name(results: dict) -> dict[str, dict]:
    """A results dict's tests by check name, in order."""
    return {t["name"]: t for t in results["tests"]}


def assert_loses_exactly(results: dict, checks: tuple[str, ...], failing: dict[str, list[str]]) -> None:
    """Every check of `checks` ran; those in `failing` failed with none of their points and feedback holding each of
    their words; every other one passed with all its points; the score is the sum of the passed ones."""
    tests = by_name(results)
    assert tuple(tests) == checks
    for check, test in tests.items():
        if check in failing:
            assert test["status"] == "failed", (check, test["output"])
            assert test["score"] == 0
            for words in failing[check]:
                assert words in test["output"], (check, words, test["output"])
        else:
            assert test["status"] == "passed", (check, test["output"])
            assert test["score"] == test["max_score"] > 0
    assert results["score"] == sum(t["max_score"] for c, t in tests.items() if c not in failing)


@pytest.fixture(scope="session")
def digits() -> spec.Assignment:
    """The bundled digits assignment, exactly as shipped."""
    return course.load("digits")


@pytest.fixture(scope="session")
def fast_digits(digits: spec.Assignment) -> spec.Assignment:
    """The digits assignment at a small budget."""
    return fast(digits)


def grade_with(path: Path, task: spec.Assignment, out: Path | None = None, **options) -> dict:
    """Grade one submission in a session of its own (grader.grading.session; `options` as Session takes them);
    its results dict (written to `out` too, if given)."""
    from grader.grading.session import Session

    with Session(task, **options) as session:
        return session.grade(path, out=out)


@pytest.fixture(scope="session")
def digits_session(fast_digits):
    """One grading session for the digits assignment at the small budget, shared by the tests."""
    from grader.grading.session import Session

    with Session(fast_digits) as session:
        yield session


@pytest.fixture(scope="session")
def graded(digits_session):
    """Grade a submission once per session (by path) at the small budget; returns its results dict."""
    cache: dict[Path, dict] = {}

    def get(path: Path) -> dict:
        if path not in cache:
            cache[path] = digits_session.grade(path)
        return cache[path]

    return get


def small_course(folder: Path, name: str, *, hidden: tuple[str, ...] = ()) -> Path:
    """A copy of the example course's `name` in `folder` at a small budget and short limits (and with the checks
    `hidden` hidden), for the command line (--assignment PATH) and releases; returns its assignment.toml."""
    import re
    import shutil

    (folder / "assignments").mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "assignments" / name, folder / "assignments" / name)
    shutil.copytree(ROOT / "solutions" / name, folder / "solutions" / name)
    toml = folder / "assignments" / name / "assignment.toml"
    text = toml.read_text()
    for key, value in (("train_samples", 1000), ("test_samples", 500), ("quick_train_samples", 1000),
                       ("quick_epochs", 1), ("call_seconds", 20)):
        text = re.sub(rf"(?m)^{key} = \d+", f"{key} = {value}", text)
    text = re.sub(r"(?m)^min_accuracy = [0-9.]+", "min_accuracy = 0.5", text)
    for check in hidden:
        text = text.replace(f'name = "{check}"\n', f'name = "{check}"\nvisibility = "hidden"\n')
    toml.write_text(text)
    return toml


@pytest.fixture(scope="session")
def fast_course(tmp_path_factory) -> Path:
    """A copy of the digits assignment on disk at the small budget, for the command line (--assignment PATH)."""
    return small_course(tmp_path_factory.mktemp("course"), "digits")


@pytest.fixture(scope="session")
def fashion() -> spec.Assignment:
    """The bundled fashion assignment, exactly as shipped."""
    return course.load("fashion")


@pytest.fixture(scope="session")
def fashion_data(fashion: spec.Assignment):
    """Fashion-MNIST from Debian's folder, loaded once."""
    from grader.assignment.data import load_dataset

    if not FASHION_DIR.is_dir():
        pytest.fail(f"{FASHION_DIR} is missing; the fashion tests grade on it. Install it with: "
                    "apt-get install dataset-fashion-mnist")
    return load_dataset(FASHION_DIR, fashion.data)


@pytest.fixture(scope="session")
def graded_fashion(fashion, fashion_data):
    """Grade a fashion submission once per session (by path) at the small budget, on Debian's data, all in one
    session; returns its results dict."""
    from grader.grading.session import Session

    cache: dict[Path, dict] = {}
    with Session(fast(fashion), data=FASHION_DIR) as session:

        def get(path: Path) -> dict:
            if path not in cache:
                cache[path] = session.grade(path)
            return cache[path]

        yield get


TOP_LEVEL_FIX = ('if __name__ == "__main__":\n'
                 "    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()\n"
                 "    model.fit(normalise(reshape(x_train)), y_train, epochs=5)")


def top_level_results(line: int = 74) -> dict:
    """The results of a digits.py whose import failed at its top-level `load_data()` on `line`, in the shape grading
    gives them: every check the same failure, with the hint and fix of grader.submission.top_level."""
    from grader.submission import top_level
    from grader.results import CheckResult, SubmissionResult

    statements = [top_level.Statement(line, "(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()"),
                  top_level.Statement(line + 1, "model.fit(normalise(reshape(x_train)), y_train, epochs=5)")]
    told = top_level.explain("digits.py", statements, failed=statements[0],
                             error="importing digits.py raised PermissionError: [Errno 13] Permission denied: "
                                   f"'/tmp/.keras' (line {line} of digits.py)")
    trace = (f'  File "digits.py", line {line}, in <module>\n'
             "    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()\n"
             '  File "keras/src/datasets/mnist.py", line 60, in load_data\n    path = get_file(\n')
    checks = tuple(CheckResult.failed(c.name, c.points, told.feedback, hint=told.hint, fix=told.fix, fault="error",
                                      details=trace, extra={"line": line, "at_import": True})
                   for c in course.load("digits").checks)
    return SubmissionResult("digits", "digits", checks, 1.0, extra={"module": "digits.py", "accuracy": None}).to_dict()

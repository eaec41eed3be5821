"""Data from a submission is bounded: hostile configs cost the grader a refusal, never a crash or a hang."""

from __future__ import annotations

import dataclasses
import json
import math

import keras
import numpy as np
import pytest

from conftest import SUBMISSIONS
from grader.trusted import architecture, comparison, compilation, training
from grader.assignment.spec import Limits, Training

CHECKS = ("reshape", "normalise", "build_model", "compile_model", "accuracy", "predict")

# submission -> {failing check: words its feedback must contain}; every other check must pass.
CASES = {
    "exhaust_learning_rate": {"accuracy": ["Training diverged", "the loss became", "learning rate is far too large",
                                           "learning_rate=1e+30"]},
    "exhaust_pooling": {"build_model": ["will not train", "multiply-adds per image", "more than the 25,000,000"],
                        "accuracy": ["Could not train"]},
    "exhaust_separable": {"build_model": ["77,090,720 parameters", "3,000,000"], "accuracy": ["Could not train"]},
    "exhaust_constant": {"build_model": ["Constant holding an array of values"], "accuracy": ["Could not train"]},
    "exhaust_auc": {"compile_model": ["num_thresholds is 2000000", "from 2 to 1,000"]},
    "exhaust_names": {},
}


def _reference_layers() -> tuple[architecture.Layer, ...]:
    return comparison.expected_layers([
        {"class": "Conv2D", "filters": 8, "kernel_size": [3, 3]},
        {"class": "MaxPooling2D", "pool_size": [2, 2]},
        {"class": "Flatten"},
        {"class": "Dense", "units": 10, "activation": "softmax"},
    ])


def _images(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((count, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, count)


def test_a_diverging_loss_is_reported_not_raised() -> None:
    x_train, y_train = _images(256)
    x_test, y_test = _images(100, seed=1)
    settings = dataclasses.replace(compilation.reference("Adam", "sparse_categorical_crossentropy", ("accuracy",)),
                                   optimizer_config={"learning_rate": 1e30})
    budget = Training(epochs=2, batch_size=32, max_seconds=120)
    trained = training.train(_reference_layers(), settings, x_train, y_train, x_test, y_test, budget, Limits())
    assert trained.diverged.startswith("the loss became")
    assert "epoch 1" in trained.diverged  # stopped at once, not after every epoch
    assert np.isfinite(trained.probabilities).all()
    assert 0.0 <= trained.accuracy <= 1.0
    json.dumps(trained.history, allow_nan=False)  # results.json must stay valid JSON
    assert any(v is None for values in trained.history.values() for v in values)


def test_an_ordinary_run_does_not_count_as_diverged() -> None:
    x_train, y_train = _images(64)
    x_test, y_test = _images(20, seed=1)
    settings = compilation.reference("Adam", "sparse_categorical_crossentropy", ("accuracy",))
    trained = training.train(_reference_layers(), settings, x_train, y_train, x_test, y_test,
                             Training(epochs=1, batch_size=32, max_seconds=120), Limits())
    assert trained.diverged == ""
    assert all(math.isfinite(v) for values in trained.history.values() for v in values)


def test_prediction_past_its_budget_is_out_of_time_not_partial() -> None:
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    images, _ = _images(1200)
    assert training.predict(model, images, seconds=60).shape == (1200, 10)
    with pytest.raises(training.OutOfTime, match="1,200 test images took more than 0 s"):
        training.predict(model, images, seconds=0)


# -- end to end: hostile submissions graded in the sandbox ------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_submission_loses_points_with_a_reason_and_nothing_crashes(name: str, graded) -> None:
    results = graded(SUBMISSIONS / f"{name}.py")
    tests = {t["name"]: t for t in results["tests"]}
    assert tuple(tests) == CHECKS
    failing = CASES[name]
    for check, test in tests.items():
        assert test["extra_data"].get("fault") != "grader", (check, test["output"])
        if check in failing:
            assert test["status"] == "failed", (check, test["output"])
            for words in failing[check]:
                assert words in test["output"], (check, words, test["output"])
        else:
            assert test["status"] == "passed", (check, test["output"])
    assert results["extra_data"]["grader_faults"] == []


@pytest.mark.slow
def test_a_megabyte_layer_name_never_reaches_the_results(graded) -> None:
    results = graded(SUBMISSIONS / "exhaust_names.py")
    text = json.dumps(results)
    assert "n" * 100 not in text
    assert len(text) < 200_000

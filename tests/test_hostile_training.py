"""Attacks on the trusted training: a model that shares the reference's memo key without
training like it, frozen layers, a legal model too big to train, a compile function made worse on purpose. Each gets
the verdict a contained attack gets, and leaves every classmate's score as when graded alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SOLUTION, by_name, grade_with
from test_ahead import _grade

HIDDEN = "    model.add(keras.layers.Dense(128, activation=tf.nn.relu))\n"
DEAD_RELU = SOLUTION.read_text().replace(HIDDEN, "    model.add(keras.layers.Dense(128))\n"
                                                 "    model.add(keras.layers.ReLU(max_value=0))\n")
FROZEN = SOLUTION.read_text().replace("    return model\n\n\ndef compile_model", "    for layer in model.layers:\n"
                                      "        layer.trainable = False\n    return model\n\n\ndef compile_model", 1)
GELU_TOWER = SOLUTION.read_text().replace(
    "    model.add(keras.layers.Conv2D(28, kernel_size=(3, 3)))\n    model.add(keras.layers.MaxPooling2D(pool_size=(2, 2)))\n",
    "    model.add(keras.layers.Conv2D(255, 1))\n    for _ in range(97):\n"
    "        model.add(keras.layers.Activation('gelu'))\n").replace(HIDDEN, "").replace(
    "    model.add(keras.layers.Dropout(0.2))\n", "")
HUGE_RATE = "keras.optimizers.Adam(learning_rate=1e30)"


COMPILE = '    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])\n'


def _compile_with(text: str, metric: str) -> str:
    """`text` whose compile function sets Adam(learning_rate=1e30) and the metric `metric`."""
    assert COMPILE in text
    return text.replace(COMPILE, f"    model.compile(optimizer={HUGE_RATE}, loss='sparse_categorical_crossentropy', "
                                 f"metrics=[{metric!r}])\n")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name / "digits.py"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def _scores(results: dict) -> dict[str, float]:
    return {name: test["score"] for name, test in by_name(results).items()}


def test_the_dead_relu_model_graded_alone_trains_its_own_model(tmp_path: Path, fast_course: Path) -> None:
    """Not the reference's training started ahead: its own, which cannot learn."""
    graded = _grade(fast_course, _write(tmp_path, "mallory", DEAD_RELU), "ahead")["result"]
    accuracy = by_name(graded)["accuracy"]
    assert accuracy["score"] == 0 and accuracy["extra_data"]["accuracy"] < 0.2, accuracy["output"]
    assert graded["score"] <= 5


@pytest.mark.slow
def test_the_dead_relu_model_first_in_a_batch_leaves_every_classmate_their_own_score(tmp_path: Path,
                                                                                      fast_course: Path,
                                                                                      graded) -> None:
    alone = graded(SOLUTION)
    sources = {"aaa-mallory": DEAD_RELU, "bob": SOLUTION.read_text(), "cy": SOLUTION.read_text()}
    for name, text in sources.items():
        _write(tmp_path / "class", name, text)
    out, cache = tmp_path / "out", tmp_path / "cache"

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "grader", "run", *sorted(map(str, (tmp_path / "class").iterdir())),
                               "--assignment", str(fast_course), "--out", str(out), "--jobs", "1", "--cache",
                               str(cache)], capture_output=True, text=True, timeout=900,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})

    for again in (False, True):  # and in a later run sharing the cache
        if again:
            for name in sources:
                (out / name / "results.json").unlink()
        done = run()
        results = {name: json.loads((out / name / "results.json").read_text()) for name in sources}
        assert by_name(results["aaa-mallory"])["accuracy"]["score"] == 0, done.stderr[-3000:]
        for name in ("bob", "cy"):
            assert _scores(results[name]) == _scores(alone), (name, done.stderr[-3000:])
            assert by_name(results[name])["accuracy"]["extra_data"]["accuracy"] == pytest.approx(
                by_name(alone)["accuracy"]["extra_data"]["accuracy"], abs=1e-4)


def test_frozen_layers_are_trained_frozen(tmp_path: Path, fast_digits) -> None:

    results = grade_with(_write(tmp_path, "frozen", FROZEN), fast_digits)
    accuracy = by_name(results)["accuracy"]
    assert accuracy["score"] == 0 and accuracy["extra_data"]["accuracy"] < 0.2, accuracy["output"]


def test_the_gelu_tower_gets_a_verdict_before_any_weight_exists(tmp_path: Path, fast_digits) -> None:

    results = grade_with(_write(tmp_path, "tower", GELU_TOWER), fast_digits)
    tests = by_name(results)
    assert tests["build_model"]["score"] == 0
    assert "needs 9.7 GB of memory to train" in tests["build_model"]["output"]
    assert "the limit is 2.0 GB" in tests["build_model"]["output"]
    assert tests["accuracy"]["score"] == 0 and tests["accuracy"]["status"] == "failed"


def test_a_refused_compile_function_earns_no_more_than_an_honest_bad_one(tmp_path: Path, fast_digits) -> None:
    """Adam(learning_rate=1e30) diverges; adding an unknown metric name (so the settings are refused) must not get the
    model trained with the reference's settings instead."""

    honest = grade_with(_write(tmp_path, "honest", _compile_with(SOLUTION.read_text(), "accuracy")), fast_digits)
    sabotaged = grade_with(_write(tmp_path, "saboteur", _compile_with(SOLUTION.read_text(), "no_such_metric")),
                           fast_digits)
    assert "Training diverged" in by_name(honest)["accuracy"]["output"]
    assert by_name(sabotaged)["compile_model"]["score"] == 0
    assert "Training diverged" in by_name(sabotaged)["accuracy"]["output"]
    assert "compile_model()'s optimizer" in by_name(sabotaged)["accuracy"]["output"]
    assert sabotaged["score"] <= honest["score"]

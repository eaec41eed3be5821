"""The layer diff: every argument that changes what a layer computes is compared with the expected layer, Keras'
defaults standing in for those the spec leaves out, except the arguments the spec declares free."""

from __future__ import annotations

import json

import keras
import pytest

from grader.assignment.spec import Limits
from grader.checks import model as model_check
from grader.trusted import architecture as arch
from grader.trusted import comparison

SPEC = [
    {"class": "Conv2D", "filters": 28, "kernel_size": [3, 3]},
    {"class": "MaxPooling2D", "pool_size": [2, 2]},
    {"class": "Flatten"},
    {"class": "Dense", "units": 128, "activation": "relu"},
    {"class": "Dropout", "rate": 0.2},
    {"class": "Dense", "units": 10, "activation": "softmax"},
]
SHAPE = (28, 28, 1)
PARAMS = {"input_shape": list(SHAPE), "output_shape": [10]}


def _layers(**changes: dict) -> list[keras.layers.Layer]:
    """The expected model's layers, with `changes` (layer class -> extra arguments) applied to the first of a class."""
    args = {"Conv2D": {"filters": 28, "kernel_size": (3, 3)}, "MaxPooling2D": {"pool_size": (2, 2)}, "Flatten": {},
            "Dense": {"units": 128, "activation": "relu"}, "Dropout": {"rate": 0.2}}
    made, seen = [], set()
    for kind in ("Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout"):
        extra = changes.get(kind, {}) if kind not in seen else {}
        seen.add(kind)
        made.append(getattr(keras.layers, kind)(**{**args[kind], **extra}))
    return made + [keras.layers.Dense(10, activation="softmax")]


def _check(layers: list[keras.layers.Layer], spec: list[dict] = SPEC) -> tuple[list[comparison.DiffRow], list[str]]:
    """The rows of the diff and what the model check tells the student about a model of `layers`."""
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(keras.Sequential([keras.Input(SHAPE), *layers]))))
    parsed = arch.parse(config)
    expected = comparison.expected_layers(spec)
    rows = comparison.compare(expected, arch.fold_activations(parsed.layers), SHAPE)
    built = arch.build(parsed.layers, SHAPE, Limits())
    params = [arch.cost(layers, SHAPE).params for layers in (parsed.layers, expected)]
    problems, _ = model_check.differences(rows, PARAMS, parsed, tuple(built.output_shape), *params)
    return rows, problems


def test_the_reference_model_is_the_same_in_every_row_shape_and_count() -> None:
    rows, problems = _check(_layers())
    assert [r.status for r in rows] == ["same"] * 6 and problems == []
    assert rows[0].expected_shape == rows[0].got_shape == "(None, 26, 26, 28)"


@pytest.mark.parametrize("kind, args, words", [
    ("Conv2D", {"padding": "same"}, "layer 1: Conv2D padding is 'same', expected 'valid' (Keras' default)."),
    ("Conv2D", {"strides": 2}, "layer 1: Conv2D strides is (2, 2), expected (1, 1) (Keras' default)."),
    ("Conv2D", {"dilation_rate": 2}, "layer 1: Conv2D dilation_rate is (2, 2), expected (1, 1) (Keras' default)."),
    ("Conv2D", {"use_bias": False}, "layer 1: Conv2D use_bias is False, expected True (Keras' default)."),
    ("Conv2D", {"activation": "relu"}, "layer 1: Conv2D activation is 'relu', expected 'linear' (Keras' default)."),
    ("Conv2D", {"kernel_initializer": "he_normal"},
     "layer 1: Conv2D kernel_initializer is HeNormal(), expected GlorotUniform() (Keras' default)."),
    ("Dense", {"kernel_regularizer": keras.regularizers.L2(0.01)},
     "layer 4: Dense kernel_regularizer is L2(l2=0.01), expected None (Keras' default)."),
    ("Dense", {"activation": "tanh"}, "layer 4: Dense activation is 'tanh', expected 'relu'."),
    ("Dropout", {"rate": 0.5}, "layer 5: Dropout rate is 0.5, expected 0.2."),
    ("MaxPooling2D", {"pool_size": (3, 3)}, "layer 2: MaxPooling2D pool_size is (3, 3), expected (2, 2); "
                                            "strides is (3, 3), expected (2, 2) (Keras' default)."),
    ("MaxPooling2D", {"strides": 1}, "layer 2: MaxPooling2D strides is (1, 1), expected (2, 2) (Keras' default)."),
    ("MaxPooling2D", {"padding": "same"}, "layer 2: MaxPooling2D padding is 'same', expected 'valid' (Keras' default)."),
])
def test_an_argument_that_changes_what_a_layer_computes_is_named(kind: str, args: dict, words: str) -> None:
    rows, problems = _check(_layers(**{kind: args}))
    changed = [r for r in rows if r.status == "changed"]
    assert len(changed) == 1 and set(args) <= set(changed[0].args)  # a pool_size also moves the strides it defaults to
    assert words in problems
    key = next(iter(args))
    assert f"{key}=" in changed[0].expected and f"{key}=" in changed[0].got  # the table shows the argument


def test_a_changed_size_is_named_by_layer_output_and_parameter_count() -> None:
    _, problems = _check(_layers(Conv2D={"padding": "same"}))
    assert problems == ["layer 1: Conv2D padding is 'same', expected 'valid' (Keras' default).",
                        "layer 1 (Conv2D) outputs (None, 28, 28, 28); expected (None, 26, 26, 28).",
                        "the model has 704,162 parameters; expected 607,394."]


def test_spellings_of_the_same_layer_are_the_same() -> None:
    same = [keras.layers.Conv2D(28, 3, strides=1, padding="valid", kernel_initializer="glorot_uniform"),
            keras.layers.MaxPooling2D(2, strides=2), keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu", use_bias=True, name="hidden"),
            keras.layers.Dropout(0.2, seed=7), keras.layers.Dense(10), keras.layers.Softmax()]
    rows, problems = _check(same)
    assert [r.status for r in rows] == ["same"] * 6 and problems == []


def test_an_initializer_seed_is_not_compared_but_its_distribution_is() -> None:
    seeded = keras.initializers.GlorotUniform(seed=3)
    rows, _ = _check(_layers(Conv2D={"kernel_initializer": seeded}))
    assert all(r.status == "same" for r in rows)
    rows, _ = _check(_layers(Conv2D={"kernel_initializer": keras.initializers.RandomNormal(stddev=0.05, seed=3)}))
    assert rows[0].args == ("kernel_initializer",) and "RandomNormal(mean=0.0, stddev=0.05)" in rows[0].note


def test_a_frozen_layer_differs_since_the_grader_trains_the_model() -> None:
    frozen = _layers()
    frozen[3].trainable = False
    rows, problems = _check(frozen)
    assert "layer 4: Dense trainable is False, expected True (Keras' default)." in problems


def test_an_argument_the_spec_declares_free_may_differ() -> None:
    spec = [dict(layer) for layer in SPEC]
    spec[0]["free"] = ["kernel_initializer", "activation"]
    rows, problems = _check(_layers(Conv2D={"kernel_initializer": "he_normal", "activation": "relu"}), spec)
    assert problems == [] and rows[0].status == "same"
    _, problems = _check(_layers(Conv2D={"kernel_initializer": "he_normal", "padding": "same"}), spec)
    assert problems[0] == "layer 1: Conv2D padding is 'same', expected 'valid' (Keras' default)."  # only those named


def test_a_free_argument_that_changes_the_model_size_is_still_caught_by_the_count() -> None:
    spec = [dict(layer) for layer in SPEC]
    spec[0]["free"] = ["padding"]
    rows, problems = _check(_layers(Conv2D={"padding": "same"}), spec)
    assert rows[0].status == "same"
    assert problems == ["layer 1 (Conv2D) outputs (None, 28, 28, 28); expected (None, 26, 26, 28).",
                        "the model has 704,162 parameters; expected 607,394."]


def test_the_last_layers_activation_keeps_its_own_hint_code() -> None:
    rows, _ = _check(_layers()[:-1] + [keras.layers.Dense(10, activation="sigmoid")])
    assert model_check.problem_codes(rows) == ["output_activation"]
    rows, _ = _check(_layers(Conv2D={"padding": "same"}))
    assert model_check.problem_codes(rows) == ["changed_Conv2D"]

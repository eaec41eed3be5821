"""Validating, rebuilding and comparing submitted model configs on the trusted side."""

from __future__ import annotations

import json

import keras
import pytest
import tensorflow as tf

from grader import architecture as arch

EXPECTED = arch.expected_layers([
    {"class": "Conv2D", "filters": 28, "kernel_size": [3, 3]},
    {"class": "MaxPooling2D", "pool_size": [2, 2]},
    {"class": "Flatten"},
    {"class": "Dense", "units": 128, "activation": "relu"},
    {"class": "Dropout", "rate": 0.2},
    {"class": "Dense", "units": 10, "activation": "softmax"},
])
LIMITS = {"max_params": 3_000_000, "max_activations": 200_000}


def _config(model: keras.Model) -> dict:
    return json.loads(json.dumps(keras.saving.serialize_keras_object(model)))


def _seed_model() -> keras.Model:
    return keras.Sequential([
        keras.layers.Conv2D(28, kernel_size=(3, 3), input_shape=(28, 28, 1)),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation=tf.nn.relu),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation=tf.nn.softmax),
    ])


def test_the_seed_model_with_tf_nn_activations_matches_and_rebuilds() -> None:
    parsed = arch.parse(_config(_seed_model()))
    assert parsed.input_shape == (28, 28, 1)
    assert parsed.layers[-1].args["activation"] == "softmax"  # serialised as the function softmax_v2
    rows = arch.compare(EXPECTED, arch.fold_activations(parsed.layers))
    assert [r.status for r in rows] == ["same"] * 6
    model = arch.build(parsed.layers, (28, 28, 1), **LIMITS)
    assert model.output_shape == (None, 10)
    assert model.count_params() == 607_394


def test_separate_activation_layers_fold_into_the_layer_before() -> None:
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(28, 3)(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128)(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.Dense(10)(x)
    outputs = keras.layers.Softmax()(x)
    parsed = arch.parse(_config(keras.Model(inputs, outputs)))
    assert len(parsed.layers) == 8
    rows = arch.compare(EXPECTED, arch.fold_activations(parsed.layers))
    assert [r.status for r in rows] == ["same"] * 6


def test_differences_are_named_layer_by_layer() -> None:
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3), keras.layers.Flatten(),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    rows = arch.compare(EXPECTED, arch.fold_activations(arch.parse(_config(model)).layers))
    notes = " | ".join(r.note for r in rows)
    assert "filters should be 28, got 32" in notes
    assert "MaxPooling2D layer is missing" in notes
    assert "Dropout layer is missing" in notes
    assert {r.status for r in rows} == {"same", "changed", "missing"}


def test_activations_are_compared_by_what_they_compute() -> None:
    assert arch.same_activation("relu", "relu")
    assert arch.same_activation("silu", "swish" if "swish" in dir(keras.activations) else "silu")
    assert not arch.same_activation("relu", "linear")
    assert not arch.same_activation("softmax", "sigmoid")


def test_lambda_layers_are_refused_with_the_reason() -> None:
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda t: t * 2), keras.layers.Flatten()])
    with pytest.raises(arch.ModelError, match="Lambda layer runs arbitrary code"):
        arch.parse(_config(model))


def test_custom_classes_and_unknown_modules_are_refused() -> None:
    config = _config(_seed_model())
    config["config"]["layers"][1]["class_name"] = "EvilDense"
    with pytest.raises(arch.ModelError, match="EvilDense"):
        arch.parse(config)
    config = _config(_seed_model())
    config["config"]["layers"][1]["module"] = "evil.layers"
    with pytest.raises(arch.ModelError, match="evil.layers"):
        arch.parse(config)


def test_nested_objects_outside_the_whitelist_are_refused() -> None:
    config = _config(_seed_model())
    dense = next(l for l in config["config"]["layers"] if l["class_name"] == "Dense")
    dense["config"]["kernel_initializer"] = {"module": "os", "class_name": "system", "config": {"command": "id"}}
    with pytest.raises(arch.ModelError, match="system"):
        arch.parse(config)


def test_unknown_activation_names_are_refused() -> None:
    config = _config(_seed_model())
    dense = next(l for l in config["config"]["layers"] if l["class_name"] == "Dense")
    dense["config"]["activation"] = {"module": "builtins", "class_name": "function", "config": "eval"}
    with pytest.raises(arch.ModelError, match="not one of Keras' activations"):
        arch.parse(config)


def test_models_over_the_size_limits_are_refused_before_allocation() -> None:
    config = _config(keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]))
    config["config"]["layers"][-1]["config"]["units"] = 10**7  # 31 GB of weights if it were ever built
    big = arch.parse(config)
    with pytest.raises(arch.ModelError, match="parameters"):
        arch.build(big.layers, (28, 28, 1), **LIMITS)
    config = _config(keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(5, 1)]))
    config["config"]["layers"][-1]["config"]["filters"] = 5000
    wide = arch.parse(config)
    with pytest.raises(arch.ModelError, match="values per image"):
        arch.build(wide.layers, (28, 28, 1), **LIMITS)


def test_branching_functional_models_are_refused() -> None:
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    a = keras.layers.Dense(10)(x)
    b = keras.layers.Dense(10)(x)
    outputs = keras.layers.Add()([a, b])
    with pytest.raises(arch.ModelError):
        arch.parse(_config(keras.Model(inputs, outputs)))


def test_a_subclassed_model_is_refused() -> None:
    class Mine(keras.Model):
        def call(self, x):
            return x

    config = {"module": "__main__", "class_name": "Mine", "config": {}}
    with pytest.raises(arch.ModelError, match="class of its own"):
        arch.parse(config)

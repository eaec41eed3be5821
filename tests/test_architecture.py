"""Validating, rebuilding and comparing submitted model configs on the trusted side."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from grader.trusted import architecture as arch
from grader.trusted import comparison
from grader.assignment.spec import Limits

EXPECTED = comparison.expected_layers([
    {"class": "Conv2D", "filters": 28, "kernel_size": [3, 3]},
    {"class": "MaxPooling2D", "pool_size": [2, 2]},
    {"class": "Flatten"},
    {"class": "Dense", "units": 128, "activation": "relu"},
    {"class": "Dropout", "rate": 0.2},
    {"class": "Dense", "units": 10, "activation": "softmax"},
])
LIMITS = Limits()


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
    rows = comparison.compare(EXPECTED, arch.fold_activations(parsed.layers))
    assert [r.status for r in rows] == ["same"] * 6
    model = arch.build(parsed.layers, (28, 28, 1), LIMITS)
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
    rows = comparison.compare(EXPECTED, arch.fold_activations(parsed.layers))
    assert [r.status for r in rows] == ["same"] * 6


def test_differences_are_named_layer_by_layer() -> None:
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3), keras.layers.Flatten(),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    rows = comparison.compare(EXPECTED, arch.fold_activations(arch.parse(_config(model)).layers))
    notes = " | ".join(r.note for r in rows)
    assert "Conv2D filters is 32, expected 28" in notes
    assert "MaxPooling2D layer is missing" in notes
    assert "Dropout layer is missing" in notes
    assert {r.status for r in rows} == {"same", "changed", "missing"}


def test_activations_are_compared_by_what_they_compute() -> None:
    assert comparison.same_activation("relu", "relu")
    assert comparison.same_activation("silu", "swish" if "swish" in dir(keras.activations) else "silu")
    assert not comparison.same_activation("relu", "linear")
    assert not comparison.same_activation("softmax", "sigmoid")


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
        arch.build(big.layers, (28, 28, 1), LIMITS)
    config = _config(keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(5, 1)]))
    config["config"]["layers"][-1]["config"]["filters"] = 5000
    wide = arch.parse(config)
    with pytest.raises(arch.ModelError, match="values per image"):
        arch.build(wide.layers, (28, 28, 1), LIMITS)


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


# -- bounds: every argument checked, sizes and compute counted before anything is allocated ----------

def _sequential(*layers: keras.layers.Layer, shape: tuple = (28, 28, 1)) -> dict:
    return _config(keras.Sequential([keras.Input(shape), *layers]))


def _layer_config(config: dict, index: int) -> dict:
    """The config of the model's `index`-th layer, counting from 0 after its InputLayer."""
    return config["config"]["layers"][index + 1]["config"]


def test_the_reference_model_costs_a_small_fraction_of_the_compute_limit() -> None:
    cost = arch.cost(EXPECTED, (28, 28, 1))
    assert cost.params == 607_394
    assert 500_000 < cost.macs < LIMITS.max_macs / 20


def test_a_separable_convolution_counts_its_depth_multiplier() -> None:
    # 9*32*1000 + 32,000*2,400 = 77 million weights, behind an output small enough to pass the activation bound
    config = _sequential(keras.layers.Conv2D(32, 3), keras.layers.SeparableConv2D(24, 3, strides=8))
    _layer_config(config, 1).update(filters=2400, depth_multiplier=1000)
    parsed = arch.parse(config)
    assert arch.cost(parsed.layers, (28, 28, 1)).params == 9 * 32 * 1000 + 32_000 * 2400 + 2400 + 320
    with pytest.raises(arch.ModelError, match="77,090,720 parameters"):
        arch.build(parsed.layers, (28, 28, 1), LIMITS)


def test_stacked_stride_one_poolings_are_refused_for_their_compute() -> None:
    pools = [keras.layers.MaxPooling2D(pool_size=(28, 28), strides=1, padding="same") for _ in range(40)]
    parsed = arch.parse(_sequential(keras.layers.Conv2D(28, 3), *pools, keras.layers.Flatten(), keras.layers.Dense(10)))
    assert arch.cost(parsed.layers, (28, 28, 1)).params < 200_000  # cheap in weights...
    with pytest.raises(arch.ModelError) as caught:  # ...enormous in work
        arch.build(parsed.layers, (28, 28, 1), LIMITS)
    message = str(caught.value)
    assert "multiply-adds per image" in message and "more than the 25,000,000" in message
    assert "MaxPooling2D(pool_size=(28, 28))" in message and "Use fewer or smaller layers" in message


def test_too_many_layers_are_refused_before_any_is_built() -> None:
    parsed = arch.parse(_sequential(*[keras.layers.Dropout(0.1) for _ in range(101)]))
    with pytest.raises(arch.ModelError, match="101 layers, more than the 100"):
        arch.build(parsed.layers, (28, 28, 1), LIMITS)


def test_a_constant_initializer_may_hold_a_number_but_not_weights() -> None:
    config = _sequential(keras.layers.Flatten(), keras.layers.Dense(10, kernel_initializer=keras.initializers.Constant(0.5)))
    model = arch.build(arch.parse(config).layers, (28, 28, 1), LIMITS)
    assert float(model.layers[-1].kernel.numpy()[0, 0]) == 0.5
    _layer_config(config, 1)["kernel_initializer"]["config"]["value"] = [[0.1] * 10] * 784  # smuggled weights
    with pytest.raises(arch.ModelError, match="Constant holding an array of values"):
        arch.parse(config)
    smuggled = keras.initializers.Constant(np.full((784, 10), 0.1, dtype="float32"))  # serialised as __numpy__
    config = _sequential(keras.layers.Flatten(), keras.layers.Dense(10, kernel_initializer=smuggled))
    with pytest.raises(arch.ModelError, match="Constant holding an array of values"):
        arch.parse(config)


@pytest.mark.parametrize("key, value, words", [
    ("lora_rank", 8, "argument 'lora_rank' the grader does not rebuild"),
    ("units", 2.5, "expected a whole number"),
    ("units", True, "expected a whole number"),
    ("use_bias", "yes", "expected True or False"),
    ("kernel_initializer", {"module": "keras.initializers", "class_name": "RandomNormal",
                            "config": {"stddev": "0.1"}}, "stddev is '0.1'; expected a single number"),
    ("kernel_initializer", {"module": "keras.initializers", "class_name": "RandomNormal",
                            "config": {"seed": 10**30}}, "seed is 1000000000000000000000000000000"),
    ("kernel_initializer", {"module": "keras.initializers", "class_name": "GlorotUniform",
                            "config": {"payload": [1, 2, 3]}}, "argument 'payload'"),
    ("kernel_regularizer", {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": float("nan")}},
     "expected a single number"),
    ("kernel_constraint", {"module": "keras.constraints", "class_name": "MaxNorm", "config": {"axis": list(range(9))}},
     "9 entries"),
    ("bias_initializer", "made_up_initializer", "built-in initializers"),
    ("bias_initializer", {"module": "keras.initializers", "class_name": ["Zeros"], "config": {}}, "does not rebuild"),
])
def test_every_argument_is_checked_for_its_type_and_range(key, value, words) -> None:
    config = _sequential(keras.layers.Flatten(), keras.layers.Dense(10))
    _layer_config(config, 1)[key] = value
    with pytest.raises(arch.ModelError) as caught:
        arch.parse(config)
    assert words in str(caught.value)
    assert len(str(caught.value)) < 600


def test_initializers_named_by_string_are_read_as_keras_classes() -> None:
    config = _sequential(keras.layers.Flatten(), keras.layers.Dense(10))
    _layer_config(config, 1).update(kernel_initializer="he_normal", kernel_regularizer="l1l2")
    dense = arch.parse(config).layers[-1]
    assert dense.args["kernel_initializer"]["class_name"] == "HeNormal"
    assert dense.args["kernel_regularizer"]["class_name"] == "L1L2"


def test_huge_names_never_reach_a_message_or_the_parsed_model() -> None:
    config = _config(_seed_model())
    _layer_config(config, 0)["name"] = "n" * 30_000_000
    assert max(len(layer.name) for layer in arch.parse(config).layers) <= 80
    config["config"]["layers"][1]["class_name"] = "Lambda" + "x" * 1_000_000
    with pytest.raises(arch.ModelError) as caught:
        arch.parse(config)
    assert len(str(caught.value)) < 500 and "…" in str(caught.value)


def test_an_absurd_input_shape_is_refused_with_a_short_message() -> None:
    config = _config(_seed_model())
    config["config"]["layers"][0]["config"]["batch_shape"] = [None] + [2] * 1_000_000
    with pytest.raises(arch.ModelError) as caught:
        arch.parse(config)
    assert "input shape" in str(caught.value) and len(str(caught.value)) < 300


@pytest.mark.parametrize("mangle", [
    lambda c: c.update(config=[1, 2]),
    lambda c: c["config"].update(layers={"not": "a list"}),
    lambda c: c["config"]["layers"][1].update(config="text"),
    lambda c: c.update(class_name="Functional") or c["config"]["layers"][1].update(inbound_nodes=[{"args": [{"config": 7}]}]),
    lambda c: c.update(class_name="Functional") or c["config"]["layers"][1].update(inbound_nodes="x"),
])
def test_malformed_configs_are_model_errors_not_crashes(mangle) -> None:
    config = _config(_seed_model())
    mangle(config)
    with pytest.raises(arch.ModelError):
        arch.parse(config)


def test_an_activation_on_a_layer_that_has_none_is_refused() -> None:
    config = _sequential(keras.layers.Flatten(), keras.layers.Dropout(0.2))
    _layer_config(config, 1)["activation"] = "relu"
    with pytest.raises(arch.ModelError, match="argument 'activation' the grader does not rebuild"):
        arch.parse(config)

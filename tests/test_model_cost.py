"""Parameter and multiply-add counts computed before a model exists, checked against Keras' own counts."""

from __future__ import annotations

import json
import math

import keras
import pytest

from grader.trusted import architecture as arch
from grader.trusted import comparison, model_cost

# (layer, input shape of one image): every whitelisted layer kind, with the arguments that change its size.
CASES = [
    (lambda: keras.layers.Dense(7), (5,)),
    (lambda: keras.layers.Dense(7, use_bias=False), (4, 6)),
    (lambda: keras.layers.Conv1D(4, 3, padding="causal"), (10, 3)),
    (lambda: keras.layers.Conv1D(6, 3, groups=3), (10, 3)),
    (lambda: keras.layers.Conv2D(5, (3, 2), strides=2), (9, 9, 3)),
    (lambda: keras.layers.Conv2D(8, 3, groups=4, use_bias=False), (9, 9, 4)),
    (lambda: keras.layers.Conv2D(4, 3, dilation_rate=2, padding="same"), (9, 9, 2)),
    (lambda: keras.layers.Conv3D(3, 2), (4, 5, 6, 2)),
    (lambda: keras.layers.Conv2DTranspose(4, 3, strides=2), (6, 6, 3)),
    (lambda: keras.layers.Conv2DTranspose(4, (2, 3), use_bias=False), (6, 6, 3)),
    (lambda: keras.layers.DepthwiseConv2D(3), (9, 9, 3)),
    (lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=5, use_bias=False), (9, 9, 3)),
    (lambda: keras.layers.SeparableConv2D(4, 3), (9, 9, 3)),
    (lambda: keras.layers.SeparableConv2D(4, (3, 2), depth_multiplier=7), (9, 9, 3)),
    (lambda: keras.layers.BatchNormalization(), (5, 5, 3)),
    (lambda: keras.layers.BatchNormalization(axis=1, center=False), (5, 6, 3)),
    (lambda: keras.layers.BatchNormalization(renorm=True, scale=False), (7,)),
    (lambda: keras.layers.LayerNormalization(), (5, 5, 3)),
    (lambda: keras.layers.LayerNormalization(axis=[1, 3], center=False), (5, 6, 3)),
    (lambda: keras.layers.MaxPooling1D(3), (10, 2)),
    (lambda: keras.layers.MaxPooling2D(), (8, 8, 2)),
    (lambda: keras.layers.AveragePooling1D(2), (10, 2)),
    (lambda: keras.layers.AveragePooling2D(3, strides=1, padding="same"), (8, 8, 2)),
    (lambda: keras.layers.GlobalMaxPooling2D(), (8, 8, 2)),
    (lambda: keras.layers.GlobalAveragePooling2D(keepdims=True), (8, 8, 2)),
    (lambda: keras.layers.Flatten(), (4, 4, 2)),
    (lambda: keras.layers.Reshape((-1, 4)), (4, 4, 2)),
    (lambda: keras.layers.Dropout(0.3), (6,)),
    (lambda: keras.layers.SpatialDropout2D(0.3), (4, 4, 2)),
    (lambda: keras.layers.GaussianNoise(0.1), (6,)),
    (lambda: keras.layers.Activation("relu"), (6,)),
    (lambda: keras.layers.ReLU(max_value=6.0), (6,)),
    (lambda: keras.layers.LeakyReLU(0.2), (6,)),
    (lambda: keras.layers.ELU(), (6,)),
    (lambda: keras.layers.Softmax(), (6,)),
    (lambda: keras.layers.Rescaling(1 / 255), (4, 4, 1)),
    (lambda: keras.layers.ZeroPadding2D(((1, 2), (0, 3))), (4, 4, 1)),
    (lambda: keras.layers.Cropping2D(1), (4, 4, 1)),
]


def _parsed(layer: keras.layers.Layer, shape: tuple) -> tuple[keras.Model, arch.ParsedModel]:
    model = keras.Sequential([keras.Input(shape), layer])
    return model, arch.parse(json.loads(json.dumps(keras.saving.serialize_keras_object(model))))


@pytest.mark.parametrize("make, shape", CASES, ids=lambda v: "" if isinstance(v, tuple) else None)
def test_parameter_counts_equal_keras_own(make, shape) -> None:
    model, parsed = _parsed(make(), shape)
    assert arch.cost(parsed.layers, shape).params == model.count_params()


def test_every_whitelisted_layer_has_a_cost_rule_and_a_case() -> None:
    kinds = set(arch.SAFE_LAYERS) - {"InputLayer"}
    assert kinds <= set(model_cost.RULES)
    assert kinds <= {type(make()).__name__ for make, _ in CASES}


def test_multiply_adds_count_kernels_at_every_output_position() -> None:
    _, conv = _parsed(keras.layers.Conv2D(28, 3), (28, 28, 1))
    assert arch.cost(conv.layers, (28, 28, 1)).macs == 26 * 26 * 28 * 9
    _, dense = _parsed(keras.layers.Dense(10, activation="relu"), (128,))
    assert arch.cost(dense.layers, (128,)).macs == 128 * 10 + 10  # and the activation on each output
    _, pool = _parsed(keras.layers.MaxPooling2D(28, strides=1, padding="same"), (28, 28, 2))
    assert arch.cost(pool.layers, (28, 28, 2)).macs == 28 * 28 * 2 * 28 * 28


def test_grouped_convolutions_whose_channels_do_not_divide_are_refused() -> None:
    layer = arch.Layer("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2}, "conv")
    with pytest.raises(arch.ModelError, match="groups=2"):
        arch.cost((layer,), (9, 9, 3))


def _gelu_tower(depth: int) -> tuple:
    """Conv2D(255, 1) + `depth` gelu activations + Flatten + Dense(10): within every other limit of the spec."""
    L = arch.Layer
    return (L("Conv2D", {"filters": 255, "kernel_size": 1, "activation": "linear"}, "wide"),
            *(L("Activation", {"activation": "gelu"}, f"g{i}") for i in range(depth)),
            L("Flatten", {}), L("Dense", {"units": 10, "activation": "softmax"}, "out"))


def test_the_gelu_tower_is_refused_for_its_training_memory_before_any_weight_exists() -> None:
    from grader.assignment import course

    limits = course.load("digits").limits
    tower = _gelu_tower(97)
    assert arch.cost(tower, (28, 28, 1)).params <= limits.max_params  # legal by every other limit
    arch.build(tower, (28, 28, 1), limits)  # without a batch size: the model check's old bound only
    with pytest.raises(arch.TooCostly, match=r"needs 9\.7 GB of memory to train .* the limit is 2\.0 GB\. Make it "
                                             "smaller"):
        arch.build(tower, (28, 28, 1), limits, batch_size=32)


@pytest.mark.parametrize("name", ["digits", "fashion"])
def test_the_reference_models_train_within_a_tenth_of_the_memory_limit(name: str) -> None:
    from grader.assignment import course

    task = course.load(name)
    model = next(c for c in task.checks if c.kind == "model")
    layers, shape = comparison.expected_layers(model.params["layers"]), tuple(model.params["input_shape"])
    sizes, current = [], (None, *shape)
    for layer in layers:
        _, current, _ = arch._shaped(layer, current)
        sizes.append(model_cost.size(current))
    needed = model_cost.training_bytes([math.prod(shape), *sizes], arch.cost(layers, shape).params,
                                       task.training.batch_size)
    assert needed * 10 < task.limits.max_training_mb * 2**20
    arch.build(layers, shape, task.limits, batch_size=task.training.batch_size)


def test_training_memory_counts_every_output_of_a_batch_the_weights_and_a_prediction_batch() -> None:
    assert model_cost.training_bytes([100, 50], 10, 32) == 4 * (4 * 32 * 150 + 3 * 100 * 100 + 4 * 10)

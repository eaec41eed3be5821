"""What a layer costs before it exists: its parameters and its multiply-adds per image.

Both are computed from the layer's validated arguments and its input and output shapes, with one
exact formula per whitelisted layer, so the grader can refuse a model before Keras allocates a
single weight. The parameter counts equal Keras' own `count_params()` (tests check every layer
kind against it). Multiply-adds count the work of one forward pass on one image: a kernel's
multiply-adds at every output position, a pooling window's reads at every output value, one
operation per value for element-wise layers and activations. Training costs about three times
this per image and evaluation once, so a bound on it bounds both.

Training also keeps every layer's output of a batch for backpropagation: a model within the bounds
on each layer's output can still need gigabytes for all of them together (a Conv2D(255, 1) followed
by 97 gelu activations grew the grader past 6 GB). `training_bytes` bounds that from the layers'
output sizes, before any weight exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

Shape = tuple  # (None, d1, d2, ...): the batch axis first


class CostError(ValueError):
    """A layer whose arguments do not fit its input, so it has no cost (Keras would fail to build it)."""


@dataclass(frozen=True)
class Cost:
    """Parameters (trainable or not) and multiply-adds per image of one layer."""

    params: int
    macs: int


def layer_cost(kind: str, args: dict[str, Any], shape_in: Shape, shape_out: Shape) -> Cost:
    """The cost of a `kind` layer with `args` mapping `shape_in` to `shape_out`."""
    params, macs = RULES[kind](args, shape_in, shape_out)
    if kind != "Activation" and args.get("activation", "linear") != "linear":
        macs += size(shape_out)
    return Cost(params, macs)


def size(shape: Shape) -> int:
    """Values per image in a tensor of `shape` (its batch axis left out)."""
    dims = shape[1:]
    if any(not isinstance(d, int) or d < 0 for d in dims):
        raise CostError(f"its shape {shape} has unknown or negative sizes")
    return math.prod(dims)


def _channels_last(args: dict) -> bool:
    return args.get("data_format") != "channels_first"


def _channels(shape: Shape, args: dict) -> int:
    return shape[-1] if _channels_last(args) else shape[1]


def _positions(shape: Shape, args: dict) -> int:
    """Spatial positions per image: every axis but the batch and the channels."""
    dims = shape[1:-1] if _channels_last(args) else shape[2:]
    return math.prod(dims)


def _window(value: Any, rank: int) -> int:
    """Cells of a kernel or pool window given as an int (the same on every axis) or a tuple."""
    return value ** rank if isinstance(value, int) else math.prod(value)


def _bias(args: dict, count: int) -> int:
    return count if args.get("use_bias", True) else 0


def _dense(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    inputs, units = shape_in[-1], args["units"]
    return inputs * units + _bias(args, units), math.prod(shape_in[1:-1]) * inputs * units


def _conv(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    channels, groups, filters = _channels(shape_in, args), args.get("groups", 1), args["filters"]
    if channels % groups or filters % groups:
        raise CostError(f"its {channels} input channels and {filters} filters cannot be split into groups={groups}")
    per_position = _window(args["kernel_size"], len(shape_in) - 2) * (channels // groups) * filters
    return per_position + _bias(args, filters), _positions(shape_out, args) * per_position


def _conv_transpose(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    channels, filters = _channels(shape_in, args), args["filters"]
    per_position = _window(args["kernel_size"], len(shape_in) - 2) * channels * filters
    return per_position + _bias(args, filters), _positions(shape_in, args) * per_position


def _depthwise(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    outputs = _channels(shape_in, args) * args.get("depth_multiplier", 1)
    per_position = _window(args["kernel_size"], len(shape_in) - 2) * outputs
    return per_position + _bias(args, outputs), _positions(shape_out, args) * per_position


def _separable(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    middle = _channels(shape_in, args) * args.get("depth_multiplier", 1)
    filters = args["filters"]
    per_position = _window(args["kernel_size"], len(shape_in) - 2) * middle + middle * filters
    return per_position + _bias(args, filters), _positions(shape_out, args) * per_position


def _axis_size(shape: Shape, axis: int) -> int:
    if not -len(shape) <= axis < len(shape) or axis % len(shape) == 0:
        raise CostError(f"axis {axis} is not an axis of one image's shape {shape}")
    return shape[axis]


def _batch_norm(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    channels = _axis_size(shape_in, args.get("axis", -1))
    per_channel = args.get("center", True) + args.get("scale", True) + 2 + (3 if args.get("renorm") else 0)
    return channels * per_channel, 2 * size(shape_out)


def _layer_norm(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    axes = args.get("axis", -1)
    axes = axes if isinstance(axes, tuple) else (axes,)
    cells = math.prod(_axis_size(shape_in, a) for a in axes)
    rms = args.get("rms_scaling", False)
    weights = int(args.get("scale", True) or rms) + int(args.get("center", True) and not rms)
    return cells * weights, 3 * size(shape_out)


def _pool(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    return 0, size(shape_out) * _window(args.get("pool_size", 2), len(shape_in) - 2)


def _reads_input(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    return 0, size(shape_in)


def _elementwise(args: dict, shape_in: Shape, shape_out: Shape) -> tuple[int, int]:
    return 0, size(shape_out)


RULES: dict[str, Callable[[dict, Shape, Shape], tuple[int, int]]] = {
    "Dense": _dense, "Conv1D": _conv, "Conv2D": _conv, "Conv3D": _conv, "Conv2DTranspose": _conv_transpose,
    "DepthwiseConv2D": _depthwise, "SeparableConv2D": _separable,
    "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm,
    "MaxPooling1D": _pool, "MaxPooling2D": _pool, "AveragePooling1D": _pool, "AveragePooling2D": _pool,
    "GlobalMaxPooling2D": _reads_input, "GlobalAveragePooling2D": _reads_input,
    **{kind: _elementwise for kind in ("Flatten", "Reshape", "Dropout", "SpatialDropout2D", "GaussianNoise",
                                       "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Rescaling",
                                       "ZeroPadding2D", "Cropping2D")},
}


# What training keeps per value of a layer's output in a batch: the output, its gradient, and up to two
# intermediates an activation keeps for its own gradient (gelu does; measured: 3.3 times the outputs for a gelu
# tower, under 2 for relu). Evaluation predicts in batches of PREDICT_BATCH and holds a layer's input, its output and
# one intermediate at a time. Weights take four copies: the weights, their gradients, and two optimizer slots (Adam).
KEPT_PER_OUTPUT = 4
PREDICT_BATCH = 100  # a larger batch predicts no faster here and holds more: 40 MB more at 500 for the reference
HELD_WHILE_PREDICTING = 3
COPIES_OF_WEIGHTS = 4
BYTES = 4  # float32


def training_bytes(outputs: list[int], params: int, batch_size: int) -> int:
    """Memory, in bytes, that training a model of `params` parameters whose layers output `outputs` values per image
    (the input first) needs at `batch_size`, and predicting with it afterwards."""
    backpropagation = KEPT_PER_OUTPUT * batch_size * sum(outputs)
    predicting = HELD_WHILE_PREDICTING * PREDICT_BATCH * max(outputs, default=0)
    return BYTES * (backpropagation + predicting + COPIES_OF_WEIGHTS * params)

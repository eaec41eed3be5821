"""The arguments a submitted layer may carry, each checked for its type and its range.

Every argument of every whitelisted layer has a validator here; an argument without one is
refused, so a Keras version that adds an argument (a LoRA rank, say) is refused until it is
reviewed. Nested objects (initializers, regularizers, constraints) hold bounded scalars only: a
`Constant` initializer holding a list or an array would be a way to hand the grader trained
weights, so it is refused. Validated values are plain data: ints, floats, bools, short strings,
tuples of those, and `{"module", "class_name", "config"}` dicts for the nested objects.
"""

from __future__ import annotations

from typing import Any

from grader.trusted.bounds import (ArgumentError, Validator, absent, arguments, choice, flag, integer, integers, number,
                           optional, quoted, shorten)

MAX_DIM = 100_000      # any size, kernel, stride or padding
MAX_NUMBER = 1e6       # any float argument (rates, scales, means, norms) in absolute value


def _margins(value: Any, where: str) -> int | tuple:
    """ZeroPadding2D's padding and Cropping2D's cropping: an int, a pair, or a pair of pairs."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value):
        return tuple(integers(0, MAX_DIM, max_len=2)(v, where) for v in value)
    return integers(0, MAX_DIM, max_len=2)(value, where)


def _clipping(value: Any, where: str) -> dict | None:
    """BatchNormalization's renorm_clipping: None or a few named bounds."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ArgumentError(f"{where} is {quoted(value)}; expected a dict such as {{'rmax': 3.0, 'rmin': 0.3}}.")
    return arguments(value, {"rmax": optional(_POSITIVE), "rmin": optional(_POSITIVE),
                              "dmax": optional(_POSITIVE)}, where)


_DATA_FORMAT = optional(choice("channels_last", "channels_first"))
_SEED = optional(integer(0, 2**31 - 1))
_AXES = optional(integers(-8, 8, max_len=8))
_FLOAT = number(-MAX_NUMBER, MAX_NUMBER)
_POSITIVE = number(0, MAX_NUMBER)

# -- nested objects --------------------------------------------------------------------------------

_FAN = {"seed": _SEED, "input_axes": _AXES, "output_axes": _AXES}
OBJECTS: dict[str, dict[str, dict[str, Validator]]] = {
    "keras.initializers": {
        "GlorotUniform": _FAN, "GlorotNormal": _FAN, "HeUniform": _FAN, "HeNormal": _FAN, "LecunUniform": _FAN,
        "LecunNormal": _FAN, "Zeros": {}, "Ones": {}, "Identity": {"gain": _FLOAT},
        "Constant": {"value": _FLOAT},
        "RandomNormal": {"seed": _SEED, "mean": _FLOAT, "stddev": _POSITIVE},
        "TruncatedNormal": {"seed": _SEED, "mean": _FLOAT, "stddev": _POSITIVE},
        "RandomUniform": {"seed": _SEED, "minval": _FLOAT, "maxval": _FLOAT},
        "Orthogonal": {"seed": _SEED, "gain": _FLOAT},
        "VarianceScaling": {**_FAN, "scale": _POSITIVE, "mode": choice("fan_in", "fan_out", "fan_avg"),
                            "distribution": choice("truncated_normal", "untruncated_normal", "normal", "uniform")},
    },
    "keras.regularizers": {
        "L1": {"l1": _POSITIVE}, "L2": {"l2": _POSITIVE}, "L1L2": {"l1": _POSITIVE, "l2": _POSITIVE},
        "OrthogonalRegularizer": {"factor": _POSITIVE, "mode": choice("rows", "columns")},
    },
    "keras.constraints": {
        "MaxNorm": {"max_value": _POSITIVE, "axis": _AXES},
        "MinMaxNorm": {"min_value": _POSITIVE, "max_value": _POSITIVE, "rate": _POSITIVE, "axis": _AXES},
        "NonNeg": {}, "UnitNorm": {"axis": _AXES},
    },
}
_KIND_OF_OBJECT = {"initializer": "keras.initializers", "regularizer": "keras.regularizers", "constraint": "keras.constraints"}


def _object(module: str) -> Validator:
    def check(value: Any, where: str) -> dict:
        if isinstance(value, str):  # a name such as "he_normal", as older configs hold them
            value = {"module": module, "class_name": _class_named(module, value, where), "config": {}}
        if not isinstance(value, dict):
            raise ArgumentError(f"{where} is {quoted(value)}; expected one of Keras' built-in {module.split('.')[1]}.")
        name, config = value.get("class_name"), value.get("config") or {}
        known = isinstance(name, str) and name in OBJECTS[module]
        if value.get("module") != module or not known or value.get("registered_name") not in (None, name):
            raise ArgumentError(f"{where} holds a {shorten(name)} object from {shorten(value.get('module'))}, which the "
                                f"grader does not rebuild; use one of Keras' built-in {module.split('.')[1]} "
                                f"({', '.join(OBJECTS[module])}).")
        if not isinstance(config, dict):
            raise ArgumentError(f"{where} holds a malformed {name}.")
        if name == "Constant" and isinstance(config.get("value"), (list, dict)):  # a list, or a numpy array
            raise ArgumentError(f"{where} is a Constant holding an array of values; an initializer may hold single "
                                "numbers only, since the grader trains the weights itself. Use e.g. Constant(0.1).")
        return {"module": module, "class_name": name,
                "config": arguments(config, OBJECTS[module][name], f"{where} ({name})")}
    return check


def _class_named(module: str, text: str, where: str) -> str:
    for name in OBJECTS[module]:
        if text.replace("_", "").lower() == name.lower():
            return name
    raise ArgumentError(f"{where} is {quoted(text)}; expected one of Keras' built-in {module.split('.')[1]} "
                        f"({', '.join(OBJECTS[module])}).")


# -- layers ----------------------------------------------------------------------------------------

def _weights(*names: str) -> dict[str, Validator]:
    """The initializer, regularizer and constraint arguments of each named weight."""
    out: dict[str, Validator] = {}
    for name in names:
        for kind, module in _KIND_OF_OBJECT.items():
            validator = _object(module)
            out[f"{name}_{kind}"] = validator if kind == "initializer" else optional(validator)
    return out


_ACTIVITY = {"activity_regularizer": optional(_object("keras.regularizers"))}
_KERNEL = {"kernel_size": integers(1, MAX_DIM), "strides": integers(1, MAX_DIM),
           "dilation_rate": integers(1, MAX_DIM), "padding": choice("valid", "same"), "data_format": _DATA_FORMAT,
           "use_bias": flag, **_ACTIVITY}
_CONV = {**_KERNEL, "filters": integer(1, MAX_DIM), "groups": integer(1, MAX_DIM), **_weights("kernel", "bias")}
_DEPTHWISE = {**_KERNEL, "depth_multiplier": integer(1, MAX_DIM), **_weights("depthwise", "bias")}
_POOL = {"pool_size": integers(1, MAX_DIM), "strides": optional(integers(1, MAX_DIM)),
         "padding": choice("valid", "same"), "data_format": _DATA_FORMAT}
_GLOBAL_POOL = {"data_format": _DATA_FORMAT, "keepdims": flag}
_NORMALIZATION = {"epsilon": number(0, 1), "center": flag, "scale": flag, **_weights("beta", "gamma")}

LAYERS: dict[str, dict[str, Validator]] = {
    "Dense": {"units": integer(1, 10**7), "use_bias": flag, **_weights("kernel", "bias"), **_ACTIVITY},
    "Conv1D": {**_CONV, "padding": choice("valid", "same", "causal")},
    "Conv2D": _CONV,
    "Conv3D": _CONV,
    "Conv2DTranspose": {**{k: v for k, v in _CONV.items() if k != "groups"},
                        "output_padding": optional(integers(0, MAX_DIM))},
    "DepthwiseConv2D": _DEPTHWISE,
    "SeparableConv2D": {**_DEPTHWISE, "filters": integer(1, MAX_DIM), **_weights("pointwise")},
    "MaxPooling1D": _POOL, "MaxPooling2D": _POOL, "AveragePooling1D": _POOL, "AveragePooling2D": _POOL,
    "GlobalMaxPooling2D": _GLOBAL_POOL, "GlobalAveragePooling2D": _GLOBAL_POOL,
    "Flatten": {"data_format": _DATA_FORMAT},
    "Reshape": {"target_shape": integers(-1, MAX_DIM * 10, max_len=8)},
    "Dropout": {"rate": number(0, 1), "seed": _SEED, "noise_shape": absent},
    "SpatialDropout2D": {"rate": number(0, 1), "seed": _SEED, "data_format": _DATA_FORMAT},
    "GaussianNoise": {"stddev": _POSITIVE, "seed": _SEED},
    "BatchNormalization": {**_NORMALIZATION, "axis": integer(-8, 8), "momentum": number(0, 1),
                           **_weights("moving_mean", "moving_variance"), "synchronized": flag, "renorm": flag,
                           "renorm_clipping": _clipping, "renorm_momentum": number(0, 1)},
    "LayerNormalization": {**_NORMALIZATION, "axis": integers(-8, 8, max_len=8), "rms_scaling": flag},
    "Activation": {},
    "ReLU": {"max_value": optional(_POSITIVE), "negative_slope": _FLOAT, "threshold": _FLOAT},
    "LeakyReLU": {"negative_slope": _FLOAT},
    "ELU": {"alpha": _FLOAT},
    "Softmax": {"axis": integers(-8, 8, max_len=8)},
    "Rescaling": {"scale": _FLOAT, "offset": _FLOAT},
    "ZeroPadding2D": {"padding": _margins, "data_format": _DATA_FORMAT},
    "Cropping2D": {"cropping": _margins, "data_format": _DATA_FORMAT},
}

# Layers that take an `activation` argument (validated by the caller, which knows the activation names).
HAS_ACTIVATION = frozenset(("Dense", "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D",
                            "SeparableConv2D", "Activation"))


def layer_arguments(kind: str, args: dict[str, Any], where: str) -> dict[str, Any]:
    """`args` of a `kind` layer, each validated; ArgumentError names the first that is refused.

    `activation` is left to the caller, which knows the activation names. `trainable` is every layer's: kept, since a
    frozen layer trains otherwise (the memo key and the rebuilt layer both carry it).
    """
    return arguments(args, {**LAYERS[kind], "trainable": flag}, where)

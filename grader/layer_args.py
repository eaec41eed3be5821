"""The arguments a submitted layer may carry, each checked for its type and its range.

Every argument of every whitelisted layer has a validator here; an argument without one is
refused, so a Keras version that adds an argument (a LoRA rank, say) is refused until it is
reviewed. Nested objects (initializers, regularizers, constraints) hold bounded scalars only: a
`Constant` initializer holding a list or an array would be a way to hand the grader trained
weights, so it is refused. Validated values are plain data: ints, floats, bools, short strings,
tuples of those, and `{"module", "class_name", "config"}` dicts for the nested objects.
"""

from __future__ import annotations

import math
from typing import Any, Callable

Validator = Callable[[Any, str], Any]
MAX_DIM = 100_000      # any size, kernel, stride or padding
MAX_NUMBER = 1e6       # any float argument (rates, scales, means, norms) in absolute value
MAX_SHOWN = 80         # characters of a submitted string shown in a message


class ArgumentError(ValueError):
    """An argument the grader does not accept; the message says which, why, and what would do."""


def shorten(value: Any, limit: int = MAX_SHOWN) -> str:
    """`str(value)`, cut to `limit` characters with an ellipsis: submitted strings can be megabytes long."""
    if isinstance(value, (list, tuple)) and len(value) > 10:
        text = f"{repr(list(value[:10]))[:-1]}, … ({len(value):,} items)]"
    else:
        text = value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _quoted(value: Any) -> str:
    """A submitted value as a message shows it: strings quoted, so '0.1' is not mistaken for 0.1."""
    return repr(shorten(value, MAX_SHOWN - 2)) if isinstance(value, str) else shorten(value)


# -- validators ------------------------------------------------------------------------------------

def _integer(low: int, high: int) -> Validator:
    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ArgumentError(f"{where} is {_quoted(value)}; expected a whole number from {low:,} to {high:,}.")
        return value
    return check


def _integers(low: int, high: int, *, max_len: int = 3) -> Validator:
    single = _integer(low, high)

    def check(value: Any, where: str) -> int | tuple[int, ...]:
        if isinstance(value, list):
            if not 1 <= len(value) <= max_len:
                raise ArgumentError(f"{where} has {len(value):,} entries; expected 1 to {max_len}.")
            return tuple(single(v, where) for v in value)
        return single(value, where)
    return check


def _number(low: float, high: float) -> Validator:
    def check(value: Any, where: str) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise ArgumentError(f"{where} is {_quoted(value)}; expected a single number from {low:g} to {high:g}.")
        return value
    return check


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ArgumentError(f"{where} is {_quoted(value)}; expected True or False.")
    return value


def _choice(*options: str) -> Validator:
    def check(value: Any, where: str) -> str:
        if value not in options:
            raise ArgumentError(f"{where} is {_quoted(value)}; expected one of {', '.join(map(repr, options))}.")
        return value
    return check


def _optional(validator: Validator) -> Validator:
    def check(value: Any, where: str) -> Any:
        return None if value is None else validator(value, where)
    return check


def _absent(value: Any, where: str) -> None:
    if value is not None:
        raise ArgumentError(f"{where} is set; the grader only rebuilds layers that leave it at its default (None). "
                            "Remove it.")
    return None


def _margins(value: Any, where: str) -> int | tuple:
    """ZeroPadding2D's padding and Cropping2D's cropping: an int, a pair, or a pair of pairs."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value):
        return tuple(_integers(0, MAX_DIM, max_len=2)(v, where) for v in value)
    return _integers(0, MAX_DIM, max_len=2)(value, where)


def _clipping(value: Any, where: str) -> dict | None:
    """BatchNormalization's renorm_clipping: None or a few named bounds."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ArgumentError(f"{where} is {_quoted(value)}; expected a dict such as {{'rmax': 3.0, 'rmin': 0.3}}.")
    return _arguments(value, {"rmax": _optional(_POSITIVE), "rmin": _optional(_POSITIVE),
                              "dmax": _optional(_POSITIVE)}, where)


_DATA_FORMAT = _optional(_choice("channels_last", "channels_first"))
_SEED = _optional(_integer(0, 2**31 - 1))
_AXES = _optional(_integers(-8, 8, max_len=8))
_FLOAT = _number(-MAX_NUMBER, MAX_NUMBER)
_POSITIVE = _number(0, MAX_NUMBER)

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
        "VarianceScaling": {**_FAN, "scale": _POSITIVE, "mode": _choice("fan_in", "fan_out", "fan_avg"),
                            "distribution": _choice("truncated_normal", "untruncated_normal", "normal", "uniform")},
    },
    "keras.regularizers": {
        "L1": {"l1": _POSITIVE}, "L2": {"l2": _POSITIVE}, "L1L2": {"l1": _POSITIVE, "l2": _POSITIVE},
        "OrthogonalRegularizer": {"factor": _POSITIVE, "mode": _choice("rows", "columns")},
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
            raise ArgumentError(f"{where} is {_quoted(value)}; expected one of Keras' built-in {module.split('.')[1]}.")
        name, config = value.get("class_name"), value.get("config") or {}
        if value.get("module") != module or name not in OBJECTS[module] or value.get("registered_name") not in (None, name):
            raise ArgumentError(f"{where} holds a {shorten(name)} object from {shorten(value.get('module'))}, which the "
                                f"grader does not rebuild; use one of Keras' built-in {module.split('.')[1]} "
                                f"({', '.join(OBJECTS[module])}).")
        if not isinstance(config, dict):
            raise ArgumentError(f"{where} holds a malformed {name}.")
        if name == "Constant" and isinstance(config.get("value"), list):
            raise ArgumentError(f"{where} is a Constant holding a list of values; an initializer may hold single "
                                "numbers only, since the grader trains the weights itself. Use e.g. Constant(0.1).")
        return {"module": module, "class_name": name,
                "config": _arguments(config, OBJECTS[module][name], f"{where} ({name})")}
    return check


def _class_named(module: str, text: str, where: str) -> str:
    for name in OBJECTS[module]:
        if text.replace("_", "").lower() == name.lower():
            return name
    raise ArgumentError(f"{where} is {_quoted(text)}; expected one of Keras' built-in {module.split('.')[1]} "
                        f"({', '.join(OBJECTS[module])}).")


# -- layers ----------------------------------------------------------------------------------------

def _weights(*names: str) -> dict[str, Validator]:
    """The initializer, regularizer and constraint arguments of each named weight."""
    out: dict[str, Validator] = {}
    for name in names:
        for kind, module in _KIND_OF_OBJECT.items():
            validator = _object(module)
            out[f"{name}_{kind}"] = validator if kind == "initializer" else _optional(validator)
    return out


_ACTIVITY = {"activity_regularizer": _optional(_object("keras.regularizers"))}
_KERNEL = {"kernel_size": _integers(1, MAX_DIM), "strides": _integers(1, MAX_DIM),
           "dilation_rate": _integers(1, MAX_DIM), "padding": _choice("valid", "same"), "data_format": _DATA_FORMAT,
           "use_bias": _flag, **_ACTIVITY}
_CONV = {**_KERNEL, "filters": _integer(1, MAX_DIM), "groups": _integer(1, MAX_DIM), **_weights("kernel", "bias")}
_DEPTHWISE = {**_KERNEL, "depth_multiplier": _integer(1, MAX_DIM), **_weights("depthwise", "bias")}
_POOL = {"pool_size": _integers(1, MAX_DIM), "strides": _optional(_integers(1, MAX_DIM)),
         "padding": _choice("valid", "same"), "data_format": _DATA_FORMAT}
_GLOBAL_POOL = {"data_format": _DATA_FORMAT, "keepdims": _flag}
_NORMALIZATION = {"epsilon": _number(0, 1), "center": _flag, "scale": _flag, **_weights("beta", "gamma")}

LAYERS: dict[str, dict[str, Validator]] = {
    "Dense": {"units": _integer(1, 10**7), "use_bias": _flag, **_weights("kernel", "bias"), **_ACTIVITY},
    "Conv1D": {**_CONV, "padding": _choice("valid", "same", "causal")},
    "Conv2D": _CONV,
    "Conv3D": _CONV,
    "Conv2DTranspose": {**{k: v for k, v in _CONV.items() if k != "groups"},
                        "output_padding": _optional(_integers(0, MAX_DIM))},
    "DepthwiseConv2D": _DEPTHWISE,
    "SeparableConv2D": {**_DEPTHWISE, "filters": _integer(1, MAX_DIM), **_weights("pointwise")},
    "MaxPooling1D": _POOL, "MaxPooling2D": _POOL, "AveragePooling1D": _POOL, "AveragePooling2D": _POOL,
    "GlobalMaxPooling2D": _GLOBAL_POOL, "GlobalAveragePooling2D": _GLOBAL_POOL,
    "Flatten": {"data_format": _DATA_FORMAT},
    "Reshape": {"target_shape": _integers(-1, MAX_DIM * 10, max_len=8)},
    "Dropout": {"rate": _number(0, 1), "seed": _SEED, "noise_shape": _absent},
    "SpatialDropout2D": {"rate": _number(0, 1), "seed": _SEED, "data_format": _DATA_FORMAT},
    "GaussianNoise": {"stddev": _POSITIVE, "seed": _SEED},
    "BatchNormalization": {**_NORMALIZATION, "axis": _integer(-8, 8), "momentum": _number(0, 1),
                           **_weights("moving_mean", "moving_variance"), "synchronized": _flag, "renorm": _flag,
                           "renorm_clipping": _clipping, "renorm_momentum": _number(0, 1)},
    "LayerNormalization": {**_NORMALIZATION, "axis": _integers(-8, 8, max_len=8), "rms_scaling": _flag},
    "Activation": {},
    "ReLU": {"max_value": _optional(_POSITIVE), "negative_slope": _FLOAT, "threshold": _FLOAT},
    "LeakyReLU": {"negative_slope": _FLOAT},
    "ELU": {"alpha": _FLOAT},
    "Softmax": {"axis": _integers(-8, 8, max_len=8)},
    "Rescaling": {"scale": _FLOAT, "offset": _FLOAT},
    "ZeroPadding2D": {"padding": _margins, "data_format": _DATA_FORMAT},
    "Cropping2D": {"cropping": _margins, "data_format": _DATA_FORMAT},
}

# Layers that take an `activation` argument (validated by the caller, which knows the activation names).
HAS_ACTIVATION = frozenset(("Dense", "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D",
                            "SeparableConv2D", "Activation"))


def layer_arguments(kind: str, args: dict[str, Any], where: str) -> dict[str, Any]:
    """`args` of a `kind` layer, each validated; ArgumentError names the first that is refused.

    `activation` is left to the caller, which knows the activation names.
    """
    return _arguments(args, LAYERS[kind], where)


def _arguments(args: dict[str, Any], allowed: dict[str, Validator], where: str) -> dict[str, Any]:
    out = {}
    for key, value in args.items():
        validator = allowed.get(key)
        if validator is None:
            known = ", ".join(allowed) or "none"
            raise ArgumentError(f"{where} has an argument {shorten(key)!r} the grader does not rebuild "
                                f"(it knows: {shorten(known, 400)}); remove it.")
        out[key] = validator(value, f"{where}, argument {key}")
    return out

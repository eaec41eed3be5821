"""Model architectures on the trusted side: validate a submitted config, rebuild it, compare it.

A submission describes its model as a Keras config (plain JSON). Nothing in it is deserialised by
Keras: every layer class, argument value and nested object is checked against the whitelists
below and the layers are constructed here, by the grader, from plain values. A Lambda layer, a
custom class or an object the grader does not know is refused with a message that names it.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

SAFE_LAYERS = (
    "InputLayer", "Dense", "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D",
    "SeparableConv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalMaxPooling2D", "GlobalAveragePooling2D", "Flatten", "Reshape", "Dropout", "SpatialDropout2D",
    "GaussianNoise", "BatchNormalization", "LayerNormalization", "Activation", "ReLU", "LeakyReLU",
    "ELU", "Softmax", "Rescaling", "ZeroPadding2D", "Cropping2D",
)
# Nested objects a layer argument may hold, by the Keras module that defines them.
SAFE_OBJECTS = {
    "keras.initializers": ("GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
                           "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
                           "Orthogonal", "VarianceScaling", "Identity"),
    "keras.regularizers": ("L1", "L2", "L1L2", "OrthogonalRegularizer"),
    "keras.constraints": ("MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"),
}
# Activation functions referred to by their TensorFlow names (tf.nn.softmax is softmax_v2).
ACTIVATION_ALIASES = {"softmax_v2": "softmax", "log_softmax_v2": "log_softmax", "swish": "silu", None: "linear"}
ACTIVATIONS = ("linear", "relu", "relu6", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softmax",
               "log_softmax", "softplus", "softsign", "silu", "gelu", "leaky_relu", "exponential", "mish")
_IGNORED_ARGS = ("name", "trainable", "dtype", "autocast", "build_config", "quantization_config")
_FOLDABLE = {"Activation": "activation", "ReLU": "relu", "Softmax": "softmax"}


class ModelError(Exception):
    """A submitted model the grader cannot or will not rebuild; the message says which layer and why."""


@dataclass(frozen=True)
class Layer:
    """One layer as plain data: its class and its (cleaned) constructor arguments."""

    class_name: str
    args: dict[str, Any]
    name: str = ""

    def describe(self, keys: tuple[str, ...] | None = None) -> str:
        """`Dense(units=128, activation=relu)`, showing `keys` (default: the telling ones)."""
        keys = keys if keys is not None else tuple(k for k in _TELLING if k in self.args)
        shown = ", ".join(f"{k}={_show(self.args.get(k))}" for k in keys if k in self.args)
        return f"{self.class_name}({shown})"


_TELLING = ("units", "filters", "kernel_size", "pool_size", "rate", "activation", "target_shape")


@dataclass(frozen=True)
class ParsedModel:
    """A validated model: its layers in order and the input shape it declared, if any."""

    layers: tuple[Layer, ...]
    input_shape: tuple[int | None, ...] | None


def parse(config: Any) -> ParsedModel:
    """Validate a serialised Keras model and return its layers; raise ModelError if it is unsafe."""
    if not isinstance(config, dict):
        raise ModelError("the model's description is not a Keras config.")
    kind = config.get("class_name")
    body = config.get("config") or {}
    if kind == "Sequential" and config.get("module") == "keras":
        entries = body.get("layers") or []
        layers, shape = _parse_entries(entries)
    elif kind in ("Functional", "Model") and str(config.get("module", "")).startswith("keras"):
        entries = _chain(body)
        layers, shape = _parse_entries(entries)
    else:
        raise ModelError(
            f"the model is a {kind!r} ({config.get('module')}), a class of its own; the grader only rebuilds "
            "keras.Sequential models and functional keras.Model(inputs, outputs) built from Keras' own layers."
        )
    if not layers:
        raise ModelError("the model has no layers.")
    return ParsedModel(tuple(layers), shape)


def _chain(body: dict) -> list[dict]:
    """The layers of a functional model, if they form a single chain from input to output."""
    entries = body.get("layers") or []
    previous = None
    for entry in entries:
        inbound = entry.get("inbound_nodes") or []
        sources = []
        for node in inbound:
            for arg in (node.get("args") or []) if isinstance(node, dict) else []:
                history = arg.get("config", {}).get("keras_history") if isinstance(arg, dict) else None
                if not history:
                    raise ModelError(f"layer {entry.get('name')!r} takes inputs the grader cannot follow.")
                sources.append(history[0])
        if previous is not None and sources != [previous]:
            raise ModelError(
                f"layer {entry.get('name')!r} does not take its input from the layer before it; the grader "
                "accepts functional models that are a single chain of layers (no branches, no skips)."
            )
        previous = entry.get("name")
    return entries


def _parse_entries(entries: list) -> tuple[list[Layer], tuple | None]:
    layers: list[Layer] = []
    shape = None
    for entry in entries:
        if not isinstance(entry, dict):
            raise ModelError("a layer's description is not a Keras config.")
        kind, module = entry.get("class_name"), entry.get("module")
        body = entry.get("config") or {}
        name = str(body.get("name", "?"))
        if kind == "Sequential" and module == "keras":
            inner, inner_shape = _parse_entries(body.get("layers") or [])
            layers.extend(inner)
            shape = shape or inner_shape
            continue
        if kind not in SAFE_LAYERS or module != "keras.layers" or entry.get("registered_name") not in (None, kind):
            why = "a Lambda layer runs arbitrary code" if kind == "Lambda" else "it is not one of Keras' built-in layers"
            raise ModelError(
                f"layer {name!r} is a {kind} ({module}); the grader cannot rebuild it safely because {why}. "
                f"Use Keras' own layers ({', '.join(SAFE_LAYERS[1:8])}, ...)."
            )
        if kind == "InputLayer":
            batch_shape = body.get("batch_shape") or body.get("batch_input_shape")
            shape = tuple(batch_shape[1:]) if batch_shape else None
            continue
        if shape is None and isinstance(entry.get("build_config"), dict):
            built = entry["build_config"].get("input_shape")
            if isinstance(built, list) and layers == []:
                shape = tuple(built[1:])
        args = {k: _clean(kind, name, k, v) for k, v in body.items() if k not in _IGNORED_ARGS}
        layers.append(Layer(kind, args, name))
    return layers, shape


def _clean(kind: str, layer: str, key: str, value: Any) -> Any:
    where = f"layer {layer!r} ({kind}), argument {key}"
    if key == "activation" or (kind == "Activation" and key == "activation"):
        return canonical_activation(value, where)
    if value is None or isinstance(value, (bool, int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ModelError(f"{where} is {value}; expected a finite number.")
        return value
    if isinstance(value, str):
        return value[:100]
    if isinstance(value, list):
        return tuple(_clean(kind, layer, key, v) for v in value)
    if isinstance(value, dict):
        module, name = value.get("module"), value.get("class_name")
        if module == "keras" and name == "DTypePolicy":
            return None
        if name in SAFE_OBJECTS.get(module, ()) and value.get("registered_name") in (None, name):
            config = value.get("config") or {}
            if not isinstance(config, dict):
                raise ModelError(f"{where} holds a malformed {name}.")
            return {"module": module, "class_name": name,
                    "config": {k: _clean(kind, layer, key, v) for k, v in config.items()}}
        raise ModelError(f"{where} holds a {name} object from {module}, which the grader does not rebuild; "
                         "use one of Keras' built-in initializers, regularizers or constraints.")
    raise ModelError(f"{where} has a value of an unexpected type.")


def canonical_activation(value: Any, where: str = "activation") -> str:
    """The Keras name of an activation given as a name or a serialised function (tf.nn.relu...)."""
    if isinstance(value, dict) and value.get("class_name") == "function" and value.get("module") in ("builtins", "keras.activations", "keras.src.activations.activations", "tensorflow.python.ops.nn_ops", "tensorflow.python.ops.gen_nn_ops"):
        value = value.get("config")
    if value is None or isinstance(value, str):
        name = ACTIVATION_ALIASES.get(value, value)
        if name in ACTIVATIONS:
            return name
    raise ModelError(f"{where} is {_show(value)}, which is not one of Keras' activations ({', '.join(ACTIVATIONS)}).")


def build(layers: tuple[Layer, ...], input_shape: tuple[int, ...], *, max_params: int, max_activations: int) -> keras.Model:
    """Construct a Sequential model from validated layers, refusing ones over the size limits."""
    constructed = []
    shape: tuple = (None, *input_shape)
    params = 0
    for layer in layers:
        try:
            instance = _construct(layer)
            out = tuple(instance.compute_output_shape(shape))
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - Keras rejects bad arguments with many types
            raise ModelError(f"layer {layer.name!r} {layer.describe()} cannot be built on input of shape {shape}: {exc}") from None
        params += _estimate_params(layer, shape, out)
        size = math.prod(d for d in out[1:] if d is not None)
        if params > max_params:
            raise ModelError(f"the model has more than {max_params:,} parameters by layer {layer.name!r}; "
                             "the grader trains models up to that size. Use fewer units or filters.")
        if size > max_activations:
            raise ModelError(f"layer {layer.name!r} outputs {size:,} values per image, more than the "
                             f"{max_activations:,} the grader allows; use fewer filters or more pooling.")
        constructed.append(instance)
        shape = out
    model = keras.Sequential([keras.Input(shape=tuple(input_shape)), *constructed])
    return model


def _construct(layer: Layer) -> keras.layers.Layer:
    cls = getattr(keras.layers, layer.class_name)
    args = {k: _materialise(v) for k, v in layer.args.items() if v is not None or k in ("activation",)}
    return cls(**args)


def _materialise(value: Any) -> Any:
    if isinstance(value, dict):
        module = getattr(keras, value["module"].split(".")[1])
        return getattr(module, value["class_name"])(**{k: _materialise(v) for k, v in value["config"].items()})
    return value


def _estimate_params(layer: Layer, shape_in: tuple, shape_out: tuple) -> int:
    """Parameters a layer will create, computed before it allocates any."""
    a = layer.args
    channels = shape_in[-1] or 1
    if layer.class_name == "Dense":
        return channels * int(a.get("units", 0)) + int(a.get("units", 0))
    if "filters" in a:
        kernel = a.get("kernel_size") or (1,)
        kernel = kernel if isinstance(kernel, tuple) else (kernel,)
        return math.prod(int(k) for k in kernel) * channels * int(a["filters"]) + int(a["filters"])
    if layer.class_name in ("BatchNormalization", "LayerNormalization", "DepthwiseConv2D"):
        return 4 * channels * 9
    return 0


# -- comparison ------------------------------------------------------------------------------------

def fold_activations(layers: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """Merge separate Activation/ReLU/Softmax layers into the linear layer before them."""
    out: list[Layer] = []
    for layer in layers:
        if layer.class_name in _FOLDABLE and out and out[-1].args.get("activation") == "linear":
            activation = _standalone_activation(layer)
            if activation is not None:
                out[-1] = Layer(out[-1].class_name, {**out[-1].args, "activation": activation}, out[-1].name)
                continue
        out.append(layer)
    return tuple(out)


def _standalone_activation(layer: Layer) -> str | None:
    if layer.class_name == "Activation":
        return layer.args.get("activation")
    if layer.class_name == "ReLU" and not layer.args.get("max_value") and not layer.args.get("negative_slope") and not layer.args.get("threshold"):
        return "relu"
    if layer.class_name == "Softmax" and layer.args.get("axis", -1) in (-1, (-1,)):
        return "softmax"
    return None


def same_activation(a: str, b: str) -> bool:
    """Whether two activations compute the same function, compared on sample values, not names."""
    probe = np.linspace(-4.0, 4.0, 17, dtype="float32").reshape(1, -1)
    fa, fb = keras.activations.get(a), keras.activations.get(b)
    return bool(np.allclose(keras.ops.convert_to_numpy(fa(probe)), keras.ops.convert_to_numpy(fb(probe)), atol=1e-6))


@dataclass(frozen=True)
class DiffRow:
    """One row of the layer-by-layer comparison."""

    expected: str | None
    got: str | None
    status: str  # same | changed | missing | extra
    note: str = ""


def expected_layers(entries: list[dict]) -> tuple[Layer, ...]:
    """The spec's expected layers, with their arguments as the config would hold them."""
    layers = []
    for entry in entries:
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k != "class"}
        layers.append(Layer(entry["class"], args, entry["class"].lower()))
    return tuple(layers)


def compare(expected: tuple[Layer, ...], got: tuple[Layer, ...]) -> list[DiffRow]:
    """Align the submitted layers with the expected ones and describe every difference."""
    keys = {e.class_name: tuple(k for k in e.args) for e in expected}
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=[e.class_name for e in expected], b=[g.class_name for g in got], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for e, g in zip(expected[i1:i2], got[j1:j2]):
                rows.append(_pair(e, g, keys.get(e.class_name, ())))
            continue
        pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for e, g in zip(expected[i1:i1 + pairs], got[j1:j1 + pairs]):
            rows.append(DiffRow(e.describe(), g.describe(), "changed", f"expected a {e.class_name} layer here, got {g.class_name}"))
        for e in expected[i1 + pairs:i2]:
            rows.append(DiffRow(e.describe(), None, "missing", f"the {e.class_name} layer is missing"))
        for g in got[j1 + pairs:j2]:
            rows.append(DiffRow(None, g.describe(), "extra", f"this {g.class_name} layer is not in the expected model"))
    return rows


def _pair(e: Layer, g: Layer, keys: tuple[str, ...]) -> DiffRow:
    problems = []
    for key in keys:
        want, have = e.args.get(key), g.args.get(key)
        if key == "activation":
            if not same_activation(want, have or "linear"):
                problems.append(f"activation should be {want}, got {have}")
        elif not _equal(want, have):
            problems.append(f"{key} should be {_show(want)}, got {_show(have)}")
    shown = tuple(dict.fromkeys(keys + (("activation",) if "activation" in g.args and g.args["activation"] != "linear" else ())))
    return DiffRow(e.describe(keys), g.describe(shown), "changed" if problems else "same", "; ".join(problems))


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, tuple) and isinstance(b, (int, float)):
        return all(_equal(x, b) for x in a)
    return a == b


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return str(value.get("class_name", "object"))
    return str(value)


def summary(model: keras.Model) -> list[dict[str, Any]]:
    """Each layer of a built model as plain data: class, output shape, activation, parameters."""
    rows = []
    for layer in model.layers:
        config = layer.get_config()
        activation = config.get("activation")
        rows.append({
            "name": layer.name,
            "class": type(layer).__name__,
            "output_shape": str(tuple(layer.output.shape)) if hasattr(layer, "output") else "",
            "activation": canonical_activation(activation) if isinstance(activation, (str, dict)) else "",
            "params": int(layer.count_params()),
        })
    return rows

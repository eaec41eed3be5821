"""Model architectures on the trusted side: validate a submitted config, rebuild it, read it back canonically.

A submission describes its model as a Keras config (plain JSON). Nothing in it is deserialised by
Keras: every layer class, argument value and nested object is checked against the whitelists
below and the layers are constructed here, by the grader, from plain values. A Lambda layer, a
custom class or an object the grader does not know is refused with a message that names it.
Every argument is checked for its type and range (layer_args.py), and a model is refused before
any weight is allocated if its parameters, its largest layer output or its multiply-adds per image
(model_cost.py) exceed the assignment's limits: the compute bound is what keeps the grader's own
training, evaluation and prediction on the model within its time budget. Comparing a model with the expected one
is grader.trusted.comparison's.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from typing import Any

import keras

from grader.trusted import layer_args, model_cost
from grader.trusted.bounds import shorten
from grader.assignment.spec import Limits

SAFE_LAYERS = (
    "InputLayer", "Dense", "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D",
    "SeparableConv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalMaxPooling2D", "GlobalAveragePooling2D", "Flatten", "Reshape", "Dropout", "SpatialDropout2D",
    "GaussianNoise", "BatchNormalization", "LayerNormalization", "Activation", "ReLU", "LeakyReLU",
    "ELU", "Softmax", "Rescaling", "ZeroPadding2D", "Cropping2D",
)
# Activation functions referred to by their TensorFlow names (tf.nn.softmax is softmax_v2).
ACTIVATION_ALIASES = {"softmax_v2": "softmax", "log_softmax_v2": "log_softmax", "swish": "silu", None: "linear"}
ACTIVATIONS = ("linear", "relu", "relu6", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softmax",
               "log_softmax", "softplus", "softsign", "silu", "gelu", "leaky_relu", "exponential", "mish")
# A layer's name does not change what it computes, autocast only acts on inputs of another dtype than the layer's
# (always float32 here: other dtypes are refused), and build_config repeats the input shape the grader rebuilds from.
_IGNORED_ARGS = ("name", "autocast", "build_config")
MAX_INPUT_RANK = 8
_FOLDABLE = ("Activation", "ReLU", "Softmax")
# The layers a separate activation is folded into: tests/test_memo.py trains every fold into each of them both ways
# and compares the trained weights bit for bit; a layer not listed keeps its activation layer after it.
_FOLDS_INTO = ("Dense", "Conv2D")


class ModelError(Exception):
    """A submitted model the grader cannot or will not rebuild; the message says which layer and why."""


class TooCostly(ModelError):
    """A well-formed model over the assignment's limits on layers, parameters, layer outputs or compute."""


@dataclass(frozen=True)
class Layer:
    """One layer as plain data: its class and its (cleaned) constructor arguments."""

    class_name: str
    args: dict[str, Any]
    name: str = ""
    free: tuple[str, ...] = ()  # an expected layer's arguments the spec lets differ (grader.trusted.comparison)

    def describe(self, keys: tuple[str, ...] | None = None) -> str:
        """`Dense(units=128, activation=relu)`, showing `keys` (default: the telling ones)."""
        keys = keys if keys is not None else tuple(k for k in _TELLING if k in self.args)
        shown = ", ".join(f"{k}={show(self.args.get(k))}" for k in keys if k in self.args)
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
    kind, module = config.get("class_name"), config.get("module")
    body = _mapping(config.get("config"), "the model's config")
    if kind == "Sequential" and module == "keras":
        layers, shape = _parse_entries(body.get("layers"))
    elif kind in ("Functional", "Model") and isinstance(module, str) and module.startswith("keras"):
        layers, shape = _parse_entries(_chain(body))
    else:
        raise ModelError(
            f"the model is a {shorten(kind)!r} ({shorten(module)}), a class of its own; the grader only rebuilds "
            "keras.Sequential models and functional keras.Model(inputs, outputs) built from Keras' own layers."
        )
    if not layers:
        raise ModelError("the model has no layers.")
    return ParsedModel(tuple(layers), shape)


def _mapping(value: Any, what: str) -> dict:
    """`value` if it is a dict (None counts as empty); ModelError otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelError(f"{what} is not a Keras config (a {type(value).__name__}, expected a mapping).")
    return value


def _sequence(value: Any, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ModelError(f"{what} is not a list (a {type(value).__name__}).")
    return value


def _chain(body: dict) -> list[dict]:
    """The layers of a functional model, if they form a single chain from input to output."""
    entries = _sequence(body.get("layers"), "the model's layers")
    previous = None
    for entry in entries:
        entry = _mapping(entry, "a layer's description")
        name = entry.get("name")
        sources = []
        for node in _sequence(entry.get("inbound_nodes"), f"layer {shorten(name)!r}'s inputs"):
            for arg in _sequence(node.get("args"), "a node's inputs") if isinstance(node, dict) else []:
                history = _mapping(arg.get("config"), "an input").get("keras_history") if isinstance(arg, dict) else None
                if not isinstance(history, list) or not history:
                    raise ModelError(f"layer {shorten(name)!r} takes inputs the grader cannot follow.")
                sources.append(history[0])
        if previous is not None and sources != [previous]:
            raise ModelError(
                f"layer {shorten(name)!r} does not take its input from the layer before it; the grader "
                "accepts functional models that are a single chain of layers (no branches, no skips)."
            )
        previous = name
    return entries


def _parse_entries(entries: Any) -> tuple[list[Layer], tuple | None]:
    layers: list[Layer] = []
    shape = None
    for entry in _sequence(entries, "the model's layers"):
        if not isinstance(entry, dict):
            raise ModelError("a layer's description is not a Keras config.")
        kind, module = entry.get("class_name"), entry.get("module")
        body = _mapping(entry.get("config"), "a layer's config")
        name = shorten(body.get("name", "?"))
        if kind == "Sequential" and module == "keras":
            inner, inner_shape = _parse_entries(body.get("layers"))
            layers.extend(inner)
            shape = shape or inner_shape
            continue
        if kind not in SAFE_LAYERS or module != "keras.layers" or entry.get("registered_name") not in (None, kind):
            why = "a Lambda layer runs arbitrary code" if kind == "Lambda" else "it is not one of Keras' built-in layers"
            raise ModelError(
                f"layer {name!r} is a {shorten(kind)} ({shorten(module)}); the grader cannot rebuild it safely "
                f"because {why}. Use Keras' own layers ({', '.join(SAFE_LAYERS[1:8])}, ...)."
            )
        if kind == "InputLayer":
            shape = _input_shape(body.get("batch_shape") or body.get("batch_input_shape"), name)
            continue
        build_config = entry.get("build_config")
        if shape is None and not layers and isinstance(build_config, dict):
            shape = _input_shape(build_config.get("input_shape"), name)
        layers.append(Layer(kind, _arguments(kind, name, body), name))
    return layers, shape


def _input_shape(batch_shape: Any, layer: str) -> tuple[int | None, ...] | None:
    """The shape of one input (batch axis dropped) from a config's batch shape, checked to be a few sizes."""
    if batch_shape is None:
        return None
    if not isinstance(batch_shape, list) or not 1 <= len(batch_shape) <= MAX_INPUT_RANK + 1 or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 < d <= layer_args.MAX_DIM)
            for d in batch_shape):
        raise ModelError(f"layer {layer!r} declares the input shape {shorten(batch_shape)}; expected a few "
                         "positive sizes such as (28, 28, 1).")
    return tuple(batch_shape[1:])


def _arguments(kind: str, name: str, body: dict) -> dict[str, Any]:
    """The layer's constructor arguments, each validated; ModelError names the first one refused."""
    where = f"layer {name!r} ({kind})"
    _float32(body.get("dtype"), where)
    if body.get("quantization_config") is not None:
        raise ModelError(f"{where} is quantized; the grader trains float32 layers only. Remove the quantization.")
    args = {k: v for k, v in body.items() if k not in (*_IGNORED_ARGS, "dtype", "quantization_config")}
    activation = {}
    if "activation" in args and kind in layer_args.HAS_ACTIVATION:
        activation = {"activation": canonical_activation(args.pop("activation"), f"{where}, argument activation")}
    elif kind == "Activation":
        raise ModelError(f"{where} has no activation; name one, e.g. Activation('relu').")
    try:
        return {**layer_args.layer_arguments(kind, args, where), **activation}
    except layer_args.ArgumentError as exc:
        raise ModelError(str(exc)) from None


def _float32(dtype: Any, where: str) -> None:
    """Refuse a layer computing in another dtype than float32: the grader trains float32, so it would not train what
    the submission describes."""
    name = dtype.get("config", {}).get("name") if isinstance(dtype, dict) and isinstance(dtype.get("config"), dict) \
        else dtype
    if dtype is not None and name != "float32":
        raise ModelError(f"{where} computes in {shorten(name if isinstance(name, str) else dtype)}; the grader trains "
                         "float32 models only. Remove the dtype argument (or use dtype='float32').")


def canonical_activation(value: Any, where: str = "activation") -> str:
    """The Keras name of an activation given as a name or a serialised function (tf.nn.relu...)."""
    if isinstance(value, dict) and value.get("class_name") == "function" and value.get("module") in _ACTIVATION_MODULES:
        value = value.get("config")
    if value is None or isinstance(value, str):
        name = ACTIVATION_ALIASES.get(value, value)
        if name in ACTIVATIONS:
            return name
    raise ModelError(f"{where} is {show(value)}, which is not one of Keras' activations ({', '.join(ACTIVATIONS)}).")


_ACTIVATION_MODULES = ("builtins", "keras.activations", "keras.src.activations.activations",
                       "tensorflow.python.ops.nn_ops", "tensorflow.python.ops.gen_nn_ops")


# -- building --------------------------------------------------------------------------------------

def build(layers: tuple[Layer, ...], input_shape: tuple[int, ...], limits: Limits, *,
          batch_size: int | None = None) -> keras.Model:
    """Construct a Sequential model from validated layers, refusing one over the limits before allocating it (with
    `batch_size`, the one it will be trained at, over the limit on training memory as well)."""
    if len(layers) > limits.max_layers:
        raise TooCostly(f"the model has {len(layers):,} layers, more than the {limits.max_layers:,} the grader "
                         "rebuilds; an image classifier needs a handful. Remove layers.")
    constructed, costs = [], []
    shape: tuple = (None, *input_shape)
    outputs = [math.prod(input_shape)]
    for layer in layers:
        instance, out, cost = _shaped(layer, shape, construct=True)
        costs.append(cost)
        _check_size(layer, out, sum(c.params for c in costs), limits)
        constructed.append(instance)
        outputs.append(model_cost.size(out))
        shape = out
    _check_compute(layers, costs, limits)
    if batch_size is not None:
        _check_memory(outputs, sum(c.params for c in costs), batch_size, limits)
    try:
        return keras.Sequential([keras.Input(shape=tuple(input_shape)), *constructed])
    except Exception as exc:  # noqa: BLE001 - shape errors Keras finds only when it builds the layers
        raise ModelError(f"the model cannot be built on input of shape {(None, *input_shape)}: "
                         f"{shorten(str(exc), 300)}") from None


def output_shapes(layers: tuple[Layer, ...], input_shape: tuple[int, ...]) -> list[tuple]:
    """Each layer's output shape (batch axis None) on one image of `input_shape`, without building the model."""
    shape: tuple = (None, *input_shape)
    shapes = []
    for layer in layers:
        _, shape, _ = _shaped(layer, shape)
        shapes.append(shape)
    return shapes


def cost(layers: tuple[Layer, ...], input_shape: tuple[int, ...]) -> model_cost.Cost:
    """Parameters and multiply-adds per image of a model of validated `layers`, without building it."""
    shape: tuple = (None, *input_shape)
    params = macs = 0
    for layer in layers:
        _, shape, one = _shaped(layer, shape)
        params, macs = params + one.params, macs + one.macs
    return model_cost.Cost(params, macs)


def _shaped(layer: Layer, shape: tuple, *, construct: bool = False
            ) -> tuple[keras.layers.Layer | None, tuple, model_cost.Cost]:
    """The layer constructed (no weights yet) if `construct`, else None; its output shape on `shape`, and its cost.

    Without `construct`, the shape and the cost are worked out once per layer and input shape in a process (a layer
    is constructed to find them, about a millisecond, and a grade asks a few dozen times). With it, the layer is
    constructed here, once, as a model being built needs: constructing a layer draws from the random state that
    seeds its weights, so a seeded build must construct the same layers every time, whatever was asked before."""
    try:
        if construct:
            instance = _construct(layer)
            out = tuple(instance.compute_output_shape(shape))
            return instance, out, model_cost.layer_cost(layer.class_name, layer.args, shape, out)
        out, cost = _shape_and_cost(layer.class_name, _frozen(layer.args), tuple(shape))
        return None, out, cost
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras rejects bad arguments with many types
        raise ModelError(f"layer {layer.name!r} {layer.describe()} cannot be built on input of shape {shape}: "
                         f"{shorten(str(exc), 300)}") from None


@functools.lru_cache(maxsize=512)
def _shape_and_cost(class_name: str, args: tuple, shape: tuple) -> tuple[tuple, model_cost.Cost]:
    layer = Layer(class_name, _thawed(args))
    out = tuple(_construct(layer).compute_output_shape(shape))
    return out, model_cost.layer_cost(class_name, layer.args, shape, out)


def _frozen(value: Any) -> Any:
    """A validated argument as a hashable key that tells its types apart (a tuple from a list, 1 from 1.0 and True)."""
    if isinstance(value, dict):
        return ("dict", tuple((k, _frozen(v)) for k, v in sorted(value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    return (type(value).__name__, value)


def _thawed(key: Any) -> Any:
    """The value `_frozen` made `key` of."""
    kind, value = key
    if kind == "dict":
        return {k: _thawed(v) for k, v in value}
    if kind in ("list", "tuple"):
        items = [_thawed(v) for v in value]
        return items if kind == "list" else tuple(items)
    return value


def _check_size(layer: Layer, out: tuple, params: int, limits: Limits) -> None:
    if params > limits.max_params:
        raise TooCostly(f"the model has {params:,} parameters by layer {layer.name!r} {layer.describe()}, more than "
                         f"the {limits.max_params:,} the grader agrees to train. Use fewer units or filters, or pool "
                         "before Flatten.")
    values = model_cost.size(out)
    if values > limits.max_activations:
        raise TooCostly(f"layer {layer.name!r} {layer.describe()} outputs {values:,} values per image, more than the "
                         f"{limits.max_activations:,} the grader allows; use fewer filters or more pooling.")


def _check_compute(layers: tuple[Layer, ...], costs: list[model_cost.Cost], limits: Limits) -> None:
    macs = sum(c.macs for c in costs)
    if macs <= limits.max_macs:
        return
    worst = max(range(len(costs)), key=lambda i: costs[i].macs)
    raise TooCostly(
        f"the model needs {macs:,} multiply-adds per image (layer {layers[worst].name!r} "
        f"{layers[worst].describe()} alone {costs[worst].macs:,}), more than the {limits.max_macs:,} the grader "
        "allows, so it could not be trained and tested within the time budget. Use fewer or smaller layers: "
        "smaller kernels and pool sizes, fewer filters, strides or pooling early."
    )


def _check_memory(outputs: list[int], params: int, batch_size: int, limits: Limits) -> None:
    needed = model_cost.training_bytes(outputs, params, batch_size)
    if needed <= limits.max_training_mb * 2**20:
        return
    raise TooCostly(
        f"the model needs {_gigabytes(needed)} of memory to train (every layer's output for a batch of {batch_size} "
        f"images is kept for backpropagation: {sum(outputs[1:]):,} values per image in all); the limit is "
        f"{_gigabytes(limits.max_training_mb * 2**20)}. Make it smaller: fewer layers, fewer filters, or pooling early."
    )


def _gigabytes(count: int) -> str:
    return f"{count / 2**30:.1f} GB" if count >= 2**30 else f"{count / 2**20:,.0f} MB"


def _construct(layer: Layer) -> keras.layers.Layer:
    cls = getattr(keras.layers, layer.class_name)
    args = {k: _materialise(v) for k, v in layer.args.items() if v is not None or k in ("activation",)}
    return cls(**args)


def _materialise(value: Any) -> Any:
    """A validated argument as Keras takes it: nested objects (initializers...) constructed here."""
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _materialise(v) for k, v in value.items()}
    if isinstance(value, dict):
        module = getattr(keras, value["module"].split(".")[1])
        return getattr(module, value["class_name"])(**{k: _materialise(v) for k, v in value["config"].items()})
    return value


# -- canonical form --------------------------------------------------------------------------------

def fold_activations(layers: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """Merge separate Activation/ReLU/Softmax layers that compute a plain activation into the linear Dense or Conv2D
    layer before them (trained, the two forms give the same weights to the bit)."""
    out: list[Layer] = []
    for layer in layers:
        if (layer.class_name in _FOLDABLE and out and out[-1].class_name in _FOLDS_INTO
                and out[-1].args.get("activation") == "linear"):
            activation = _standalone_activation(layer)
            if activation is not None:
                out[-1] = dataclasses.replace(out[-1], args={**out[-1].args, "activation": activation},
                                              free=tuple(dict.fromkeys((*out[-1].free, *layer.free))))
                continue
        out.append(layer)
    return tuple(out)


def _standalone_activation(layer: Layer) -> str | None:
    """The activation `layer` computes if it is exactly a named one, else None. A ReLU with a cap, a slope or a
    threshold is another function (max_value=0 makes every output 0): it is kept as it is."""
    args = layer.args
    if args.get("trainable") is False:
        return None  # kept as written: a frozen activation layer is odd, not worth a proof that it trains the same
    if layer.class_name == "Activation":
        return args.get("activation")
    if layer.class_name == "ReLU" and args.get("max_value") is None and _is_zero(args.get("negative_slope", 0.0)) \
            and _is_zero(args.get("threshold", 0.0)):
        return "relu"
    if layer.class_name == "Softmax" and args.get("axis", -1) in (-1, (-1,)):
        return "softmax"
    return None


def _is_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def canonical(layers: tuple[Layer, ...], *, construct: bool = False) -> tuple[Layer, ...]:
    """The one description of `layers` that a training is made from and keyed by (grader.trusted.memo): exact folds
    of separate activations, every argument as Keras reads it back from the constructed layer (defaults spelt out,
    lists as tuples), no names. canonical(canonical(x)) == canonical(x). With `construct`, see `read_back`."""
    return tuple(Layer(layer.class_name, read_back(layer, construct=construct).args, "")
                 for layer in fold_activations(layers))


def read_back(layer: Layer, *, construct: bool = False) -> Layer:
    """`layer` with every argument as Keras reads it back from the constructed layer: its defaults spelt out, lists as
    tuples, values in the form a submitted config holds them (name and free arguments kept).

    The layer is constructed once per process for the same arguments; with `construct`, every time, as training has
    always done after seeding (constructing a layer draws from the seeded random state, see `_shaped`)."""
    try:
        config = json.loads(_config.__wrapped__(layer.class_name, _frozen(layer.args)) if construct
                            else _config(layer.class_name, _frozen(layer.args)))
    except Exception as exc:  # noqa: BLE001 - Keras rejects bad arguments with many types
        raise ModelError(f"layer {layer.name!r} {layer.describe()} cannot be built: {shorten(str(exc), 300)}") \
            from None
    return dataclasses.replace(layer, args=_arguments(layer.class_name, layer.name, config))


@functools.lru_cache(maxsize=512)
def _config(class_name: str, args: tuple) -> str:
    """The config Keras reads back from a layer of these arguments, as JSON text: worked out once per process."""
    return json.dumps(as_plain(_construct(Layer(class_name, _thawed(args))).get_config()))


def described(model: keras.Model, *, construct: bool = False) -> tuple[Layer, ...]:
    """The canonical description of a built model: what was actually trained, read back from the model itself (with
    `construct`, see `read_back`)."""
    return canonical(parse(as_plain(keras.saving.serialize_keras_object(model))).layers, construct=construct)


def as_plain(value: Any) -> Any:
    """A config as JSON holds it (tuples as lists), as a submitted config arrives."""
    return json.loads(json.dumps(value, default=lambda v: list(v) if isinstance(v, (tuple, set)) else repr(v)))


def show(value: Any) -> str:
    """A value as a message shows it, never longer than a line."""
    if isinstance(value, tuple):
        return shorten("(" + ", ".join(show(v) for v in value[:20]) + ("," if len(value) == 1 else "") + ")")
    if isinstance(value, dict):
        return shorten(str(value.get("class_name", "object")))
    return shorten(value if isinstance(value, str) else str(value))


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

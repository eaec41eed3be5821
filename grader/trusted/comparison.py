"""The layer diff: a submitted model's layers against the expected ones, argument by argument.

Both sides are read back from Keras (architecture.read_back) before they are compared: an argument the spec does
not give takes Keras' default for that layer class, and every value is in the form a layer's config holds it, so
`kernel_size=3` and `(3, 3)`, MaxPooling2D's `strides=None` and its pool size, 'swish' and 'silu' are the same. Then
every argument of the layer's config is compared, except these, which change neither what the layer computes nor
its parameters:

| argument                                   | why it is not compared                                                 |
|--------------------------------------------|------------------------------------------------------------------------|
| `name`                                     | a label                                                                |
| `dtype`, `autocast`, `quantization_config` | a layer that does not compute in float32 is refused when parsed        |
| `build_config`                             | repeats the input shape, which the model check compares on its own     |
| `seed` (a layer's, or an initializer's)    | picks one draw from the same distribution: any seed is as right as     |
|                                            | another, and the accuracy threshold is calibrated over several seeds   |
| those the spec lists in the layer's `free` | the assignment lets them differ                                        |

The first three never reach a parsed layer's arguments (architecture._IGNORED_ARGS); NOT_COMPARED holds the fourth.
So units, filters, kernel_size, strides, padding, dilation_rate, groups, use_bias, data_format, activation, pool_size,
rate, noise_shape, axis, epsilon, center, scale, momentum, every initializer, regularizer and constraint, and
`trainable` (the grader trains the model: a frozen layer keeps its initial weights) are compared. Activations are
compared by what they compute, numbers within a relative 1e-6.

Each layer's output shape rides along in the rows (with `input_shape`), and the model check compares the models'
parameter counts: both follow from the arguments, so they differ when an argument does, a free one included.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from grader.trusted.architecture import Layer, output_shapes, read_back, show

NOT_COMPARED = ("seed",)
KERAS_DEFAULT = "Keras' default"


@dataclass(frozen=True)
class DiffRow:
    """One row of the layer-by-layer comparison."""

    expected: str | None
    got: str | None
    status: str  # same | changed | missing | extra
    note: str = ""
    args: tuple[str, ...] = ()  # the arguments that differ, in a changed row of the expected class
    expected_shape: str = ""    # the layers' output shapes, in a row that pairs two layers
    got_shape: str = ""


def expected_layers(entries: list[dict]) -> tuple[Layer, ...]:
    """The spec's expected layers, with the arguments it gives as a config would hold them and its `free` ones."""
    layers = []
    for entry in entries:
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k not in ("class", "free")}
        layers.append(Layer(entry["class"], args, entry["class"].lower(), tuple(entry.get("free", ()))))
    return tuple(layers)


def compare(expected: tuple[Layer, ...], got: tuple[Layer, ...],
            input_shape: tuple[int, ...] | None = None) -> list[DiffRow]:
    """Align the submitted layers (activations folded) with the expected ones and describe every difference; with
    `input_shape`, the rows that pair two layers carry both output shapes on it."""
    full, mine = tuple(read_back(e) for e in expected), tuple(read_back(g) for g in got)
    wanted, shapes = (output_shapes(full, input_shape), output_shapes(mine, input_shape)) if input_shape else ([], [])

    def outputs(i: int, j: int) -> dict[str, str]:
        return {"expected_shape": str(wanted[i]), "got_shape": str(shapes[j])} if input_shape else {}

    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=[e.class_name for e in expected], b=[g.class_name for g in got], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                rows.append(_pair(expected[i], full[i], mine[j], outputs(i, j)))
            continue
        pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for i, j in zip(range(i1, i1 + pairs), range(j1, j1 + pairs)):
            e, g = expected[i], got[j]
            rows.append(DiffRow(e.describe(), g.describe(), "changed",
                                f"expected a {e.class_name} layer here, got {g.class_name}", **outputs(i, j)))
        for e in expected[i1 + pairs:i2]:
            rows.append(DiffRow(e.describe(), None, "missing", f"the {e.class_name} layer is missing"))
        for g in got[j1 + pairs:j2]:
            rows.append(DiffRow(None, g.describe(), "extra", f"this {g.class_name} layer is not in the expected model"))
    return rows


def _pair(stated: Layer, e: Layer, g: Layer, outputs: dict[str, str]) -> DiffRow:
    """The row of two layers of one class: `e` and `g` read back, `stated` the expected layer as the spec gives it."""
    compared = (key for key in dict.fromkeys((*e.args, *g.args)) if key not in NOT_COMPARED and key not in e.free)
    differing = tuple(key for key in compared if not _same(key, e.args.get(key), g.args.get(key)))
    notes = [f"{key} is {_value(g.args.get(key))}, expected {_value(e.args.get(key))}"
             + ("" if key in stated.args else f" ({KERAS_DEFAULT})") for key in differing]
    keys = tuple(dict.fromkeys((*stated.args, *differing)))
    active = g.args.get("activation", "linear") != "linear" and "activation" not in keys
    shown = keys + (("activation",) if active else ())
    return DiffRow(e.describe(keys), g.describe(shown), "changed" if differing else "same",
                   f"{e.class_name} " + "; ".join(notes) if notes else "", differing, **outputs)


def _same(key: str, want: Any, have: Any) -> bool:
    if key == "activation":
        return same_activation(want or "linear", have or "linear")
    return _equal(_comparable(want), _comparable(have))


def _comparable(value: Any) -> Any:
    """A nested object (initializer...) without the arguments that are not compared (its seed)."""
    if isinstance(value, dict) and isinstance(value.get("config"), dict):
        return {**value, "config": {k: v for k, v in value["config"].items() if k not in NOT_COMPARED}}
    return value


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, tuple) and isinstance(b, (int, float)):
        return all(_equal(x, b) for x in a)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _value(value: Any) -> str:
    """An argument's value as a student would write it: strings quoted, initializers as L2(l2=0.01)."""
    if isinstance(value, str):
        return repr(show(value))
    if isinstance(value, dict) and isinstance(value.get("config"), dict):
        config = ", ".join(f"{k}={_value(v)}" for k, v in value["config"].items()
                           if v is not None and k not in NOT_COMPARED)
        return f"{show(value.get('class_name'))}({config})"
    return show(value)


def same_activation(a: str, b: str) -> bool:
    """Whether two activations compute the same function, compared on sample values, not names."""
    probe = np.linspace(-4.0, 4.0, 17, dtype="float32").reshape(1, -1)
    fa, fb = keras.activations.get(a), keras.activations.get(b)
    return bool(np.allclose(keras.ops.convert_to_numpy(fa(probe)), keras.ops.convert_to_numpy(fb(probe)), atol=1e-6))

"""What an assignment.toml may hold: the keys of each table and of each kind of check, and their types.

A typo (`min_acuracy`, `[trainig]`, `class = "dense"` where a table is expected) is a SpecError naming the file,
the table and the key, with the nearest known key, when the spec is loaded: never a traceback later, and never a
"grader fault" shown to a student. Layer classes, their arguments and the arguments each declares `free` are checked
against the trusted rebuild's whitelist (grader.trusted.layer_args); the values, when the model check builds them.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

TOP = ("assignment", "data", "limits", "training", "checks", "gradescope")
ASSIGNMENT = ("name", "title", "module", "functions", "preload")
CHECK = ("name", "kind", "points", "description", "function", "visibility")
PROBES = ("train_images", "test_images")


def _number(low: float, high: float | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < low or (
                high is not None and value > high):
            return f"a number {'in [%g, %g]' % (low, high) if high is not None else '>= %g' % low}"
        return ""
    return check


def _integer(low: int) -> Callable[[Any], str]:
    return lambda v: "" if isinstance(v, int) and not isinstance(v, bool) and v >= low else f"a whole number >= {low}"


def _strings(value: Any) -> str:
    return "" if isinstance(value, list) and all(isinstance(v, str) for v in value) else "a list of strings"


def _integers(value: Any) -> str:
    ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    return "" if ok else "a list of whole numbers > 0"


def _string(value: Any) -> str:
    return "" if isinstance(value, str) else "a string"


def _table(value: Any) -> str:
    return "" if isinstance(value, dict) else "a table"


def _hints(value: Any) -> str:
    ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return "" if ok else "a table of mistake codes to hint strings ([checks.hints])"


def _probe(value: Any) -> str:
    return "" if value in PROBES else f"one of {', '.join(PROBES)}"


def _layers(value: Any) -> str:
    """Layer tables whose classes and argument names the trusted rebuild knows (its whitelist is plain data, with no
    Keras: grader.trusted.layer_args); their values are checked when the model check builds the expected model."""
    from grader.trusted.layer_args import HAS_ACTIVATION, LAYERS

    if not isinstance(value, list) or not value:
        return "a list of layer tables, such as { class = \"Dense\", units = 128 }"
    for i, layer in enumerate(value):
        if not isinstance(layer, dict) or not isinstance(layer.get("class"), str):
            return f"a list of layer tables, each with a class (layer {i + 1} is {layer!r})"
        kind = layer["class"]
        if kind not in LAYERS:
            near = difflib.get_close_matches(kind, list(LAYERS), n=1, cutoff=0.6)
            return (f"a list of layers the grader can build; layer {i + 1}'s class {kind!r} is not one"
                    + (f" (did you mean {near[0]!r}?)" if near else ""))
        known = (*LAYERS[kind], *(("activation",) if kind in HAS_ACTIVATION else ()), "trainable")
        problem = unknown([k for k in layer if k not in ("class", "free")], known, f"layer {i + 1} ({kind})")
        if problem:
            return f"a list of layers with known arguments; {problem}"
        problem = _free(layer.get("free", []), layer, known, f"layer {i + 1} ({kind})")
        if problem:
            return problem
    return ""


def _free(value: Any, layer: dict, known: tuple[str, ...], where: str) -> str:
    """Why a layer's `free` (the arguments a submission's layer may set as it likes) is not a list of its arguments
    that the spec leaves unset, or ''."""
    if _strings(value):
        return f"a list of layers whose free is a list; {where}: free is {value!r}, expected argument names such as " \
               "[\"kernel_initializer\"]"
    problem = unknown(value, known, f"{where} free")
    if problem:
        return f"a list of layers with known arguments; {problem}"
    given = [name for name in value if name in layer]
    if given:
        return (f"a list of layers, each argument given or free; {where}: {given[0]!r} is both given "
                f"({given[0]} = {layer[given[0]]!r}) and free, keep one of the two")
    return ""


_PROBED = {"probe": _probe, "count": _integer(1), "prepare": _strings}
_COMMON = {"timeout": _number(0.001), "hints": _hints}
# Each kind's parameters (besides CHECK's), with the type each must have; those in REQUIRED must be there.
KINDS: dict[str, dict[str, Callable[[Any], str]]] = {
    "array": {**_PROBED, **_COMMON},
    "values": {"args": lambda v: "" if isinstance(v, list) else "a list", **_COMMON},
    "model": {"kwargs": _table, "input_shape": _integers, "output_shape": _integers, "layers": _layers, **_COMMON},
    "compile": {"optimizer": _string, "loss": _string, "metric": _string, **_COMMON},
    "training": {"min_accuracy": _number(0, 1)},
    "predict": {**_PROBED, **_COMMON},
    "model_output": {**_PROBED, "transform": _string, "atol": _number(0), "rtol": _number(0), **_COMMON},
}
REQUIRED = {"model": ("input_shape", "layers"), "compile": ("optimizer", "loss"), "training": ("min_accuracy",),
            "array": ("function",), "values": ("function",), "predict": ("function",), "model_output": ("function",)}


def unknown(keys: Any, known: tuple[str, ...] | dict, where: str) -> str:
    """The message for the first key of `keys` not in `known` (with the nearest known one), or ''."""
    for key in keys:
        if key not in known:
            near = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            return f"{where}: unknown key {key!r}{hint} Known: {', '.join(known)}."
    return ""


def check_params(kind: str, entry: dict[str, Any], where: str) -> str:
    """Why the parameters of a check of `kind` are not what that kind takes, or ''."""
    allowed = KINDS[kind]
    problem = unknown([k for k in entry if k not in CHECK], allowed, f"{where} (a {kind} check)")
    if problem:
        return problem
    for key in REQUIRED.get(kind, ()):
        if key not in entry:
            return f"{where}: a {kind} check needs {key!r}."
    for key, value in entry.items():
        if key in allowed:
            expected = allowed[key](value)
            if expected:
                shown = repr(value)
                return f"{where}: {key} must be {expected}, got {shown[:200]}{'...' if len(shown) > 200 else ''}."
    return ""

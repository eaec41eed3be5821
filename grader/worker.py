"""The sandboxed side: imports a submission and calls its functions on the grader's request.

Runs in a sandbox child forked from the zygote (zygote.py calls `limit` and then `serve`), with
resource limits set (see sandbox.py). Everything here is untrusted from the
grader's point of view: the submission can patch or replace any of it, so the grader validates
every answer and never lets this process see the test labels.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from grader import protocol

MAX_TEXT = 4000
_GRADER_DIR = str(Path(__file__).resolve().parent)
_SUBMISSION: dict[str, str] = {"dir": ""}
# Bound before any submitted code runs, so that patching numpy does not change these answers.
_array_equal, _asarray, _copy = np.array_equal, np.asarray, np.copy


def serve(read_fd: int, write_fd: int, versions: dict[str, str]) -> int:
    """Answer the grader's requests until it closes the channel."""
    protocol.send(write_fd, {"op": "ready", "versions": versions, "pid": os.getpid()})
    state: dict[str, Any] = {}
    while True:
        try:
            request, arrays = protocol.receive(read_fd)
        except protocol.Closed:
            return 0
        handler = HANDLERS.get(request.get("op"))
        if handler is None:
            header, out = {"ok": False, "error": {"type": "GraderError", "message": f"unknown op {request.get('op')!r}"}}, {}
        else:
            header, out = _guarded(handler, state, request, arrays)
        _flush()
        protocol.send(write_fd, header, out)


def _flush() -> None:
    """Flush what the submission printed; past the file-size limit the rest is dropped, not fatal."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def limit(cpu_seconds: int, memory_bytes: int, file_bytes: int, processes: int = 0) -> None:
    """Apply the sandbox's rlimits to this process: CPU seconds, address space (0: a cgroup bounds memory
    instead), file size, processes (0: not limited here), no core dumps. Hard limits too, so that
    submitted code cannot raise them again; past the CPU soft limit, SIGKILL follows 5 s later."""
    wanted = [(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 5), (resource.RLIMIT_FSIZE, file_bytes, file_bytes),
              (resource.RLIMIT_CORE, 0, 0)]
    if memory_bytes:
        wanted.append((resource.RLIMIT_AS, memory_bytes, memory_bytes))
    if processes:
        wanted.append((resource.RLIMIT_NPROC, processes, processes))
    for which, soft, hard in wanted:
        _, current = resource.getrlimit(which)
        if current != resource.RLIM_INFINITY:
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(which, (soft, hard))


def _guarded(handler: Callable, state: dict, request: dict, arrays: dict) -> tuple[dict, dict]:
    try:
        header, out = handler(state, request, arrays)
        return {"ok": True, **header}, out
    except BaseException as exc:  # noqa: BLE001 - a submission may raise anything, SystemExit included
        return {"ok": False, "error": describe(exc)}, {}


def describe(exc: BaseException) -> dict[str, Any]:
    """A plain-data description of an exception raised by submitted code."""
    info: dict[str, Any] = {"type": type(exc).__name__, "message": _text(exc)}
    if isinstance(exc, SyntaxError):
        info.update(line=exc.lineno, offset=exc.offset, code=(exc.text or "").rstrip()[:200], message=str(exc.msg)[:MAX_TEXT])
    if isinstance(exc, ImportError):
        info["module"] = exc.name
    if isinstance(exc, SystemExit):
        info["code"] = exc.code if isinstance(exc.code, (int, type(None))) else _text(exc.code)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_GRADER_DIR)]
    own = [f for f in frames if _SUBMISSION["dir"] and f.filename.startswith(_SUBMISSION["dir"])]
    if own and not info.get("line"):
        info["line"] = own[-1].lineno
    if frames:
        info["traceback"] = "".join(traceback.format_list(frames[-8:]))[-MAX_TEXT:]
    return info


def _text(value: Any) -> str:
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001 - __str__ is submission code too
        text = "<the exception could not be turned into text>"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " [...]"


def _load(state: dict, request: dict, arrays: dict) -> tuple[dict, dict]:
    path = Path(request["path"])
    _SUBMISSION["dir"] = str(path.parent)
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    state["module"] = module
    found = {name: callable(getattr(module, name, None)) for name in request.get("functions", [])}
    return {"functions": found}, {}


def _function(state: dict, name: str) -> Callable:
    return getattr(state["module"], name)


def _call(state: dict, request: dict, arrays: dict) -> tuple[dict, dict]:
    inputs = [arrays[name] for name in request.get("args", [])]
    before = [_copy(x) for x in inputs]
    result = _function(state, request["function"])(*inputs, **request.get("kwargs", {}))
    modified = any(not _same(a, b) for a, b in zip(before, inputs))
    header, out = {"returned": _type_name(result), "input_modified": modified}, {}
    array = _as_array(result)
    if array is not None:
        out["result"] = array
    return header, out


def _build(state: dict, request: dict, arrays: dict) -> tuple[dict, dict]:
    import keras

    model = _function(state, request["function"])(**request.get("kwargs", {}))
    header: dict[str, Any] = {"returned": _type_name(model)}
    if isinstance(model, keras.Model):
        header["config"] = keras.saving.serialize_keras_object(model)
    return header, {}


def _compile(state: dict, request: dict, arrays: dict) -> tuple[dict, dict]:
    import keras

    model = keras.saving.deserialize_keras_object(request["model"])
    returned = _function(state, request["function"])(model)
    header: dict[str, Any] = {"returned": _type_name(returned)}
    target = model if returned is None else returned
    if isinstance(target, keras.Model):
        header["compiled"] = bool(getattr(target, "compiled", False))
        header["config"] = target.get_compile_config() if header["compiled"] else None
    return header, {}


def _predict(state: dict, request: dict, arrays: dict) -> tuple[dict, dict]:
    import keras

    model = keras.saving.deserialize_keras_object(request["model"])
    count = request["weights"]
    model.set_weights([arrays[f"w{i}"] for i in range(count)])
    images = arrays["images"]
    before = _copy(images)
    result = _function(state, request["function"])(model, images)
    after = model.get_weights()
    changed = any(not _same(arrays[f"w{i}"], w) for i, w in enumerate(after))
    header = {"returned": _type_name(result), "input_modified": not _same(before, images), "weights_changed": changed}
    array = _as_array(result)
    return header, ({"result": array} if array is not None else {})


def _same(a: np.ndarray, b: Any) -> bool:
    b = _asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and bool(_array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def _as_array(value: Any) -> np.ndarray | None:
    """Numeric arrays travel back; anything else is described by its type name only."""
    if value is None or isinstance(value, (str, bytes, dict)):
        return None
    try:
        array = _asarray(value.numpy() if hasattr(value, "numpy") else value)
    except Exception:  # noqa: BLE001
        return None
    if array.dtype.kind not in "biuf":
        return None
    return array


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__


HANDLERS: dict[str, Callable] = {"load": _load, "call": _call, "build": _build, "compile": _compile, "predict": _predict}


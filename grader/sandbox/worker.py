"""The sandboxed side: imports a submission and calls its functions on the grader's request.

Runs in a sandbox child forked from the zygote (zygote.py calls `limit` and then `serve`), with
resource limits set (see sandbox.py). Everything here is untrusted from the
grader's point of view: the submission can patch or replace any of it, so the grader validates
every answer and never lets this process see the test labels.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from grader.sandbox import protocol

MAX_TEXT = 4000
MAX_VALUES = 10_000  # items of a plain answer (the values op), all lists together
DEFAULT_OUTPUT_CHARS = 1 << 20
_GRADER_DIR = str(Path(__file__).resolve().parent)
_SUBMISSION: dict[str, str] = {"dir": ""}
# Bound before any submitted code runs, so that patching numpy does not change these answers.
_array_equal, _asarray, _copy = np.array_equal, np.asarray, np.copy
_dumps = json.dumps


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
        if _OUTPUT.dropped:
            header["output_dropped"] = _OUTPUT.dropped
        protocol.send(write_fd, header, out)


class _OutputBudget:
    """How much more the submission may print, and how much it printed past that (dropped, never fatal)."""

    def __init__(self) -> None:
        self.left = DEFAULT_OUTPUT_CHARS
        self.dropped = 0


_OUTPUT = _OutputBudget()


class _BoundedStream:
    """sys.stdout or sys.stderr for submitted code: writes within the shared budget go through, the rest are
    counted and dropped, so printing is never what stops a submission (a file-size limit would make it fatal)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: Any) -> int:
        text = text if isinstance(text, str) else str(text)
        kept = text[:max(_OUTPUT.left, 0)]
        _OUTPUT.left -= len(kept)
        _OUTPUT.dropped += len(text) - len(kept)
        if kept:
            try:
                self._stream.write(kept)
            except (OSError, ValueError):
                pass  # the log file is full or closed: printing still does not fail
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _bound_output(chars: int) -> None:
    _OUTPUT.left = chars
    if not isinstance(sys.stdout, _BoundedStream):
        sys.stdout, sys.stderr = _BoundedStream(sys.stdout), _BoundedStream(sys.stderr)


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
    if isinstance(exc, (NameError, AttributeError)):
        info["message"] += _suggestion(exc)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_GRADER_DIR) and not f.filename.startswith("<frozen ")]
    own = [f for f in frames if _SUBMISSION["dir"] and f.filename.startswith(_SUBMISSION["dir"] + os.sep)]
    if own and not info.get("line"):
        info["line"] = own[-1].lineno
    if own and own[0].name == "<module>":  # raised while the module's top-level code ran: that statement's line
        info["top_line"], info["top_code"] = own[0].lineno, _text(own[0].line or "")[:200]
    if frames:
        info["traceback"] = "".join(traceback.format_list([_shown(f) for f in frames[-8:]]))[-MAX_TEXT:]
    info["message"] = _unsandboxed(info["message"])
    return info


def _suggestion(exc: BaseException) -> str:
    """Python's own ". Did you mean: 'images'?" for a NameError or AttributeError, or "". Python 3.11 adds it only
    when it prints an exception (sys.__excepthook__), not to str(exc) nor to the traceback module's text."""
    if "Did you mean" in _text(exc):
        return ""
    printed, stderr = _Capture(), sys.stderr
    sys.stderr = printed
    try:
        sys.__excepthook__(type(exc), exc, exc.__traceback__)
    except BaseException:  # noqa: BLE001 - printing runs submitted __str__ and __dir__ too
        return ""
    finally:
        sys.stderr = stderr
    last = printed.text().rstrip("\n").rpartition("\n")[2]
    at = last.rfind(". Did you mean: ")
    return last[at:][:200] if at >= 0 and last.endswith("?") else ""


class _Capture:
    """A stand-in for sys.stderr that keeps the last MAX_TEXT characters written to it."""

    def __init__(self) -> None:
        self.kept = ""

    def write(self, text: str) -> int:
        self.kept = (self.kept + str(text))[-MAX_TEXT:]
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return self.kept


def _shown(frame: traceback.FrameSummary) -> traceback.FrameSummary:
    """`frame` with its file named as the student knows it: their own file relative to their folder, a library by
    its package path, never the sandbox's folders or the grader's."""
    return traceback.FrameSummary(_shown_path(frame.filename), frame.lineno, frame.name, line=frame.line,
                                  lookup_line=False)


def _shown_path(filename: str) -> str:
    own = _SUBMISSION["dir"]
    if own and filename.startswith(own + os.sep):
        return filename[len(own) + 1:]
    for marker in (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}"):
        if marker in filename:
            return filename.rpartition(marker)[2]
    return filename


def _unsandboxed(text: str) -> str:
    """`text` with the sandbox's folder of the submission left out of the paths it names."""
    own = _SUBMISSION["dir"]
    return text.replace(own + os.sep, "") if own else text


def _text(value: Any) -> str:
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001 - __str__ is submission code too
        text = "<the exception could not be turned into text>"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " [...]"


def _files(state: dict, request: dict, arrays: dict) -> tuple[dict, dict]:
    """Write the submission's files, sent as bytes, into the folder `into` (in its home, a tmpfs of its own mount
    namespace that the grader does not reach): before any submitted code has run."""
    folder = Path(request["into"])
    folder.mkdir(exist_ok=True)
    for key, name in request["names"].items():
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"refused file name {name!r}")
        target = folder.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb") as handle:
            handle.write(arrays[key].tobytes())
    return {"written": len(request["names"])}, {}


def _load(state: dict, request: dict, arrays: dict) -> tuple[dict, dict]:
    _bound_output(int(request.get("output_chars", DEFAULT_OUTPUT_CHARS)))
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
    """Call the function on one model given with several sets of weights (w<set>_<i>), each on a fresh copy of the
    images: one answer per set, and whether that call changed its images or its weights."""
    import keras

    layers = _dumps(request["model"], sort_keys=True)
    if state.get("layers") != layers:  # a request with the same layers as the last one sets other weights on its model
        state["layers"], state["model"] = layers, keras.saving.deserialize_keras_object(request["model"])
    model = state["model"]
    model.run_eagerly = True  # model.predict on a few images: tracing a graph for them would cost more than it saves
    count, function = request["weights"], _function(state, request["function"])
    answers, out = [], {}
    for k in range(int(request.get("sets", 1))):
        weights = [arrays[f"w{k}_{i}"] for i in range(count)]
        model.set_weights(weights)
        images = _copy(arrays["images"])
        result = function(model, images)
        changed = any(not _same(w, after) for w, after in zip(weights, model.get_weights()))
        answers.append({"returned": _type_name(result), "input_modified": not _same(arrays["images"], images),
                        "weights_changed": changed})
        array = _as_array(result)
        if array is not None:
            out[f"result{k}"] = array
    return {"answers": answers}, out


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


def _values(state: dict, request: dict, arrays: dict) -> tuple[dict, dict]:
    result = _function(state, request["function"])(*request.get("args", []))
    header: dict[str, Any] = {"returned": _type_name(result)}
    try:
        header["value"] = _plain(result, [MAX_VALUES])
    except (TypeError, ValueError):
        pass  # not plain data: the grader is told its type only
    return header, {}


def _plain(value: Any, budget: list[int], depth: int = 0) -> Any:
    """`value` as JSON data (str, int, float, bool, None, and lists of them, numpy arrays and scalars included),
    at most MAX_VALUES items and 4 levels deep; TypeError or ValueError for anything else."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.dtype.kind in "biufU"):
        return _plain(value.tolist(), budget, depth)
    if isinstance(value, (list, tuple)) and depth < 4:
        budget[0] -= len(value)
        if budget[0] < 0:
            raise ValueError("too many items")
        return [_plain(item, budget, depth + 1) for item in value]
    raise TypeError(type(value).__name__)


HANDLERS: dict[str, Callable] = {"files": _files, "load": _load, "call": _call, "build": _build, "compile": _compile, "predict": _predict,
                                 "values": _values}


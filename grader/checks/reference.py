"""The expected answers the checks compare with: the reference solution's functions, or a student kit's record of them.

The checks ask the reference three things, none of which depends on the submission: a function's answer to the
grader's own input (`call`: preparing data, the array and values checks' expectations), whether it defines a
function (`defines`), and the compile settings its compile function sets on the expected model
(`compile_config`). In the instructor's course these come from the reference module (trusted code of the
course's). In a student kit they come from answers.npz and answers.json, which `Recorder` wrote down while the
reference was graded: the kit holds answers to the public checks' questions and nothing else.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader import tflog
from grader.assignment import kit
from grader.assignment.spec import Assignment, SpecError


def plain(value: Any) -> Any:
    """An answer as JSON-like plain data (tuples as lists), as the sandbox sends the submission's."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    return value


def key(function: str, args: tuple[Any, ...]) -> str:
    """The sha256 naming a call: the function's name and each argument (an array by dtype, shape and bytes; anything
    else as JSON)."""
    digest = hashlib.sha256(function.encode() + b"\0")
    for arg in args:
        if isinstance(arg, np.ndarray):
            array = np.ascontiguousarray(arg)
            digest.update(f"array:{array.dtype.str}:{array.shape};".encode())
            digest.update(array.data)
        else:
            digest.update(b"json:" + json.dumps(arg, sort_keys=True).encode())
        digest.update(b"\0")
    return digest.hexdigest()


class CodeReference:
    """The course's reference solution, imported in the grader's trusted process."""

    def __init__(self, path: Path) -> None:
        if path is None or not path.is_file():
            raise SpecError(f"the reference solution {path} is missing; every assignment of a course needs "
                            "solutions/<name>/<module> beside its assignments/ folder.")
        spec = importlib.util.spec_from_file_location(f"_reference_{path.parent.name}", path)
        self.module: ModuleType = importlib.util.module_from_spec(spec)
        with tflog.muted():  # it may be what imports TensorFlow first (`grader release`)
            spec.loader.exec_module(self.module)
        self.digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def defines(self, function: str) -> bool:
        return callable(getattr(self.module, function, None))

    def call(self, function: str, *args: Any) -> Any:
        return getattr(self.module, function)(*args)

    def compile_config(self, function: str, model: Any) -> dict[str, Any]:
        """The compile config the reference's `function` sets on `model`, as plain data (as the sandbox sends one)."""
        from grader.sandbox.protocol import as_sent

        returned = getattr(self.module, function)(model)
        return as_sent((model if returned is None else returned).get_compile_config())


class Recorder:
    """A CodeReference that writes down every answer it gives, for a student kit."""

    def __init__(self, reference: CodeReference) -> None:
        self.reference = reference
        self.digest = reference.digest
        self.calls: dict[str, dict[str, Any]] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.compiled: dict[str, Any] = {}
        self.defined: dict[str, bool] = {}

    def defines(self, function: str) -> bool:
        self.defined[function] = self.reference.defines(function)
        return self.defined[function]

    def call(self, function: str, *args: Any) -> Any:
        name = key(function, args)  # before the call, which might change its arguments
        answer = self.reference.call(function, *args)
        if isinstance(answer, np.ndarray) or hasattr(answer, "numpy"):
            self.arrays[name] = np.array(answer)
            self.calls[name] = {"function": function, "array": name}
        else:
            self.calls[name] = {"function": function, "value": plain(answer)}
        return answer

    def compile_config(self, function: str, model: Any) -> dict[str, Any]:
        self.compiled[function] = _unnamed(self.reference.compile_config(function, model))
        return self.compiled[function]

    def index(self) -> dict[str, Any]:
        """What answers.json holds."""
        return {"calls": dict(sorted(self.calls.items())), "compile": self.compiled,
                "defines": dict(sorted(self.defined.items()))}


def _unnamed(value: Any) -> Any:
    """`value` without the names Keras numbers per process ("adam_1"), which the grader ignores: the same reference
    gives the same kit in any process."""
    if isinstance(value, dict):
        return {k: _unnamed(v) for k, v in value.items() if not (k == "name" and "config" not in value)}
    if isinstance(value, list):
        return [_unnamed(v) for v in value]
    return value


class KitReference:
    """The answers a student kit recorded, looked up by the call's key."""

    def __init__(self, task: Assignment) -> None:
        self.folder = task.kit
        self._index, self._arrays = kit.answers(task)
        self.digest = kit.sums(task.kit)[kit.ANSWERS]  # verified when the kit was loaded

    def defines(self, function: str) -> bool:
        return bool(self._index.get("defines", {}).get(function, False))

    def call(self, function: str, *args: Any) -> Any:
        entry = self._index.get("calls", {}).get(key(function, args))
        if entry is None or entry.get("function") != function:
            raise kit.KitError(f"the student kit in {self.folder} has no answer for {function}() on the input this "
                               "check gives it: the kit was made for another version of the assignment or of the "
                               "grader. Get the kit again from your course.")
        if "array" in entry:
            return self._arrays[entry["array"]].copy()
        return entry["value"]

    def compile_config(self, function: str, model: Any) -> dict[str, Any]:
        found = self._index.get("compile", {}).get(function)
        if found is None:
            raise kit.KitError(f"the student kit in {self.folder} holds no compile settings for {function}(). Get the "
                               "kit again from your course.")
        return found


def for_assignment(task: Assignment) -> CodeReference | KitReference:
    """The reference of `task`: its kit's answers if it came from a kit, else its reference module."""
    return KitReference(task) if task.kit is not None else CodeReference(task.solution)

"""Making an assignment's files from the instructor's notebook: one source, two outputs.

The source notebook holds the solutions between markers, in any code cell:

    # BEGIN SOLUTION hint: one line that tells the student where to start
    ...the solution...
    # END SOLUTION

or on single lines that end with `# SOLUTION`. Cells tagged `module` (cell metadata "tags") hold
what a student hands in: a header docstring with the imports, then one function per cell.

The student notebook and module get `raise NotImplementedError("<hint>")` in place of each
solution, with outputs, execution counts and metadata cleared; the reference module gets the
module cells with the markers removed and the solution lines kept.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import nbformat

from grader.errors import UsageError
from grader.submission import notebook
from grader.views.outputs import write_text

MODULE_TAG = "module"
DEFAULT_HINT = "write your code here, in place of this line"
KERNELSPEC_KEYS = ("display_name", "language", "name")

_BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?:\s+hint:\s*(?P<hint>.*?))?\s*$")
_END = re.compile(r"^\s*# END SOLUTION\s*$")
_LINE = re.compile(r"^(?P<indent>\s*)(?P<code>\S.*?)\s*# SOLUTION\s*$")
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class AssignError(UsageError):
    """The source notebook cannot be turned into an assignment; the message names the cell and line."""


def assign(source: Path, *, out: Path, solutions_out: Path | None = None) -> list[Path]:
    """Write the student notebook and module into `out`, and the reference module into `solutions_out` if given."""
    try:
        book = notebook.read(source)
    except notebook.NotebookError as exc:
        raise AssignError(str(exc)) from None
    cells = book["cells"]
    modules = [i for i, cell in enumerate(cells) if _is_module(cell)]
    if not modules:
        raise AssignError(f"{source.name} has no cell tagged {MODULE_TAG!r}; tag the cells that hold the module's "
                          "imports and functions (cell metadata \"tags\": [\"module\"]).")
    student = [_student_cell(cell, f"cell {i + 1} of {source.name}") for i, cell in enumerate(cells)]
    files = [
        (out / f"{source.stem}.ipynb", student_notebook(book, student)),
        (out / f"{source.stem}.py", _module([student[i]["source"] for i in modules], f"the student {source.stem}.py")),
    ]
    if solutions_out is not None:
        reference = [reference_source(cells[i]["source"], f"cell {i + 1} of {source.name}") for i in modules]
        files.append((solutions_out / f"{source.stem}.py", _module(reference, f"the reference {source.stem}.py")))
    targets = [path.resolve() for path, _ in files]
    if source.resolve() in targets or len(set(targets)) < len(targets):
        raise AssignError(f"these folders would overwrite {source.name} or one output with another; give --out a "
                          f"folder other than the one holding {source.name}, and --solutions-out another than --out.")
    for path, text in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, text)
    return [path for path, _ in files]


def student_source(source: str, where: str) -> str:
    """`source` with every solution replaced by `raise NotImplementedError(hint)`."""
    return _transform(source, where, student=True)


def reference_source(source: str, where: str) -> str:
    """`source` with the solution markers removed and the solution lines kept."""
    return _transform(source, where, student=False)


def student_notebook(book: dict[str, Any], cells: list[dict[str, Any]]) -> str:
    """The student notebook as nbformat 4 JSON: no outputs, no execution counts, no metadata but the kernel's."""
    meta = book.get("metadata", {})
    kernel = meta.get("kernelspec", {})
    metadata: dict[str, Any] = {"kernelspec": {k: kernel[k] for k in KERNELSPEC_KEYS if k in kernel}} if kernel else {}
    if meta.get("language_info", {}).get("name"):
        metadata["language_info"] = {"name": meta["language_info"]["name"]}
    clean = [_clean_cell(cell, number) for number, cell in enumerate(cells, 1)]
    node = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": clean})
    nbformat.validate(node)
    return nbformat.writes(node)


def _is_module(cell: dict[str, Any]) -> bool:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return cell["cell_type"] == "code" and MODULE_TAG in tags


def _student_cell(cell: dict[str, Any], where: str) -> dict[str, Any]:
    if cell["cell_type"] != "code":
        return cell
    return {**cell, "source": student_source(cell["source"], where)}


def _clean_cell(cell: dict[str, Any], number: int) -> dict[str, Any]:
    kind = cell["cell_type"]
    cell_id = cell.get("id") if isinstance(cell.get("id"), str) and _CELL_ID.match(cell["id"]) else f"cell-{number}"
    clean: dict[str, Any] = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": cell["source"]}
    if kind == "code":
        clean.update(execution_count=None, outputs=[])
    elif cell.get("attachments"):  # images pasted into a markdown cell
        clean["attachments"] = cell["attachments"]
    return clean


def _transform(source: str, where: str, *, student: bool) -> str:
    out: list[str] = []
    block: tuple[int, str] | None = None  # (line of the BEGIN marker, indentation)
    last_single: tuple[int, str] | None = None  # a run of `# SOLUTION` lines becomes one raise
    for number, line in enumerate(source.splitlines(), 1):
        begin, end, single = _BEGIN.match(line), _END.match(line), _LINE.match(line)
        if begin:
            if block:
                raise AssignError(f"{where}, line {number}: # BEGIN SOLUTION inside the solution begun on line "
                                  f"{block[0]}; close that one with # END SOLUTION first.")
            block = (number, begin["indent"])
            if student:
                out.append(_raise(begin["indent"], begin["hint"] or DEFAULT_HINT))
        elif end:
            if not block:
                raise AssignError(f"{where}, line {number}: # END SOLUTION without a # BEGIN SOLUTION above it; "
                                  "add the BEGIN line or remove this one.")
            block = None
        elif block:
            if not student:
                out.append(f"{single['indent']}{single['code']}" if single else line)
        elif single:
            if not student:
                out.append(f"{single['indent']}{single['code']}")
            elif last_single != (number - 1, single["indent"]):
                out.append(_raise(single["indent"], DEFAULT_HINT))
            last_single = (number, single["indent"])
        else:
            out.append(line)
    if block:
        raise AssignError(f"{where}, line {block[0]}: # BEGIN SOLUTION is never closed; add # END SOLUTION after "
                          "the solution.")
    return "\n".join(out)


def _raise(indent: str, hint: str) -> str:
    return f"{indent}raise NotImplementedError({json.dumps(hint, ensure_ascii=False)})"


def _module(sources: list[str], what: str) -> str:
    """Module cells joined as a module, PEP 8 spaced; it must parse."""
    text = "\n\n\n".join(s.strip("\n") for s in sources) + "\n"
    try:
        compile(text, what, "exec", ast.PyCF_ONLY_AST)
    except SyntaxError as exc:
        raise AssignError(f"{what} would not parse: {exc.msg} on line {exc.lineno} ({(exc.text or '').strip()!r}). "
                          "Check the solution markers of the module cells: a BEGIN line indented like the code it "
                          "replaces gives a raise that Python accepts.") from None
    return text

"""Reading Jupyter notebooks, and turning a handed-in notebook into a module the sandbox can import.

Nothing here runs the notebook's code. Cells are parsed with `ast` and only imports, function and
class definitions and constant assignments are kept, so grading a notebook does not repeat its
training, plotting, magics or shell commands; what is left is graded exactly like a .py module.

A handed-in notebook is read within bounds, each checked before the work it bounds: its bytes, the
nesting of its JSON (a scan, before `json.loads` could overflow Python's recursion limit), and the
characters of code parsed (`ast` holds about 600 MB for 1 MB of one-line statements). Past a bound,
and on any RecursionError or MemoryError left, the notebook gets a NotebookError saying what to do.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import re
import tokenize
from pathlib import Path
from typing import Any

from grader import files
from grader.nesting import json_depth

SUPPORTED_MAJOR = 4
MAX_BYTES = 32 << 20  # a notebook file, outputs included: what a whole submission may hold (grader.submission.files.MAX_BYTES)
MAX_DEPTH = 100  # nesting of the notebook's JSON arrays and objects: 5 in the bundled ones, a dozen with plots' JSON
MAX_CODE = 256 << 10  # characters of code parsed, in all: 75 times a solution; ast takes 0.5 s and 170 MB for it

# Cell magics whose body is Python that IPython runs (timed, captured, profiled): the body is kept.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})

# IPython syntax that is not Python, each matched at the start of a logical line:
_ESCAPED = re.compile(r"(\s*)(?:[!%?])")                               # !pip ..., %matplotlib ..., ?name
_ASSIGNED = re.compile(r"(\s*)[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%]")  # files = !ls
_HELP = re.compile(r"(\s*)[A-Za-z_][\w.]*\?{1,2}\s*$")                 # np.argmax?

# Expression nodes a kept assignment may use: no calls, so nothing at module level does real work.
_CONSTANT_NODES = (ast.Constant, ast.Attribute, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.BinOp, ast.UnaryOp,
                   ast.BoolOp, ast.Compare, ast.Subscript, ast.Slice, ast.Starred, ast.JoinedStr, ast.FormattedValue,
                   ast.IfExp, ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_ALWAYS_DEFINED = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__"}


class NotebookError(Exception):
    """A notebook cannot be read; the message names the file, says what was expected and what to do."""


def read(path: Path) -> dict[str, Any]:
    """The notebook at `path` as plain data, checked, with every cell's source joined into one string.

    Only a regular file is read (a named pipe would block), and at most MAX_BYTES of it.
    """
    try:
        data = files.read_regular(path, limit=MAX_BYTES)
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{path.name} is not a notebook: it is not UTF-8 text ({exc.reason} at byte {exc.start}). "
                            "Expected a .ipynb file saved by Jupyter or Colab; save or download it again.") from exc
    except OSError as exc:
        raise NotebookError(f"{path.name} cannot be read ({exc.strerror}); expected a .ipynb file saved by Jupyter "
                            "or Colab, as an ordinary file. Check that it exists and is readable.") from exc
    return parse(text, path.name)


def parse(text: str, name: str) -> dict[str, Any]:
    """Check the JSON text of a notebook called `name` and return it as plain data, sources joined."""
    if len(text) > MAX_BYTES:
        raise NotebookError(f"{name} is larger than {MAX_BYTES >> 20} MB; expected a notebook of code and a few "
                            "outputs. Clear its outputs (Edit > Clear All Outputs in Jupyter), save it and hand it in again.")
    depth = json_depth(text.encode("utf-8", "surrogatepass"))
    if depth > MAX_DEPTH:
        raise NotebookError(f"{name} is not a notebook: its JSON is nested {depth:,} levels deep, more than the "
                            f"{MAX_DEPTH} the grader reads (a notebook nests a few levels). Save or download "
                            "it again from Jupyter or Colab, or hand in your code as a .py module.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"{name} is not a notebook: its contents are not valid JSON ({exc.msg} at line "
                            f"{exc.lineno}, column {exc.colno}). Expected a .ipynb file saved by Jupyter or Colab; "
                            "save or download it again from there, or hand in your code as a .py module.") from None
    except (RecursionError, MemoryError) as exc:  # the scan above should make this unreachable; kept as a second wall
        raise NotebookError(f"{name} could not be read: its JSON is too deeply nested or too large for the grader "
                            f"({type(exc).__name__}). Expected a .ipynb file saved by Jupyter or Colab; save or "
                            "download it again from there, or hand in your code as a .py module.") from None
    if not isinstance(data, dict):
        raise NotebookError(f"{name} is not a notebook: it holds a JSON {type(data).__name__}, expected an object "
                            "with 'cells' and 'nbformat'. Save or download it again from Jupyter or Colab.")
    major = data.get("nbformat")
    if major != SUPPORTED_MAJOR or isinstance(major, bool):
        found = f"a version {major!r} notebook" if "nbformat" in data else "missing its 'nbformat' version"
        raise NotebookError(f"{name} is {found}; the grader reads nbformat {SUPPORTED_MAJOR}, which Jupyter and "
                            f"Colab save. Open it in Jupyter and save it again, or convert it with "
                            f"`jupyter nbconvert --to notebook --nbformat {SUPPORTED_MAJOR} {name}`.")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise NotebookError(f"{name} has no list of cells (found {_kind(cells)}); expected \"cells\": [...]. "
                            "Save or download it again from Jupyter or Colab.")
    checked = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise NotebookError(f"cell {number} of {name} is {_kind(cell)}, not a cell with a 'cell_type'. "
                                "Save the notebook again from Jupyter.")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(f"cell {number} of {name} ({cell['cell_type']}) has a source that is "
                                f"{_kind(source)}, not text; expected a string or a list of strings. Open the "
                                "notebook in Jupyter, retype that cell and save it again.")
        checked.append({**cell, "source": source})
    code = sum(len(cell["source"]) for cell in checked if cell["cell_type"] == "code")
    if code > MAX_CODE:
        raise NotebookError(f"{name} holds {code:,} characters of code, more than the {MAX_CODE:,} the grader reads; "
                            "expected the exercise's code (its solution is about 3,000). Remove pasted data or "
                            "generated code (load data from a file instead) and hand it in again.")
    return {**data, "cells": checked}


def to_module(notebook: dict[str, Any], name: str) -> str:
    """Python source with the notebook's imports, definitions and constants, in notebook order.

    Each code cell that keeps something becomes a block headed `# cell N`; inside it, kept lines stay
    at their line in the cell. The first code cell with a syntax error becomes a module that raises
    that SyntaxError, naming the cell, when imported.
    """
    blocks = [f'"""{name}, as the grader reads it: its imports, definitions and constants.\n\n'
              'Top-level work (training, plotting, printing), IPython magics and shell lines are left out.\n"""\n']
    defined: set[str] = set(_ALWAYS_DEFINED)
    for number, cell in enumerate(notebook["cells"], 1):
        if cell["cell_type"] != "code":
            continue
        code = strip_ipython(cell["source"])
        if code is None:
            continue
        try:
            tree = compile(code, f"cell {number}", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError as exc:
            return blocks[0] + _raise_syntax_error(exc, number, name)
        except ValueError as exc:  # null bytes
            return blocks[0] + _raise_syntax_error(SyntaxError(str(exc), (None, 1, 1, "", None, None)), number, name)
        except (MemoryError, RecursionError) as exc:  # an expression nested deeper than Python's parser goes
            words = (f"the code is nested too deeply for Python to read ({type(exc).__name__}: {exc}); write long "
                     "or deeply nested expressions as several shorter statements")
            return blocks[0] + _raise_syntax_error(SyntaxError(words, (None, 1, 1, "", None, None)), number, name)
        block = _block(code.splitlines(), tree.body, defined)
        if block:
            blocks.append(f"# cell {number}\n" + "\n".join(block) + "\n")
    return "\n\n".join(blocks)


def strip_ipython(source: str) -> str | None:
    """`source` with IPython magics, shell and help lines blanked; None for a cell magic that is not Python."""
    lines = source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return ""
    head = lines[first].strip()
    if head.startswith("%%"):
        magic = (head[2:].split() or [""])[0]
        if magic not in PYTHON_CELL_MAGICS:
            return None
        lines[first] = ""
    inside = _continuation_lines("\n".join(lines))
    for i, line in enumerate(lines):
        if i + 1 in inside:
            continue
        match = _ESCAPED.match(line) or _ASSIGNED.match(line) or _HELP.match(line)
        if match:
            indent = match.group(1)
            lines[i] = f"{indent}pass" if indent else ""  # `pass` keeps an indented block valid
    return _dedent_first("\n".join(lines))


def _continuation_lines(code: str) -> set[int]:
    """Line numbers that continue a statement begun above (inside brackets or a multi-line string)."""
    inside: set[int] = set()
    depth = 0
    last_row = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            row, end_row = token.start[0], token.end[0]
            if row != last_row and depth > 0:
                inside.add(row)
            inside.update(range(row + 1, end_row + 1))
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth = max(0, depth - 1)
            last_row = end_row
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # the parse that follows reports real errors; here only protection is lost
    lines = code.splitlines()
    inside.update(i + 2 for i, line in enumerate(lines) if line.rstrip().endswith("\\"))
    return inside


def _dedent_first(code: str) -> str:
    """Remove the first line's indentation from every line that has it, as IPython does."""
    lines = code.splitlines()
    first = next((line for line in lines if line.strip()), "")
    indent = first[: len(first) - len(first.lstrip())]
    if not indent:
        return code
    return "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines)


def _block(lines: list[str], body: list[ast.stmt], defined: set[str]) -> list[str]:
    """The kept statements of one cell, each at its own line; blank lines where others were."""
    out: list[str] = []
    spans = [(_first_line(node), node.end_lineno or node.lineno) for node in body]
    for index, node in enumerate(body):
        if not _keep(node, defined):
            continue
        start, end = spans[index]
        # Statements come in order, so only a neighbour can share a line (and a cell of many stays linear).
        shares_line = (index > 0 and spans[index - 1][1] >= start) or (index + 1 < len(spans) and spans[index + 1][0] <= end)
        try:
            text = ast.unparse(node).splitlines() if shares_line else lines[start - 1:end]
        except RecursionError:  # a constant too deeply nested for ast.unparse: left out, like any work
            continue
        out.extend([""] * (start - 1 - len(out)))
        out.extend(text)
    while out and not out[-1].strip():
        out.pop()
    return out


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _keep(node: ast.stmt, defined: set[str]) -> bool:
    """Whether a top-level statement is an import, a definition or a constant; records the names it defines."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        if _imports_the_grader(node):
            return False  # the notebook's own helpers (data loading, self-check): graded code never sees the grader
        for alias in node.names:
            defined.add("*" if alias.name == "*" else alias.asname or alias.name.split(".")[0])
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        defined.add(node.name)
        return True
    if isinstance(node, ast.Assign):
        names = [n for target in node.targets for n in _target_names(target)]
        if None in names or not _constant(node.value, defined):
            return False
        defined.update(names)
        return True
    if isinstance(node, ast.AnnAssign):
        if not isinstance(node.target, ast.Name) or (node.value is not None and not _constant(node.value, defined)):
            return False
        if node.value is not None:
            defined.add(node.target.id)
        return True
    if isinstance(node, ast.AugAssign):
        return isinstance(node.target, ast.Name) and node.target.id in defined and _constant(node.value, defined)
    if isinstance(node, ast.If):  # e.g. a choice between two constants
        return _constant(node.test, defined) and _all_kept(node.body + node.orelse, defined)
    if isinstance(node, ast.Try):  # e.g. try: import google.colab / except ImportError: ...
        handlers_ok = all(h.type is None or _constant(h.type, defined) for h in node.handlers)
        statements = node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
        return handlers_ok and _all_kept(statements, defined)
    return False


def keeps(node: ast.stmt, defined: set[str]) -> bool:
    """Whether a module's top-level statement is an import, a definition or a constant (what a handed-in notebook
    keeps, and what a module may hold at its top level without doing work when imported). `defined` starts as
    `names_at_start()` and gathers the names kept statements define."""
    return _keep(node, defined)


def names_at_start() -> set[str]:
    """The names a module may use at its top level before defining any: the builtins, __name__ and the like."""
    return set(_ALWAYS_DEFINED)


def _imports_the_grader(node: ast.Import | ast.ImportFrom) -> bool:
    package = __name__.split(".")[0]
    modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
    return any(m == package or m.startswith(package + ".") for m in modules)


def _all_kept(statements: list[ast.stmt], defined: set[str]) -> bool:
    trial = set(defined)
    if not all(isinstance(s, ast.Pass) or _keep(s, trial) for s in statements):
        return False
    defined.update(trial)
    return True


def _target_names(target: ast.expr) -> list[str | None]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for element in target.elts for n in _target_names(element)]
    return [None]


def _constant(node: ast.AST, defined: set[str]) -> bool:
    """An expression without calls whose names are all defined by statements kept so far.

    Walked with a stack of its own: a sum of 1,200 terms nests deeper than Python's recursion limit.
    """
    pending = [node]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Lambda):  # its body runs only when called
            pending.extend(node.args.defaults + [d for d in node.args.kw_defaults if d is not None])
        elif isinstance(node, ast.Name):
            if node.id not in defined and "*" not in defined:
                return False
        elif isinstance(node, _CONSTANT_NODES):
            pending.extend(ast.iter_child_nodes(node))
        else:
            return False
    return True


def _raise_syntax_error(exc: SyntaxError, number: int, name: str) -> str:
    """Module source that raises the cell's SyntaxError on import, with words that name the cell."""
    line = exc.lineno or 1
    message = f"{exc.msg} (cell {number} of {name}, line {line} of that cell)"
    details = (name, line, exc.offset or 1, (exc.text or "").rstrip("\n"))
    return (f"# cell {number} has a syntax error, so nothing of the notebook can run\n"
            f"raise SyntaxError({message!r}, {details!r})\n")


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"

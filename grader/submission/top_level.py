"""Code at the top level of a submitted module: found without running it, and explained when it fails the import.

The grader imports a submission to test its functions, so every statement at the top level of the
file runs then, in the sandbox: without a network, within the import's time and memory limits,
before any check. Imports, definitions and constants are what a module should hold there; work
such as downloading data, training or plotting belongs under `if __name__ == "__main__":`, where it
runs when the student runs the file and not when it is imported. Nothing here runs the code.

The module is parsed here, in the grader's own process, so within the notebook's bounds: only a
regular file of at most `notebook.MAX_CODE` characters is parsed, and a parse that still runs out of
recursion or memory finds nothing, which leaves the verdict of the failed import as it is.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from grader import files
from grader.submission import notebook

SHOWN = 3  # top-level statements named when the import failed without saying where
MAX_LINES = 6  # of one statement, shown in the fix
MAX_STATEMENTS = 8  # top-level statements moved in the fix shown


@dataclass(frozen=True)
class Statement:
    """A top-level statement that does work when its module is imported."""

    line: int
    code: str  # its first line, stripped
    text: str = ""  # the whole statement, as written (at most MAX_LINES lines)


def work(source: str) -> list[Statement]:
    """The top-level statements of `source` that do work when it is imported (none if it does not parse, or is
    longer than the grader parses)."""
    if len(source) > notebook.MAX_CODE:
        return []
    try:
        return _work(ast.parse(source), source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # deep nesting fails ast.parse with RecursionError
        return []


def _work(tree: ast.Module, source: str) -> list[Statement]:
    lines = source.splitlines()
    defined = notebook.names_at_start()
    found = []
    for node in tree.body:
        if _inert(node) or notebook.keeps(node, defined):
            continue
        body = lines[node.lineno - 1:(node.end_lineno or node.lineno)]
        text = "\n".join(body[:MAX_LINES]) + ("\n..." if len(body) > MAX_LINES else "")
        found.append(Statement(node.lineno, body[0].strip() if body else "", text))
    return found


def work_in(path: Path) -> list[Statement]:
    """`work` of the module at `path`; none if it cannot be read."""
    source = read_code(path)
    return [] if source is None else work(source)


def read_code(path: Path) -> str | None:
    """The text of the module at `path` if it is a regular file of at most `notebook.MAX_CODE` characters, else None."""
    try:
        data = files.read_regular(path, limit=4 * notebook.MAX_CODE)  # UTF-8 takes at most 4 bytes a character
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= notebook.MAX_CODE else None


@dataclass(frozen=True)
class Explanation:
    """Why top-level code broke the import (`feedback`), what to do (`hint`) and the code of the fix (`fix`)."""

    feedback: str
    hint: str
    fix: str


def explain(module: str, statements: list[Statement], *, failed: Statement | None = None,
            error: str = "") -> Explanation | None:
    """Why top-level code broke the import, naming the line of `failed` (the statement that raised; None when a limit
    stopped the import: the first of `statements`) and saying what happened (`error`), and the
    `if __name__ == "__main__":` fix that moves every one of `statements` (the module's top-level work); None if
    there is no such code."""
    if not statements and failed is None:
        return None
    moved = statements if failed is None or failed in statements else [failed, *statements]
    named = [failed] if failed is not None else moved[:SHOWN]
    where = ", ".join(f"line {s.line} (`{_short(s.code)}`)" for s in named)
    more = f" and {len(moved) - SHOWN} more" if failed is None and len(moved) > SHOWN else ""
    lead = "is top-level code: it runs" if len(named) == 1 and not more else "are top-level code: they run"
    others = [s.line for s in moved if s not in named]
    also = (f" {_lines(others)} of {module} {'does' if len(others) == 1 else 'do'} work at the top level too."
            if failed is not None and others else "")
    feedback = (f"{where[0].upper()}{where[1:]}{more} of {module} {lead} when the grader imports {module} to test "
                "your functions, before any check. When graded, the import runs in a sandbox with no network, no "
                "writable home folder and a time limit: downloading data, saving files or training a model there "
                f"fails or runs out of time.{' Here, ' + error.rstrip('.') + '.' if error else ''}{also}")
    hint = ("Keep only imports, functions and constants at the top level, and move the rest (loading data, training, "
            'plotting) to the end of the file, under `if __name__ == "__main__":`, where it runs when you run the '
            "file yourself but not when the grader imports it:")
    shown = moved[:MAX_STATEMENTS]
    body = "\n".join("\n".join(f"    {line}" for line in (s.text or s.code).splitlines()) for s in shown)
    tail = "\n    ..." if len(moved) > MAX_STATEMENTS else ""
    return Explanation(feedback, hint, f'if __name__ == "__main__":\n{body}{tail}')


def _lines(numbers: list[int]) -> str:
    words = [str(n) for n in numbers]
    if len(words) == 1:
        return f"Line {words[0]}"
    return f"Lines {', '.join(words[:-1])} and {words[-1]}"


def _inert(node: ast.stmt) -> bool:
    """A docstring or other bare constant, `pass`, or the `if __name__ == "__main__":` block itself."""
    if isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        return True
    return isinstance(node, ast.If) and not node.orelse and _is_main_test(node.test)


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    texts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(texts) == 1


def _short(code: str, limit: int = 70) -> str:
    return code if len(code) <= limit else code[:limit - 1] + "…"

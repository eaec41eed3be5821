"""Checks inside Jupyter: `from grader.student import notebook_check; notebook_check()` in a cell.

It grades the functions the live kernel has, with the quick self-check of `grader check`, and shows
each check's verdict and what to fix as HTML in the cell. No saved file and no terminal: the module
graded is made from the kernel's cell history (as typed) read as a notebook, keeping only its
imports, definitions and constants as for a handed-in notebook (grader.submission.notebook), followed by the
assignment's functions as the kernel has them now (their source, from `inspect`), so the latest
definitions win. That module runs in the sandbox, exactly as `grader check` runs a file; nothing of
it runs in the kernel or in the grader's process.
"""

from __future__ import annotations

import dataclasses
import inspect
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Iterable, Mapping

from grader import printed, tflog
from grader.assignment import course, kit
from grader.grading import selfcheck
from grader.submission import notebook
from grader.assignment.spec import Assignment
from grader.errors import UsageError
from grader.results import details_of, format_points

HEADER = "# The assignment's functions as the kernel defines them now (their source, from inspect)."
PRINTED_WIDTH = 120  # characters of a line the submission printed, shown under its check


class NotInNotebook(UsageError):
    """notebook_check() was called outside an IPython kernel; the message says what to use instead."""


def notebook_check(*functions: str, assignment: str | Path | None = None, full: bool = False,
                   train: bool | None = None, data: str | Path | None = None, isolation: str = "auto",
                   verbose: bool = False) -> None:
    """Self-check this notebook's functions in the sandbox and show the verdicts as HTML in the cell.

    `functions` names the functions to check (`notebook_check("normalise")`; several allowed): only their checks
    run, and nothing is trained unless `train=True`; none names every function, and then the model is trained if
    every function is written (`train` decides otherwise). A function the kernel does not define yet is reported
    as not written yet. `assignment` is a kit's folder or an installed kit's name, or in the course folder an
    assignment's name or assignment.toml (None: the kit in the notebook's folder, else the one whose functions
    this notebook defines); a single name in `functions` that is an assignment, not a function, is taken as
    `assignment`. `full` (in the course folder) trains with the grading budget; `verbose` lets TensorFlow's own
    log lines into the cell.
    """
    from IPython import get_ipython
    from IPython.display import display

    shell = get_ipython()
    if shell is None:
        raise NotInNotebook("notebook_check() checks the functions of a running Jupyter notebook; outside one, "
                            "check a file with `grader check` and your .py or .ipynb in a terminal.")
    # The cells as typed (magics included), not `In`, where IPython has rewritten magics as calls.
    history = getattr(shell.history_manager, "input_hist_raw", None) or shell.user_ns.get("In", [])
    outcome, html = check_kernel(history, shell.user_ns, functions=functions, assignment=assignment, full=full,
                                 train=train, data=data, isolation=isolation, verbose=verbose)
    text = outcome.text if outcome is not None else "Nothing to check yet: write the functions and run their cells."
    display({"text/html": html, "text/plain": text}, raw=True)


def load_data(assignment: str | Path | None = None) -> Any:
    """The assignment's data set as the grader finds it (the sources its spec declares: Keras' download of the
    full set, else the sample shipped with the grader), for a notebook's own experiments; `assignment` as for
    notebook_check. It holds train_images, train_labels, test_images, test_labels and source."""
    from grader.assignment.data import load_dataset

    task = _assignment(assignment, {})
    return load_dataset(None, task.data)


def _assignment(assignment: str | Path | Assignment | None, namespace: Mapping[str, Any]) -> Assignment:
    """The assignment a notebook means: given, else the kit in its folder, else the one its functions define."""
    if isinstance(assignment, Assignment):
        return assignment
    if assignment is None and kit.is_kit(Path.cwd()):  # the notebook runs in its student kit's folder
        return kit.load(Path.cwd())
    return course.resolve(assignment or defining(namespace), kits=True)


class NotAFunction(UsageError, ValueError):
    """notebook_check() was asked for a function the assignment does not have; the message lists those it has."""


def check_kernel(history: Iterable[str], namespace: Mapping[str, Any], *, functions: Iterable[str] = (),
                 assignment: str | Path | Assignment | None = None, full: bool = False, train: bool | None = None,
                 data: str | Path | None = None, isolation: str = "auto",
                 verbose: bool = False) -> tuple[selfcheck.SelfCheck | None, str]:
    """Self-check the module the kernel's history makes, for `functions` (none: all); returns the outcome (None when
    nothing was written to check) and its HTML. See notebook_check. TensorFlow's log lines, which the kernel shows in
    the cell, are held back unless `verbose` (the kernel's own TensorFlow may log at any level: the whole check is
    muted, see grader.tflog)."""
    functions = tuple(functions)
    if assignment is None and len(functions) == 1 and _names_assignment(functions[0]):
        assignment, functions = functions[0], ()  # notebook_check("fashion"), as earlier notebooks call it
    task = _assignment(assignment, namespace)
    unknown = [name for name in functions if name not in task.functions]
    if unknown:
        raise NotAFunction(f"{', '.join(map(repr, unknown))} is not a function of {task.name}; its functions are "
                           f"{', '.join(task.functions)}. Call notebook_check() with some of those names, or with "
                           "none to check them all.")
    wanted = functions or tuple(task.functions)
    written = {name for name in task.functions if callable(namespace.get(name))}
    if train is None:
        train = not functions and written == set(task.functions)
    needed = set(wanted)
    if train:  # the model trained is the one build_model and compile_model make
        needed |= {c.function for c in task.checks if c.kind in ("model", "compile") and c.function}
    runs = tuple(c for c in task.checks if (c.function in needed and c.function in written)
                 or (train and c.kind == "training"))
    unwritten = [name for name in task.functions if name not in written]
    budget = task if full else selfcheck.quick(task)
    if not runs:
        return None, render(None, task, budget, unwritten=unwritten, partial=bool(functions))
    subset = dataclasses.replace(task, checks=runs,
                                 withheld=task.withheld if not functions else ())
    source = kernel_source(history, namespace, task.functions)
    with tempfile.TemporaryDirectory(prefix="grader-notebook-") as folder:
        module = Path(folder) / task.module
        module.write_text(source, encoding="utf-8")
        with tflog.quiet(verbose, here=False), tflog.muted():
            outcome = selfcheck.check(module, assignment=subset, data=data, full=full, isolation=isolation)
    return outcome, render(outcome.results, subset, subset if full else selfcheck.quick(subset), unwritten=unwritten,
                           partial=bool(functions))


def _names_assignment(name: str) -> bool:
    """Whether `name` is an assignment's (or an installed kit's) name or a path to one, rather than a function's."""
    if name in course.available(kits=True):
        return True
    path = Path(name)
    return path.exists() and (kit.is_kit(path) or path.name == "assignment.toml" or (path / "assignment.toml").is_file())


def defining(namespace: Mapping[str, Any]) -> str | None:
    """The one assignment (of the course, else of the installed kits) all of whose functions the kernel defines."""
    found = [name for name in course.available(kits=True)
             if all(callable(namespace.get(fn)) for fn in course.load(name, kits=True).functions)]
    return found[0] if len(found) == 1 else None


def kernel_source(history: Iterable[str], namespace: Mapping[str, Any], functions: Iterable[str]) -> str:
    """A module of the kernel's work: the history's imports, definitions and constants, then `functions` as
    the kernel has them now. Cells that did not compile (so defined nothing) are left out."""
    cells = []
    for source in history:
        code = notebook.strip_ipython(source) if isinstance(source, str) else None
        if not code or not code.strip():
            continue
        try:
            compile(code, "<cell>", "exec")
        except (SyntaxError, ValueError):
            continue
        cells.append({"cell_type": "code", "source": source})
    module = notebook.to_module({"cells": cells}, "this notebook")
    live = [text for name in functions if (text := live_source(namespace.get(name)))]
    return module + ("\n\n" + HEADER + "\n\n" + "\n\n".join(live) if live else "")


def live_source(value: Any) -> str | None:
    """The source of a function defined in the kernel (not imported from a module), or None."""
    if not inspect.isfunction(value) or value.__module__ not in ("__main__", None):
        return None
    try:
        source = textwrap.dedent(inspect.getsource(value))
    except (OSError, TypeError):
        return None
    try:
        compile(source, "<function>", "exec")
    except (SyntaxError, ValueError):
        return None
    return source.rstrip() + "\n"


# --- The verdicts as HTML ------------------------------------------------------------------------

def render(results: dict[str, Any] | None, task: Assignment, budget: Assignment, *, unwritten: Iterable[str] = (),
           partial: bool = False) -> str:
    """The self-check as an HTML fragment for a notebook cell (Jinja2, autoescaped)."""
    from grader.views import report

    return report.environment().get_template("notebook_check.html.j2").render(
        view(results, task, budget, unwritten=unwritten, partial=partial))


NOT_WRITTEN = "Not written yet: write it, run its cell, then check again."


def view(results: dict[str, Any] | None, task: Assignment, budget: Assignment, *, unwritten: Iterable[str] = (),
         partial: bool = False) -> dict[str, Any]:
    """The plain data the HTML is drawn from: one row per check, hidden ones by name only, one per function not
    written yet, and what to do next. `partial`: only some functions were asked for."""
    results = results or {"tests": [], "extra_data": {}}
    rows, previous = [], None
    for name in unwritten:
        rows.append({"name": name, "verdict": "todo", "note": NOT_WRITTEN})
    for test in results["tests"]:
        info = test["extra_data"]
        if test["visibility"] != "visible":
            rows.append({"name": test["name"], "verdict": "hidden",
                         "note": selfcheck.WHEN_SHOWN.get(test["visibility"], selfcheck.WHEN_SHOWN["hidden"])})
            continue
        row = {"name": test["name"], "verdict": "passed" if test["status"] == "passed" else "failed",
               "points": f"{format_points(test['score'])}/{format_points(test['max_score'])}", "note": "", "feedback": "", "hint": "",
               "fix": "", "details": "", "printed": "\n".join(printed.shown(info.get("printed"), PRINTED_WIDTH)[1:])}
        if row["verdict"] == "passed" and info.get("hint"):  # passed, with a caveat
            row["note"] = f"Note: {info['hint']}"
        if row["verdict"] == "failed":
            if info.get("feedback") == previous:
                row["note"] = "The same problem as above."
            else:
                lines = details_of(test).splitlines()
                keep = lines and info.get("fault") not in ("not_implemented", "missing")
                row.update(feedback=info.get("feedback", ""), hint=info.get("hint", ""), fix=info.get("fix", ""),
                           details="\n".join(lines[: selfcheck.MAX_DETAIL_LINES]
                                             + (["..."] if len(lines) > selfcheck.MAX_DETAIL_LINES else []))
                           if keep else "")
            previous = info.get("feedback")
        rows.append(row)
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    hidden = [t for t in results["tests"] if t["visibility"] != "visible"]
    failed = [t for t in visible if t["status"] != "passed"]
    if unwritten and not failed:
        step = f"Next: write {', '.join(unwritten)} and run its cell."
    elif not failed:
        step = ("Every check asked for passed." if partial else "Every visible check passed.") if visible else ""
    elif len(failed) > 1 and len({t["extra_data"].get("feedback") for t in failed}) == 1:
        step = "Next: fix the problem above; every check failed because of it."
    else:
        hint = failed[0]["extra_data"].get("hint")
        step = f"Next: fix {failed[0]['name']} first" + (f": {hint}" if hint else ".")
    return {"title": f"{task.name}: {task.title}", "rows": rows, "passed": not failed and bool(visible),
            "score": format_points(sum(t['score'] for t in visible)), "top": format_points(sum(t['max_score'] for t in visible)),
            "hidden": len(hidden), "hidden_points": format_points(sum(t['max_score'] for t in hidden)), "next": step,
            "faults": results["extra_data"].get("grader_faults") or [],
            "budget": (selfcheck.budget_note(task, budget, option="full=True")
                       if results["extra_data"].get("accuracy") is not None else ""),
            "partial": partial}

"""Reporting a graded submission to GitHub Actions: the job's step summary, annotations and summary.md.

summary.md, beside results.json, is the step summary again, for the workflow's pull-request comment.
The `Points X/Y` notice is a legacy line: GitHub Classroom, which read it, was retired on 2026-08-28;
it is still printed for scripts that parse it. Everything here is made from the results dict and the assignment spec. The student's file is only
parsed with `ast` to find where to put an annotation; it is never imported or run on this side.
"""

from __future__ import annotations

import ast
import html
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from grader import passmark
from grader.views.outputs import write_text
from grader.passmark import PassMark
from grader.assignment.spec import Assignment
from grader.submission.files import SubmissionNotFound, locate
from grader.results import EXIT_OF_SUBMISSIONS, format_points, head

# Legacy: GitHub Classroom (retired 2026-08-28) read the total from a notice with this title and a "Points X/Y"
# message, the form its autograding reporter wrote. Kept, documented as legacy, for scripts that still parse it.
NOTICE_TITLE = "Autograding complete"
SUMMARY_FILE = "summary.md"  # beside results.json; the workflow posts it as the pull-request comment
# A step summary may hold 1 MiB; feedback beyond this many characters per cell is cut.
CELL_LIMIT = 600
FIX_LINES = 60  # of the code shown under "What to fix"
# Every ASCII punctuation character that Markdown may read as syntax; a backslash makes it literal.
_MARKDOWN_PUNCTUATION = re.compile(r"([!\"#$%'()*+,\-./:;=?@\[\\\]^_`{|}~])")


def enabled(flag: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to report to GitHub: asked for with --github, or running inside GitHub Actions."""
    environ = os.environ if environ is None else environ
    return flag or environ.get("GITHUB_ACTIONS") == "true"


def publish(results: dict[str, Any], *, task: Assignment, submission: Path, pass_mark: PassMark | None = None,
            environ: Mapping[str, str] | None = None, stream: TextIO | None = None, out: Path | None = None,
            exit_of: str = EXIT_OF_SUBMISSIONS) -> None:
    """Append the step summary to $GITHUB_STEP_SUMMARY (and write it to out/summary.md, for the pull-request
    comment), and print the legacy notice and the annotations. `exit_of`: what the exit status reports."""
    environ = os.environ if environ is None else environ
    stream = sys.stdout if stream is None else stream
    summary = step_summary(results, pass_mark, exit_of=exit_of)
    summary_file = environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")
    if out is not None:
        write_text(out / SUMMARY_FILE, summary)
    workspace = Path(environ.get("GITHUB_WORKSPACE") or os.getcwd())
    lines = [notice(results)] + annotations(results, task=task, submission=submission, workspace=workspace)
    stream.write("".join(line + "\n" for line in lines))
    stream.flush()


def inert(text: str) -> str:
    """`text` between ::stop-commands:: markers with an unguessable token, so that no line of it, however a
    submission's feedback wrapped or padded it, is run as a workflow command."""
    token = secrets.token_hex(16)
    return f"::stop-commands::{token}\n{text}\n::{token}::"


# --- Step summary (Markdown) ---------------------------------------------------------------------

def step_summary(results: dict[str, Any], pass_mark: PassMark | None = None,
                 exit_of: str = EXIT_OF_SUBMISSIONS) -> str:
    """The Markdown summary of one submission: verdict, score, accuracy and a table of the checks."""
    extra = results.get("extra_data", {})
    title = markdown_text(f"{extra.get('assignment', '')}: {extra.get('submission', '')}")
    lines = [f"## Autograding {title}", ""]
    score = f"**Score: {format_points(results['score'])}/{format_points(extra.get('max_score', 0))}**"
    accuracy = extra.get("accuracy")
    if isinstance(accuracy, (int, float)):
        score += f" · test accuracy {accuracy:.4f}"
    lines += [score, "", markdown_text(passmark.verdict(results, pass_mark, of=exit_of)), ""]
    if extra.get("self_check"):
        lines += [f"**{markdown_text(str(extra['self_check']))}**", ""]
    lines += ["| Check | Result | Points | Feedback |", "| --- | --- | ---: | --- |"]
    groups = failures(results)
    first_of = {test["name"]: group[0]["name"] for group in groups for test in group}
    for test in results["tests"]:
        mark = "✅ passed" if test["status"] == "passed" else "❌ failed"
        points = f"{format_points(test['score'])}/{format_points(test['max_score'])}"
        first = first_of.get(test["name"], test["name"])
        text = _feedback(test) if first == test["name"] else f"The same failure as {first}."
        lines.append(f"| {markdown_cell(test['name'])} | {mark} | {points} | {markdown_cell(text)} |")
    if groups:
        lines += ["", "### What to fix", ""] + [line for n, group in enumerate(groups, 1) for line in _item(n, group)]
    lines += ["", "The full report (report.html) and results.json are in this run's artifacts."]
    return "\n".join(lines) + "\n"


def failures(results: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The failed checks, grouped by identical feedback, hint and fault (a failed import fails every check alike)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for test in results.get("tests", []):
        if test.get("status") != "passed":
            data = test.get("extra_data", {})
            key = (str(data.get("feedback", test.get("output", ""))), str(data.get("hint") or ""), data.get("fault"))
            groups.setdefault(key, []).append(test)
    return list(groups.values())


def _item(number: int, group: list[dict[str, Any]]) -> list[str]:
    """One numbered item of "What to fix": the checks, the points lost, the feedback, the hint, the fix as code."""
    data = group[0].get("extra_data", {})
    lost = sum(t["max_score"] - t["score"] for t in group)
    names = ", ".join(t["name"] for t in group)
    lines = [f"{number}. **{markdown_text(names)}** ({format_points(lost)} point{'' if lost == 1 else 's'} lost): "
             f"{markdown_cell(data.get('feedback', group[0].get('output', '')), limit=4 * CELL_LIMIT)}"]
    if data.get("hint"):
        lines += ["", f"   How to fix: {markdown_cell(data['hint'], limit=4 * CELL_LIMIT)}"]
    code = [line.rstrip() for line in str(data.get("fix") or "").splitlines() if line.strip()][:FIX_LINES]
    if code:
        fence = "`" * max(3, 1 + max(len(run) for run in re.findall("`+", "\n".join(code)) or [""]))
        lines += ["", f"   {fence}python", *(f"   {line}" for line in code), f"   {fence}"]
    return lines


def markdown_text(text: str) -> str:
    """`text` as literal Markdown: no markup, links, HTML or mentions of its own survive."""
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", str(text))
    return html.escape(escaped, quote=False)


def markdown_cell(text: str, limit: int = CELL_LIMIT) -> str:
    """`text` as the literal content of one table cell: escaped, on one line, at most `limit` characters."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return "<br>".join(markdown_text(line) for line in text.split("\n"))


def _feedback(test: dict[str, Any], *, fix: bool = False) -> str:
    extra = test.get("extra_data", {})
    feedback = str(extra.get("feedback", test.get("output", "")))
    if test["status"] == "passed":
        return feedback
    return head(feedback, str(extra.get("hint") or ""), str(extra.get("fix") or "") if fix else "")


# --- Workflow commands: the legacy points notice and the annotations ------------------------------

def notice(results: dict[str, Any]) -> str:
    """The legacy `::notice` line `Points X/Y` that GitHub Classroom, retired in 2026, read the points from."""
    extra = results.get("extra_data", {})
    text = f"Points {format_points(results['score'])}/{format_points(extra.get('max_score', 0))}"
    return command("notice", text, title=NOTICE_TITLE)


def annotations(results: dict[str, Any], *, task: Assignment, submission: Path, workspace: Path) -> list[str]:
    """One `::error` line per failure (checks that failed alike, as all do when the import fails, share one): on the
    line the failure names in the student's file (the top-level statement that broke the import, the line that
    raised), else on the line of the function the check calls."""
    module = _module(submission, task)
    file = _relative(module, workspace) if module else None
    lines_of, syntax_line = _definitions(module) if module else ({}, None)
    out = []
    for group in failures(results):
        test = group[0]
        data = test.get("extra_data", {})
        fault = data.get("fault")
        message = _feedback(test, fix=True)
        if fault == "grader":
            out.extend(command("error", message, title=f"Grader fault in {t['name']}") for t in group)
            continue
        score, top = sum(t["score"] for t in group), sum(t["max_score"] for t in group)
        title = f"{', '.join(t['name'] for t in group)}: {format_points(score)}/{format_points(top)} points"
        named = data.get("line") if isinstance(data.get("line"), int) and not isinstance(data.get("line"), bool) else None
        # a line named by the failure, in a .py file that was read (a notebook's lines are not the file's)
        line = (syntax_line if fault == "syntax" and syntax_line else named if named and lines_of
                else lines_of.get(_function(task, test["name"]) or ""))
        properties = {"file": file, "line": line, "title": title}
        out.append(command("error", message, **{k: v for k, v in properties.items() if v is not None}))
    return out


def command(name: str, message: str, **properties: Any) -> str:
    """A workflow command line, `::name key=value,...::message`, with its data and properties escaped."""
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def escape_data(text: str) -> str:
    """Escape a workflow command's message: `%`, carriage returns and newlines."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value: as the message, plus `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def definition_lines(source: str) -> tuple[dict[str, int], int | None]:
    """Line of each top-level `def` in `source`, or the line of its syntax error; parsed, never run."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return {}, exc.lineno or 1
    except (ValueError, RecursionError, MemoryError):  # null bytes, absurd nesting: no line to point at
        return {}, None
    return {node.name: node.lineno for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}, None


def _definitions(module: Path) -> tuple[dict[str, int], int | None]:
    from grader.submission import top_level

    source = top_level.read_code(module) if module.suffix == ".py" else None  # never a pipe, nor a huge file
    return ({}, None) if source is None else definition_lines(source)


def _module(submission: Path, task: Assignment) -> Path | None:
    try:
        return locate(submission, task)
    except SubmissionNotFound:
        return None


def _function(task: Assignment, check: str) -> str | None:
    try:
        return task.check(check).function
    except KeyError:
        return None


def _relative(path: Path, workspace: Path) -> str:
    """The path GitHub expects: relative to the repository checkout when inside it."""
    try:
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        return path.as_posix()



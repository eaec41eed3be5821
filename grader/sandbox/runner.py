"""Runs one submission's code through the sandbox, one request at a time.

Keeps a loaded sandbox for the submission and starts a fresh one after a fault, so that a crash
in one check costs that check only. Every failure of submitted code, whether it raised, hung,
died or never imported, comes out as a `SubmissionError` with words for a student.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from grader import printed, timings
from grader.submission import top_level
from grader.sandbox import mistakes
from grader.sandbox.host import Reply, Sandbox, SandboxFault
from grader.assignment.spec import Assignment
from grader.submission.files import SubmissionNotFound
from grader.sandbox.zygote import Zygote

MAX_RESTARTS = 4


@dataclass
class SubmissionError(Exception):
    """Submitted code failed to give an answer; `kind` is one of results.FAULTS or 'error'."""

    kind: str
    message: str
    details: str = ""
    line: int | None = None
    top_line: int | None = None  # the top-level statement that was running when the module's import failed
    hint: str = ""  # what to do, when the failure is a known mistake (grader.sandbox.mistakes) or top-level code
    fix: str = ""  # code that shows the fix, shown as a block under the hint
    at_import: bool = False  # the module's import failed: every check fails with this one error

    def __str__(self) -> str:
        return self.message


class Runner:
    """The submission's code, loaded in a sandbox, answering requests."""

    def __init__(self, path: Path, assignment: Assignment, *, zygote: Zygote, keep_gpu: bool = False,
                 protect: tuple[Path, ...] = (), files: dict[str, Path] | None = None) -> None:
        self.path = path
        self.protect = protect
        self.files = files if files is not None else {path.name: path.resolve()}
        self.assignment = assignment
        self.keep_gpu = keep_gpu
        self.zygote = zygote  # the session's fork server (grader.grading.session), which forks its sandboxes
        self.sandbox: Sandbox | None = None
        self.functions: dict[str, bool] = {}
        self.output_log: list[str] = []
        self.output_dropped = 0  # characters printed past the sandbox's output limit, dropped
        self.printed = printed.PerCheck()  # what each check's requests printed; printed.IMPORTED: the import's
        self.check: str | None = None  # the check the requests are made for (see `for_check`), if any
        self._loaded = False
        self._load_error: SubmissionError | None = None
        self._restarts = 0
        self.isolation: dict[str, Any] = {}
        self._opening: _Opening | None = None

    def start(self) -> None:
        """Start a sandbox in the background, forked by the zygote; loading waits for it."""
        if self.sandbox is None:
            self.sandbox = Sandbox(self.assignment.limits, self.zygote, keep_gpu=self.keep_gpu, protect=self.protect)

    def open_in_background(self) -> None:
        """Fork the sandbox and import the submission in it while this process goes on (the first request waits).

        The thread only waits on the zygote and the sandbox, so the grader's own imports run meanwhile.
        """
        self.start()
        if self._opening is None and not self._loaded:
            self._opening = _Opening(self._open)

    def shutdown(self) -> None:
        """Stop the sandbox (the zygote is the session's)."""
        self.close()

    def close(self) -> None:
        """Stop the sandbox, keeping what it printed."""
        if self._opening is not None:
            if self.sandbox is not None and self._opening.thread.is_alive():
                self.sandbox.stop()  # no one waits for its import any more (an interrupt): do not wait for its end
            self._opening.thread.join()
            self._opening = None
        if self.sandbox is not None:
            text = self.sandbox.output()
            if text:
                self.output_log.append(text)
            self.output_dropped += self.sandbox.output_dropped  # what the child dropped past its output limit
            self.output_dropped += max(0, self.sandbox.output_size() - self.limit_bytes)  # what output() cut
            self.sandbox.close()
            self.sandbox = None
            if self.zygote is not None:
                self.zygote.sweep()  # anything the submission left running, detached or not
        self._loaded = False

    @property
    def output(self) -> str:
        return "\n".join(self.output_log)

    @property
    def limit_bytes(self) -> int:
        """The output of one sandbox kept in the results: what its output limit lets the submission print."""
        return int(self.assignment.limits.output_kb) * 1024

    @contextlib.contextmanager
    def for_check(self, name: str) -> Iterator[None]:
        """The requests made in the block are `name`'s: what they print is kept as that check's."""
        previous, self.check = self.check, name
        try:
            yield
        finally:
            self.check = previous

    def load(self) -> dict[str, bool]:
        """Import the submission (once); raise the same SubmissionError every time if it cannot be."""
        if self._load_error is not None:
            raise self._load_error
        if self._loaded:
            return self.functions
        if self._restarts > MAX_RESTARTS:
            raise SubmissionError("crash", f"the grader stopped restarting your code after {MAX_RESTARTS} crashes.")
        try:
            reply = self._opening.result() if self._opening is not None else self._open()
            self._opening = None  # kept while it runs: an interrupt's close() stops the sandbox, then joins it
        except SandboxFault as fault:
            self._load_error = dataclasses.replace(_from_fault(fault, f"importing {self.path.name}"), at_import=True)
            self.close()
            raise self._load_error
        except SubmissionNotFound as refused:  # a link or a size that changed between the check and the copy
            self._load_error = SubmissionError("unsafe", str(refused), at_import=True)
            self.close()
            raise self._load_error
        if not reply.header.get("ok"):
            self._load_error = dataclasses.replace(
                _from_exception(reply.header.get("error") or {}, f"importing {self.path.name}", self.path.name),
                at_import=True)
            self.close()
            raise self._load_error
        self.functions = {k: bool(v) for k, v in (reply.header.get("functions") or {}).items()}
        self._loaded = True
        return self.functions

    def _open(self) -> Reply:
        """Fork the sandbox, wait until it is ready and ask it to import the submission."""
        self.start()
        with timings.stage("sandbox: fork and confine (after the zygote is ready)", side="sandbox"):
            self.sandbox.start()
            self.isolation = self.sandbox.isolation
            self.sandbox.wait_ready()
        with timings.stage("sandbox: import the submission", side="sandbox"):
            target = self.sandbox.copy_in(self.files, self.path.name)
            return self._ask(printed.IMPORTED,
                             {"op": "load", "path": str(target), "functions": list(self.assignment.functions)},
                             timeout=self.assignment.limits.import_seconds, stage=f"importing {self.path.name}")

    def _ask(self, check: str | None, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None, *,
             timeout: float, stage: str) -> Reply:
        """One request to the sandbox; what the submission printed while it ran is kept as `check`'s (the worker
        flushes its output before it answers, and whatever it started is stopped once it has answered); None: no
        check's."""
        sandbox = self.sandbox
        offset, dropped = sandbox.output_size(), sandbox.output_dropped
        try:
            return sandbox.request(header, arrays, timeout=timeout, stage=stage)
        finally:
            if check is not None:
                text, unread = sandbox.output_since(offset, 4 * printed.CHECK_CHARS)
                self.printed.add(check, text, unread + max(0, sandbox.output_dropped - dropped))

    def request(self, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None, *, stage: str,
                timeout: float | None = None) -> Reply:
        """Send a request to the loaded submission; a raised exception becomes a SubmissionError."""
        try:
            functions = self.load()
        except SubmissionError as error:
            if error is self._load_error:  # the import failed: say so if top-level code did it, once
                self._load_error = _with_top_level(error, self.path)
            raise self._load_error from None
        name = header.get("function")
        if name and not functions.get(name):
            raise SubmissionError("missing", f"{self.path.name} has no function {name}(); define it with the name and "
                                             f"arguments given in the template.")
        try:
            reply = self._ask(self.check, header, arrays, timeout=timeout or self.assignment.limits.call_seconds,
                              stage=stage)
        except SandboxFault as fault:
            self._restarts += 1
            self.close()
            raise _from_fault(fault, stage)
        if "ok" not in reply.header:
            self._restarts += 1
            self.close()
            raise SubmissionError("protocol", f"{stage} garbled the answer it sent to the grader (did the code replace "
                                              "json, numpy or the grader's own functions?).")
        if not reply.header.get("ok"):
            raise _from_exception(reply.header.get("error") or {}, stage, self.path.name)
        return reply


class _Opening:
    """A sandbox being opened by a thread: its reply, or what it raised, for whoever asks first."""

    def __init__(self, open_sandbox) -> None:
        self.reply: Reply | None = None
        self.error: BaseException | None = None
        self._open = open_sandbox
        self.thread = threading.Thread(target=self._run, name="grader-open-sandbox", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.reply = self._open()
        except BaseException as exc:  # noqa: BLE001 - raised again in the thread that asks for the result
            self.error = exc

    def result(self) -> Reply:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.reply


def _from_fault(fault: SandboxFault, stage: str) -> SubmissionError:
    details = _tail(fault.output)
    return SubmissionError(fault.kind, f"{fault.message}.", details)


def _from_exception(error: dict[str, Any], stage: str, filename: str) -> SubmissionError:
    kind = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    line = error.get("line") if isinstance(error.get("line"), int) else None
    where = f" (line {line} of {filename})" if line else ""
    trace = str(error.get("traceback", ""))
    top = error.get("top_line") if isinstance(error.get("top_line"), int) else None
    if kind == "SyntaxError" or kind in ("IndentationError", "TabError"):
        code = error.get("code") or ""
        return SubmissionError("syntax", f"{filename} has a syntax error on line {line}: {message}. Python cannot run "
                                         "any of the file until it is fixed.", code, line)
    if kind in ("ModuleNotFoundError", "ImportError"):
        module = error.get("module") or "a module"
        return SubmissionError("import", f"{stage} failed: {kind}: {message}{where}. The module {module!r} is not "
                                         "available to the grader; use only numpy, tensorflow/keras and the standard library.", trace, line)
    if kind == "SystemExit":
        return SubmissionError("crash", f"{stage} called sys.exit({error.get('code')!r}){where}; remove the exit call: "
                                        "the grader needs your code to return.", trace, line, top)
    if kind == "NotImplementedError":
        hint = f" ({message})" if message else ""
        return SubmissionError("not_implemented", f"not implemented yet: {stage} raised NotImplementedError{hint}. Replace the "
                                                  "`raise NotImplementedError` with your code.", trace, line)
    if kind in ("MemoryError", "ResourceExhaustedError") or "OOM when allocating" in message:
        return SubmissionError("memory", f"{stage} ran out of memory ({kind}{where}); the limit is set by the "
                                         "assignment. Avoid making huge arrays or layers.", trace, line, top)
    if kind == "RecursionError":
        return SubmissionError("error", f"{stage} raised RecursionError: {message}{where}. Python raises it when a "
                                        "function calls itself without end, or when code is nested too deeply to "
                                        "compile; expected code that returns. Make the recursion stop (or use a loop), and write long "
                                        "expressions as several shorter statements.", trace, line, top)
    if kind == "OSError" and f"[Errno {errno.EFBIG}]" in message:
        return SubmissionError("output", f"{stage} wrote more than the allowed output or file size and was stopped{where}. "
                                         "Remove large prints and file writes.", trace, line, top)
    return SubmissionError("error", f"{stage} raised {kind}: {message}{where}", trace, line, top,
                           hint=mistakes.hint(kind, message))


# Failures of an import that top-level code can cause (not a syntax error or a missing module).
_TOP_LEVEL_KINDS = ("error", "crash", "timeout", "memory", "cpu", "output")


def _with_top_level(error: SubmissionError, module: Path) -> SubmissionError:
    """`error`, a failed import, told as top-level code when such code is the likely cause: the statement that
    raised, or (a limit hit) the module's top-level work; its hint and fix move that work under
    `if __name__ == "__main__":`."""
    if error.kind not in _TOP_LEVEL_KINDS or error.fix:
        return error
    statements = top_level.work_in(module)
    failed = next((s for s in statements if s.line == error.top_line), None)
    if error.top_line is not None and failed is None:
        return error  # the statement that raised does no work: a mistake of its own, not the place of the code
    if error.top_line is None and error.kind in ("error", "crash"):
        return error  # raised outside the module's own top-level code
    told = top_level.explain(module.name, statements, failed=failed, error=error.message)
    if told is None:
        return error
    line = failed.line if failed is not None else error.line if error.line is not None else statements[0].line
    return dataclasses.replace(error, message=told.feedback, hint=told.hint, fix=told.fix, line=line)


def _tail(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else "[...]\n" + text[-limit:]

"""A small pool of spawned worker processes that knows which job each worker holds.

concurrent.futures' process pool breaks as a whole when one worker dies, and then cannot say which
job killed it. Here each worker takes one job at a time over its own pipe, and the parent watches
every worker's pipe and process sentinel: a worker that dies is replaced, the one job it held is
tried again (`retries` times), and the others never notice. Workers are trusted grader processes;
what crosses the pipes is the grader's own jobs and results.
"""

from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.connection
import signal
from dataclasses import dataclass, field
from typing import Any, Callable

from grader import orphans

MAX_START_FAILURES = 3  # workers in a row that die or fail before they are ready: stop starting more
STOP_SECONDS = 30  # how long a worker told to stop may take before it is killed


class JobFailed(Exception):
    """The work function raised for this job (a fault of the grader); the message is its type and text."""


class WorkerDied(Exception):
    """The worker holding this job died on every try; the message says how (signal or exit status)."""


class NoWorkers(Exception):
    """No worker could be started, so this job was never run; the message says why the last one failed."""


@dataclass
class _Task:
    job: Any
    tries: int = 0


@dataclass
class _Worker:
    process: Any
    conn: Any
    task: _Task | None = None
    ready: bool = False
    failure: str = ""
    error: BaseException | None = None


@dataclass
class _State:
    queue: collections.deque = field(default_factory=collections.deque)
    live: list[_Worker] = field(default_factory=list)
    stopping: list[_Worker] = field(default_factory=list)
    start_failures: int = 0
    last_failure: str = ""


def run(jobs: list[Any], work: Callable[[Any], Any], *, workers: int, start: Callable[..., None],
        start_args: tuple = (), stop: Callable[[], None] | None = None, retries: int = 1,
        on_result: Callable[[Any, Any], None], on_start: Callable[[Any, int], None] | None = None,
        launch: Callable[[Callable, tuple], Any] | None = None) -> None:
    """Run `work(job)` for every job in up to `workers` processes, each set up by `start(*start_args)`.

    `on_result(job, outcome)` is called once per job, in the parent, as soon as it is known: the
    value `work` returned, or a JobFailed, WorkerDied or NoWorkers exception. `on_start(job, pid)`
    is called each time a job is handed to a worker. `stop()` runs in a worker before it exits.
    `launch(target, args)` makes an unstarted process object (default: multiprocessing's spawned Process).
    """
    with Pool(work, workers=workers, start=start, start_args=start_args, stop=stop, retries=retries,
              launch=launch) as workers_:
        workers_.run(jobs, on_result=on_result, on_start=on_start)


class Pool:
    """Workers that stay up between runs of jobs (see `run`), until closed."""

    def __init__(self, work: Callable[[Any], Any], *, workers: int, start: Callable[..., Any], start_args: tuple = (),
                 stop: Callable[[], None] | None = None, retries: int = 1,
                 launch: Callable[[Callable, tuple], Any] | None = None) -> None:
        self.workers, self.retries = max(1, workers), retries
        self._spec = (start, start_args, work, stop)
        self._launch = launch or _spawned
        self._state = _State()
        self.started: Any = None  # what the first worker's `start` returned

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.close(kill=kind is not None)

    def ready(self) -> Any:
        """Start a worker if none is up, wait until one is ready and return what its `start` returned; raise what
        its `start` raised, or NoWorkers if none can be started."""
        state = self._state
        try:
            while not any(w.ready for w in state.live):
                if not state.live:
                    if state.start_failures >= MAX_START_FAILURES:
                        raise NoWorkers(state.last_failure)
                    self._start(1)
                    continue
                self._wait(lambda *_: None, None, raise_start_errors=True)
        except BaseException:
            self.close(kill=True)
            raise
        return self.started

    def run(self, jobs: list[Any], *, on_result: Callable[[Any, Any], None],
            on_start: Callable[[Any, int], None] | None = None) -> None:
        """Run `work(job)` for every job; `on_result(job, outcome)` once per job, as in the module's `run`."""
        state = self._state
        state.queue.extend(_Task(job) for job in jobs)
        try:
            for worker in [w for w in state.live if w.ready and w.task is None]:
                _assign(state, worker, on_start)
            while state.queue or any(w.task for w in state.live):
                self._start(min(self.workers, len(state.queue) + sum(w.task is not None for w in state.live)))
                if not state.live:  # none could be started: the jobs cannot run
                    while state.queue:
                        on_result(state.queue.popleft().job, NoWorkers(state.last_failure))
                    break
                self._wait(on_result, on_start)
        except BaseException:
            self.close(kill=True)
            raise

    def close(self, *, kill: bool = False) -> None:
        """Stop every worker: ask and wait (or kill at once, on an error or interrupt); never leave one running."""
        state = self._state
        _stop_all(state.live + state.stopping, kill=kill)
        state.live.clear()
        state.stopping.clear()

    def _start(self, wanted: int) -> None:
        """Start workers until there are `wanted`, unless they keep failing to start."""
        state = self._state
        while len(state.live) < wanted and state.start_failures < MAX_START_FAILURES:
            ours, theirs = multiprocessing.Pipe()
            process = self._launch(_serve, (theirs, orphans.parent_token(), *self._spec))
            try:
                process.start()
            except Exception as exc:  # noqa: BLE001 - counted as a worker that could not start
                ours.close()
                theirs.close()
                state.start_failures += 1
                state.last_failure = f"the grading worker could not start: {type(exc).__name__}: {exc}"
                continue
            theirs.close()
            state.live.append(_Worker(process, ours))

    def _wait(self, on_result: Callable, on_start: Callable | None, *, raise_start_errors: bool = False) -> None:
        """Wait until workers say something or die, and act on it."""
        state = self._state
        ready = multiprocessing.connection.wait([w.conn for w in state.live] + [w.process.sentinel for w in state.live])
        for worker in [w for w in state.live if w.conn in ready or w.process.sentinel in ready]:
            self._handle(worker, on_result, on_start, raise_start_errors)

    def _handle(self, worker: _Worker, on_result: Callable, on_start: Callable | None,
                raise_start_errors: bool) -> None:
        """Act on what one worker said, or on its death; with `raise_start_errors`, raise what its `start` raised."""
        state = self._state
        message = _receive(worker)
        if message is None:
            _bury(state, worker, self.retries, on_result)
            return
        kind, value = message
        if kind == "ready":
            worker.ready, state.start_failures = True, 0
            if self.started is None:
                self.started = value
        elif kind == "start-failed":
            worker.failure, worker.error = value
            if worker.error is not None and raise_start_errors:
                raise worker.error  # what setting a worker up raised (bad data, a missing kit): the same in every worker
            return  # it exits next; its death is counted then
        else:
            task, worker.task = worker.task, None
            on_result(task.job, value if kind == "done" else JobFailed(value))
        _assign(state, worker, on_start)


def _spawned(target: Callable, args: tuple) -> Any:
    return multiprocessing.get_context("spawn").Process(target=target, args=args, daemon=True, name="grader-worker")


def _receive(worker: _Worker) -> tuple[str, Any] | None:
    """The worker's next message, or None if it died (its pipe is closed and empty)."""
    try:
        if worker.conn.poll():
            return worker.conn.recv()
    except (EOFError, OSError):
        pass
    return None


def _assign(state: _State, worker: _Worker, on_start: Callable | None) -> None:
    """Give an idle, ready worker the next job, or tell it to stop if there is none."""
    if not state.queue:  # idle until the next run, or until the pool is closed
        return
    task = state.queue.popleft()
    try:
        worker.conn.send(task.job)
    except (OSError, ValueError):  # it died just now, before it got the job: the job was never run
        state.queue.appendleft(task)
        return
    task.tries += 1
    worker.task = task
    if on_start:
        on_start(task.job, worker.process.pid)


def _bury(state: _State, worker: _Worker, retries: int, on_result: Callable) -> None:
    """A worker died: forget it; retry the job it held, or report that job if it has had its tries."""
    worker.process.join(STOP_SECONDS)  # its pipe closed: it is exiting, if it has not already
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    worker.conn.close()
    state.live.remove(worker)
    how = worker.failure or _how_it_ended(worker.process.exitcode)
    if not worker.ready:
        state.start_failures += 1
        state.last_failure = f"the grading worker could not start: {how}"
    task = worker.task
    if task is None:
        return
    if task.tries <= retries:
        state.queue.appendleft(task)
    else:
        on_result(task.job, WorkerDied(how))


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"killed by signal {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    return f"exited with status {code}"


def _send_stop(worker: _Worker) -> None:
    try:
        worker.conn.send(None)
    except (OSError, ValueError):
        pass


def _stop_all(workers: list[_Worker], *, kill: bool) -> None:
    """Stop workers: ask and wait (or kill at once, on an error or interrupt); never leave one running."""
    for worker in workers:
        if kill:
            worker.process.kill()
        else:
            _send_stop(worker)
    for worker in workers:
        worker.process.join(None if kill else STOP_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


# -- inside a worker process -----------------------------------------------------------------------

def _serve(conn: Any, parent: int, start: Callable[..., None], start_args: tuple, work: Callable[[Any], Any],
           stop: Callable[[], None] | None) -> None:
    """A worker's life: set up, say so, then run one job at a time until told to stop (None) or orphaned.

    Ctrl-C reaches every process of the terminal's foreground group, the workers too; a worker ignores it (a
    KeyboardInterrupt would wait for TensorFlow's C code to return, then finish its job) and the parent, which
    handles it, kills the workers. A worker dies with its parent, however that one ends.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not orphans.die_with_parent(parent):
        return
    try:
        started = start(*start_args)
    except Exception as exc:  # noqa: BLE001 - the parent reports it
        try:
            conn.send(("start-failed", (f"{type(exc).__name__}: {exc}", exc)))
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its text
            conn.send(("start-failed", (f"{type(exc).__name__}: {exc}", None)))
        return
    try:
        conn.send(("ready", started))
        while (job := conn.recv()) is not None:
            try:
                outcome = ("done", work(job))
            except Exception as exc:  # noqa: BLE001 - a grader bug costs one job, not the worker
                outcome = ("error", f"{type(exc).__name__}: {exc}")
            conn.send(outcome)
    except (EOFError, OSError):
        pass  # the parent is gone
    finally:
        if stop:
            stop()

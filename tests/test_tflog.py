"""TensorFlow's own log lines: on no command's stdout or stderr, nor in a notebook cell, unless --verbose."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SOLUTION, SUBMISSIONS
from grader import tflog

# What TensorFlow, absl and oneDNN write: absl's records (I0000, W0000, E0000 ...), its note before InitializeLog,
# oneDNN's note, and any source path of TensorFlow's.
TENSORFLOW = re.compile(r"absl|oneDNN|^[IWEF]\d{4} |tensorflow/core|node_def_util", re.MULTILINE)
ONEDNN = ("I0000 00:00:1796673182.992231   15412 port.cc:153] oneDNN custom operations are on. You may see slightly "
          "different numerical results due to floating-point round-off errors from different computation orders.\n")
ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
NODE_DEF = ("E0000 00:00:1796673189.703375   15412 node_def_util.cc:682] NodeDef mentions attribute "
            "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset; ...>\n")


def _grader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # TF_CPP_MIN_LOG_LEVEL=0: TensorFlow would log everything; the grader must hide it all the same.
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "GRADER_COURSE": str(ROOT)})


def _no_tensorflow(done: subprocess.CompletedProcess) -> None:
    for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        assert not TENSORFLOW.search(text), f"TensorFlow's lines on {stream}:\n{text}"


# --- The filter -----------------------------------------------------------------------------------

def test_the_lines_tensorflow_writes_are_recognised_and_others_are_not():
    for line in (ONEDNN, ABSL, NODE_DEF, "W0000 00:00:1796673189.7 15412 cuda_dnn.cc:8] no GPU\n",
                 "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
                 "appropriate compiler flags.\n"):
        assert tflog.is_log(line.encode()), line
    for line in ("grader: the sandbox runs without seccomp\n", "E0000 is my variable\n", "Traceback (most recent "
                 "call last):\n", "WARNING: something of the grader's\n", "[1/2] digits: 10/10 passed (11.7 s)\n"):
        assert not tflog.is_log(line.encode()), line


def test_muted_drops_tensorflow_lines_on_fd_2_and_passes_the_rest_on(capfd):
    with tflog.quiet():
        with tflog.muted():
            os.write(2, (ABSL + ONEDNN + "grader: a warning of the grader's\n" + NODE_DEF + "last words").encode())
            print("on stdout, untouched")
        assert capfd.readouterr() == ("on stdout, untouched\n", "grader: a warning of the grader's\nlast words")


def test_muted_nests_and_passes_an_exception_on_with_fd_2_restored(capfd):
    with pytest.raises(ImportError), tflog.quiet(), tflog.muted():
        os.write(2, b"outer\n")
        with tflog.muted():
            os.write(2, (ONEDNN + "inner\n").encode())
        raise ImportError("no such module")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "outer\ninner\nafter\n"


def test_muted_without_stderr_or_a_temporary_folder_still_runs_the_block(tmp_path):
    code = ("import os, sys, tempfile\nfrom grader import tflog\nos.close(2)\n"
            "with tflog.muted():\n    print('ran with no stderr')\nos.open(os.devnull, os.O_WRONLY)\n"
            "tempfile.tempdir = sys.argv[1]\nwith tflog.muted():\n    print('ran with no temporary folder')\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "gone")], capture_output=True, text=True)
    assert done.stdout == "ran with no stderr\nran with no temporary folder\n", done.stderr


def test_verbose_lets_everything_through_and_the_environment_is_restored(capfd, monkeypatch):
    monkeypatch.setenv(tflog.LEVEL, "1")
    with tflog.quiet(verbose=True):
        assert tflog.verbose() and tflog.level() == "1"
        with tflog.muted():
            os.write(2, ONEDNN.encode())
    assert capfd.readouterr().err == ONEDNN
    with tflog.quiet():
        assert not tflog.verbose() and tflog.level() == "3" and os.environ[tflog.LEVEL] == "3"
    with tflog.quiet(here=False):
        assert tflog.level() == "3" and os.environ[tflog.LEVEL] == "1"  # the kernel's own TensorFlow: untouched
    assert os.environ[tflog.LEVEL] == "1" and tflog.VERBOSE not in os.environ


def test_the_sandbox_environment_carries_the_level():
    from grader.sandbox.zygote import environment

    with tflog.quiet():
        assert environment(Path("/h"), Path("/t"))[tflog.LEVEL] == "3"
    with tflog.quiet(verbose=True):
        assert environment(Path("/h"), Path("/t"))[tflog.LEVEL] == os.environ.get(tflog.LEVEL, "0")


# --- Every command ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_grader_check_of_the_template_kit_prints_nothing_of_tensorflow(tmp_path):
    kit = tmp_path / "kit"
    done = _grader("kit", "digits", "--out", str(kit), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    _no_tensorflow(done)
    done = _grader("check", str(kit / "digits.py"), cwd=tmp_path)
    assert done.returncode == 1 and "Self-check of digits.py" in done.stdout, done.stdout + done.stderr
    _no_tensorflow(done)
    loud = _grader("check", "--verbose", str(kit / "digits.py"), cwd=tmp_path)
    assert loud.returncode == 1 and "oneDNN" in loud.stderr and "Self-check of digits.py" in loud.stdout


@pytest.mark.slow
def test_grader_check_that_trains_ahead_prints_nothing_of_tensorflow(tmp_path):
    done = _grader("check", str(SOLUTION), cwd=ROOT)  # the training ahead, in a process of its own, trains too
    assert done.returncode == 0 and "Every visible check passed" in done.stdout, done.stdout + done.stderr
    _no_tensorflow(done)


@pytest.mark.slow
def test_grader_run_of_one_and_of_a_batch_prints_nothing_of_tensorflow(tmp_path):
    done = _grader("run", str(SOLUTION.relative_to(ROOT)), "--out", str(tmp_path / "one"), "--no-cache", cwd=ROOT)
    assert done.returncode == 0 and "Score 10/10" in done.stdout, done.stdout + done.stderr
    _no_tensorflow(done)
    batch = _grader("run", str(SOLUTION), str(SUBMISSIONS / "normalise_float64.py"), "--out", str(tmp_path / "two"),
                    "--no-cache", "--jobs", "2", cwd=tmp_path)
    assert batch.returncode == 1 and "2 submission(s) of digits" in batch.stdout, batch.stdout + batch.stderr
    _no_tensorflow(batch)
    book = _grader("gradebook", str(tmp_path / "two"), "--out", str(tmp_path / "book"), cwd=tmp_path)
    assert book.returncode == 0 and "gradebook.csv" in book.stdout, book.stderr
    _no_tensorflow(book)
    loud = _grader("run", "--verbose", str(SOLUTION), "--out", str(tmp_path / "loud"), "--no-cache", cwd=tmp_path)
    assert loud.returncode == 0 and TENSORFLOW.search(loud.stderr), loud.stderr


@pytest.mark.slow
def test_grader_release_prints_nothing_of_tensorflow(tmp_path):
    done = _grader("release", "digits", "--out", str(tmp_path / "kit"), cwd=ROOT)
    assert done.returncode == 0 and "Wrote" in done.stdout, done.stdout + done.stderr
    _no_tensorflow(done)


@pytest.mark.slow
def test_grader_validate_prints_nothing_of_tensorflow():
    done = _grader("validate", "digits", cwd=ROOT)
    assert done.returncode == 0 and "digits: valid" in done.stdout, done.stdout + done.stderr
    _no_tensorflow(done)


@pytest.mark.slow
def test_assign_and_export_print_nothing_of_tensorflow(tmp_path):
    done = _grader("assign", str(ROOT / "solutions" / "digits" / "digits.ipynb"), "--out", str(tmp_path / "a"), cwd=ROOT)
    assert done.returncode == 0 and "Wrote" in done.stdout, done.stderr
    _no_tensorflow(done)
    done = _grader("export", "gradescope", "--assignment", "digits", "--out", str(tmp_path / "ag.zip"), cwd=ROOT)
    assert done.returncode == 0 and (tmp_path / "ag.zip").is_file(), done.stderr
    _no_tensorflow(done)


def test_every_grading_command_has_verbose():
    from grader import cli

    commands = next(a for a in cli.build_parser()._actions if a.dest == "command").choices
    for name in ("run", "check", "validate", "release"):
        assert "--verbose" in commands[name].format_help(), name

"""The command line: help texts, exit statuses, outputs, and one full-budget grading of the reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SOLUTION, SUBMISSIONS
from grader import cli


def _grader(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                            "GRADER_COURSE": str(ROOT), **(env or {})})  # run from elsewhere


def _commands() -> list[str]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_command_has_help_and_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for command in _commands():
        with pytest.raises(SystemExit) as done:
            cli.main([command, "--help"])
        assert done.value.code == 0
        assert f"grader {command}" in readme, f"README does not document `grader {command}`"


def test_a_shard_exits_0_once_every_submission_has_a_verdict_and_the_default_is_kept_elsewhere(tmp_path: Path,
                                                                                               capsys) -> None:
    """A job of a batch scheduler (a shard) must succeed when it graded its share, whatever the scores, or Slurm's
    afterok never starts the merge and a Kubernetes Job retries the index; without --shard the status is as before."""
    amy, bob = tmp_path / "class" / "amy", tmp_path / "class" / "bob"
    amy.mkdir(parents=True)
    bob.mkdir()  # nothing handed in: status missing, a verdict on the hand-in
    (amy / "digits.py").write_text("def reshape(images:\n")  # graded: 0/10, every check fails on the syntax error
    run = ["run", str(amy), str(bob), "--assignment", "digits", "--out", str(tmp_path / "out")]
    assert cli.main(run) == 2  # the worst verdict: a hand-in with nothing to grade
    assert cli.main([*run, "--exit-status", "grader"]) == 0
    assert cli.main([*run, "--shard", "1/1"]) == 0
    assert cli.main([*run, "--shard", "1/1", "--exit-status", "submissions"]) == 2
    printed = capsys.readouterr().out
    assert "2 submission(s) of digits: 0 passed, 1 not passed, 1 not graded, 0 with a grader fault" in printed
    alone = ["run", str(amy / "digits.py"), "--out", str(tmp_path / "alone")]
    assert cli.main(alone) == 1
    assert cli.main([*alone, "--exit-status", "grader"]) == 0
    assert cli.main(["run", str(bob), "--assignment", "digits", "--out", str(tmp_path / "empty"),
                     "--exit-status", "grader"]) == 0
    assert "Not graded (no submission)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        cli.main([*alone, "--exit-status", "scores"])
    assert refused.value.code == 2 and "--exit-status" in capsys.readouterr().err
    from grader import api
    from grader.errors import UsageError

    with pytest.raises(UsageError, match="give submissions .* or grader"):
        api.run(submissions=[amy], exit_status="scores", out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_a_missing_submission_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert cli.main(["run", str(tmp_path / "nope.py"), "--out", str(tmp_path / "out")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_an_unknown_assignment_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert cli.main(["run", str(SOLUTION), "--assignment", "nope", "--out", str(tmp_path)]) == 2
    assert "no assignment called 'nope'" in capsys.readouterr().err


def test_bad_data_is_a_usage_error_that_says_how_to_supply_data(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    assert cli.main(["run", str(SOLUTION), "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o")]) == 2
    assert "--data" in capsys.readouterr().err


def _user_errors() -> list[type]:
    """The library's errors that a command ends with when what it was given is wrong."""
    from grader.assignment import budgets, data, kit, spec
    from grader.authoring import assign, release
    from grader import passmark
    from grader.grading import batch, selfcheck
    from grader.platforms import canvas, gradescope, jupyter
    from grader.sandbox import isolation
    from grader.trusted import memo
    from grader.views import gradebook

    return [spec.SpecError, kit.KitError, data.DataError, budgets.BudgetError, isolation.IsolationError,
            memo.CacheError, passmark.PassMarkError, batch.ShardError, selfcheck.NothingToCheck,
            gradebook.GradebookError, canvas.CanvasError, gradescope.ExportError, release.ReleaseError,
            assign.AssignError, jupyter.NotInNotebook, jupyter.NotAFunction]


@pytest.mark.parametrize("error", _user_errors(), ids=lambda e: e.__name__)
def test_a_library_error_about_the_input_is_one_line_and_exit_2(error, monkeypatch, capsys) -> None:
    from grader.authoring import release
    from grader.errors import UsageError

    assert issubclass(error, UsageError)

    def refuse(*args, **kwargs):
        raise error("what was wrong; expected this. Do that.")

    monkeypatch.setattr(release, "release", refuse)
    assert cli.main(["release", "digits"]) == cli.EXIT_ERROR == 2
    assert capsys.readouterr().err == "grader: error: what was wrong; expected this. Do that.\n"


def test_a_fault_of_the_grader_is_reported_with_its_traceback_never_as_the_input(monkeypatch, capsys) -> None:
    from grader.authoring import release
    from grader.errors import GraderFault
    from grader.sandbox.zygote import ZygoteError

    assert issubclass(ZygoteError, GraderFault)

    def fail(*args, **kwargs):
        raise ZygoteError("the zygote process exited (status 1); its log: nothing")

    monkeypatch.setattr(release, "release", fail)
    assert cli.main(["release", "digits"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZygoteError: the zygote process exited (status 1)" in err
    assert err.endswith("grader: internal error: the grader itself failed (above); this is not the submission's fault.\n")
    assert "grader: error:" not in err


@pytest.mark.slow
def test_the_reference_solution_earns_full_marks_at_the_full_budget(tmp_path: Path) -> None:
    done = _grader("run", str(SOLUTION), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["score"] == results["extra_data"]["max_score"] == 10
    assert [t["name"] for t in results["tests"]] == ["reshape", "normalise", "build_model", "compile_model", "accuracy", "predict"]
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility", "extra_data"}
        assert test["status"] == "passed"
    accuracy = results["extra_data"]["accuracy"]
    assert accuracy == pytest.approx(0.888, abs=0.02)
    assert accuracy >= next(t for t in results["tests"] if t["name"] == "accuracy")["extra_data"]["min_accuracy"]
    assert "Score 10/10" in done.stdout and "report.html" in done.stdout
    assert (tmp_path / "out" / "report.html").read_text().count("passed") >= 6


@pytest.mark.slow
def test_grading_is_deterministic_and_a_lost_point_exits_1(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        done = _grader("run", str(SUBMISSIONS / "normalise_twice.py"), "--out", str(tmp_path / f"o{i}"), cwd=tmp_path)
        assert done.returncode == 1, done.stdout + done.stderr
        runs.append(json.loads((tmp_path / f"o{i}" / "results.json").read_text()))
    assert runs[0]["score"] == runs[1]["score"] == 9
    assert round(runs[0]["extra_data"]["accuracy"], 4) == round(runs[1]["extra_data"]["accuracy"], 4)
    assert [t["score"] for t in runs[0]["tests"]] == [t["score"] for t in runs[1]["tests"]]

"""Progress of a batch: a rich bar on a terminal, a plain line per submission in logs."""

from __future__ import annotations

import io
import types

import pytest

from conftest import ROOT
from grader import cli
from grader.passmark import parse
from grader.views.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _results(score: float, reused: bool | None = None) -> dict:
    tests = [{"name": "accuracy", "score": score, "max_score": 10, "status": "passed" if score == 10 else "failed",
              "extra_data": {} if reused is None else {"training_cache": {"key": "k", "reused": reused}}}]
    return {"score": score, "execution_time": 1.5, "tests": tests, "extra_data": {"max_score": 10}}


def test_a_log_gets_one_line_per_submission_and_a_summary() -> None:
    log = io.StringIO()
    progress = Progress(3, 1, bar=False, stream=log)
    for name, score, reused in (("ada", 10, False), ("ben", 4, True)):
        job = types.SimpleNamespace(name=name)
        progress.start(job, 123)
        progress.done(job, _results(score, reused))
    progress.close()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("1 of 3 already graded")
    assert lines[1:3] == ["[2/3] ada: 10/10 passed (1.5 s)", "[3/3] ben: 4/10 failed (1.5 s)"]
    assert lines[3].startswith("graded 2 in ") and "1 passed, 1 failed; 1 training(s) run, 1 reused" in lines[3]


def test_the_bar_shows_graded_passed_failed_times_and_who_is_being_graded() -> None:
    screen = Terminal()
    progress = Progress(4, 0, bar=True, stream=screen, pass_mark=parse("40%"))
    job = types.SimpleNamespace(name="ada_lovelace")
    progress.start(job, 123)
    progress.done(job, _results(4))
    progress.start(types.SimpleNamespace(name="ben"), 124)
    progress.close()
    text = screen.getvalue()
    assert "1/4" in text and "1 passed" in text and "0 failed" in text and "ETA" in text
    assert "0:00:0" in text and "ben" in text  # elapsed time, and the submission still being graded
    assert "[1/4]" not in text  # no log lines on a terminal


def test_force_means_all_regrade_takes_names_and_the_options_are_documented(capsys) -> None:
    parser = cli.build_parser()
    parse = lambda *argv: parser.parse_args(["run", *argv])
    assert cli._force(parse("a", "b").force, parse("a", "b").regrade) == ()
    assert cli._force(parse("a", "b", "--force").force, None) is True
    # --force never takes a submission as its value: both are graded, and all of them again
    both = parse("--force", "a.py", "b.py")
    assert both.submissions == ["a.py", "b.py"] and both.force is True
    named = parse("a", "--regrade", "b", "--regrade", "c,d")
    assert named.submissions == ["a"] and cli._force(named.force, named.regrade) == ("b", "c", "d")
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])
    shown = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    for option in ("--force", "--regrade NAME", "--budget NAME", "--cache DIR", "--no-cache"):
        assert option in shown, option
        assert option in readme, option

"""Tests for grader.passmark and the --pass-mark option: parsing, the exit status it sets, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import cli
from grader.passmark import PassMark, PassMarkError, exit_status, parse, verdict


def results(scores: list[tuple[float, float]], grader_faults: list[str] | None = None) -> dict:
    """A minimal results dict with one check per (score, max_score) pair."""
    tests = [{"name": f"check{i}", "score": s, "max_score": m, "status": "passed" if s >= m else "failed"}
             for i, (s, m) in enumerate(scores)]
    return {"score": sum(s for s, _ in scores), "tests": tests,
            "extra_data": {"max_score": sum(m for _, m in scores), "grader_faults": grader_faults or []}}


# --- Parsing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("7", PassMark(7.0)),
    ("7.5", PassMark(7.5)),
    (" 0 ", PassMark(0.0)),
    ("70%", PassMark(70.0, percent=True)),
    ("100 %", PassMark(100.0, percent=True)),
    ("0%", PassMark(0.0, percent=True)),
])
def test_parse_accepts_points_and_percentages(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-1", "7 points", "101%", "-5%", "nan", "inf", "%", "70%%"])
def test_parse_rejects_nonsense_with_a_message_saying_what_to_give(text):
    with pytest.raises(PassMarkError, match="give points such as 7 or a percentage such as 70%"):
        parse(text)


def test_points_mark_above_the_maximum_is_unreachable():
    with pytest.raises(PassMarkError, match="more than the assignment's 10 points"):
        PassMark(11).check_reachable(10)
    PassMark(10).check_reachable(10)
    PassMark(100, percent=True).check_reachable(10)


# --- Applying a mark -----------------------------------------------------------------------------

def test_default_is_every_check_passed():
    assert exit_status(results([(1, 1), (2, 2)])) == 0
    assert exit_status(results([(1, 1), (0, 2)])) == 1


def test_points_mark_decides_the_exit_status():
    graded = results([(3, 3), (4, 4), (0, 3)])  # 7/10
    assert exit_status(graded, parse("7")) == 0
    assert exit_status(graded, parse("7.5")) == 1


def test_percent_mark_is_a_share_of_the_maximum():
    graded = results([(3, 3), (4, 4), (0, 3)])  # 7/10
    assert exit_status(graded, parse("70%")) == 0
    assert exit_status(graded, parse("71%")) == 1
    assert parse("70%").points(20) == pytest.approx(14)


def test_float_sums_meet_the_mark():
    graded = results([(0.1, 0.1)] * 10)  # sums to 0.9999999999999999
    assert graded["score"] < 1
    assert exit_status(graded, parse("1")) == 0


def test_grader_fault_exits_2_whatever_the_mark():
    graded = results([(10, 10)], grader_faults=["accuracy"])
    assert exit_status(graded) == 2
    assert exit_status(graded, parse("0")) == 2
    assert "Grader fault in accuracy" in verdict(graded, parse("0"))


def test_the_grader_exit_status_counts_every_verdict_and_fails_only_on_a_grader_fault():
    """What a batch scheduler's job is told (--exit-status grader, --shard's default): a grade of any score, or a
    hand-in with nothing to grade, is the grader's job done (0); its own fault is not (2)."""
    lost = results([(3, 3), (0, 7)])
    unread = {**results([(0, 10)]), "extra_data": {"max_score": 10, "status": "unreadable"}}
    assert [exit_status(r) for r in (results([(1, 1)]), lost, unread)] == [0, 1, 2]
    assert [exit_status(r, of="grader") for r in (results([(1, 1)]), lost, unread)] == [0, 0, 0]
    assert exit_status(lost, parse("100%"), of="grader") == 0
    assert exit_status(results([(10, 10)], grader_faults=["accuracy"]), of="grader") == 2
    assert "(exit status 2)" in verdict(unread)
    assert "a verdict on the hand-in, not a grader fault" in verdict(unread, of="grader")
    assert "exit status" not in verdict(unread, of="grader")


def test_verdict_names_the_mark_and_the_score():
    graded = results([(3, 3), (4, 4), (0, 3)])
    assert verdict(graded, parse("70%")) == "Passed: 7/10 points reaches the pass mark 70% = 7 points."
    assert verdict(graded, parse("8")) == "Not passed: 7/10 points is below the pass mark 8 points."
    assert verdict(graded) == "Not passed: 7/10 points; every check must pass."


# --- The command line ----------------------------------------------------------------------------

@pytest.fixture
def empty_submission(tmp_path: Path) -> Path:
    """A folder with nothing to grade: every check fails without starting a sandbox, so the test is quick."""
    folder = tmp_path / "handed-in"
    folder.mkdir()
    return folder


def test_cli_rejects_a_bad_pass_mark_as_a_usage_error(capsys, empty_submission):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", str(empty_submission), "--pass-mark", "lots"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--pass-mark" in err and "pass mark 'lots' is not a number of points" in err


def test_cli_rejects_an_unreachable_pass_mark(capsys, tmp_path, empty_submission):
    status = cli.main(["run", str(empty_submission), "--assignment", "digits", "--pass-mark", "11",
                       "--out", str(tmp_path / "out")])
    assert status == 2
    assert "more than the assignment's 10 points" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before grading


def test_cli_pass_mark_sets_the_exit_status(capsys, tmp_path, empty_submission):
    out = str(tmp_path / "out")
    broken = tmp_path / "digits.py"
    broken.write_text("def reshape(images:\n")  # graded: every check fails on the syntax error
    assert cli.main(["run", str(broken), "--out", out]) == 1
    assert cli.main(["run", str(broken), "--out", out, "--pass-mark", "0%"]) == 0
    printed = capsys.readouterr().out
    assert "Passed: 0/10 points reaches the pass mark 0%" in printed
    # nothing handed in is no grade at all, not a 0 that a pass mark of 0 would pass (exit status 2)
    assert cli.main(["run", str(empty_submission), "--assignment", "digits", "--out", out, "--pass-mark", "0"]) == 2
    printed = capsys.readouterr().out
    assert "Not graded (no submission)" in printed and "[missing]" in printed


def test_cli_help_documents_the_option():
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--pass-mark" in help_text and "70%" in help_text

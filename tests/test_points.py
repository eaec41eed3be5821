"""Points have one number format in every view: grader.results.format_points, never a rounding of their own."""

from __future__ import annotations

import io
import json
import re
import types
from pathlib import Path

import pytest

from grader.results import CheckResult, SubmissionResult, format_points

# Checks worth points with more decimals than people write, and one past six significant digits (where `:g` cuts).
CHECKS = (CheckResult.passed("reshape", 10.125, "Correct."),
          CheckResult.failed("normalise", 0.3333333, "normalise() returned values up to 255.0; expected [0, 1].",
                             hint="Divide the pixels by 255."),
          CheckResult.passed("compile", 0.3333333, "Correct."),
          CheckResult.passed("predict", 1000.0625, "Correct."))
# Each value shown, as the one format writes it, and a pattern that finds any decimal rendering of it.
SHOWN = {"10.125": r"10\.1\d*", "0.3333": r"0\.33\d*", "1000.0625": r"1000\.0\d*",
         "1010.5208": r"1010\.5\d*",  # the score
         "1010.8542": r"1010\.8\d*"}  # the maximum


@pytest.mark.parametrize("value, text", [(10, "10"), (10.0, "10"), (7.5, "7.5"), (0.125, "0.125"), (1 / 3, "0.3333"),
                                         (10.125, "10.125"), (1000.0625, "1000.0625"), (1e6, "1000000"), (0, "0"),
                                         (-0.0, "0"), (0.00001, "0"), (2.99999, "3")])
def test_points_are_plain_decimals_with_at_most_four_places(value, text) -> None:
    assert format_points(value) == text


@pytest.fixture()
def results() -> dict:
    """A graded submission's results.json, as plain data."""
    extra = {"assignment": "digits", "submission": "ada_uni.example", "module": "digits.py", "accuracy": None,
             "grader_faults": [], "fingerprint": "a" * 64 + ":" + "b" * 64, "seed": 0}
    made = json.loads(json.dumps(SubmissionResult("digits", "ada_uni.example", CHECKS, 1.5, extra=extra).to_dict()))
    assert made["score"] == 1010.5208 and made["extra_data"]["max_score"] == 1010.8542
    return made


def _one_format(text: str, view: str, expected: tuple[str, ...]) -> None:
    """Every rendering of the points in `text` is the one format, and each of `expected` is there."""
    for canonical, pattern in SHOWN.items():
        found = set(re.findall(rf"(?<![\d.]){pattern}(?![\d])", text))
        assert found <= {canonical}, f"{view} shows {sorted(found - {canonical})} for {canonical}"
    for canonical in expected:
        assert re.search(rf"(?<![\d.]){re.escape(canonical)}(?![\d])", text), f"{view} does not show {canonical}"
    assert not re.search(r"\d[eE][+-]\d", text), f"{view} writes points with an exponent"


def test_every_view_shows_the_same_points(results, digits, tmp_path) -> None:
    from grader.authoring import validate
    from grader import passmark
    from grader.grading import selfcheck
    from grader.platforms import canvas, github, junit, jupyter
    from grader.views import gradebook, progress, report, summary

    everything = ("10.125", "0.3333", "1000.0625", "1010.5208", "1010.8542")
    totals = ("1010.5208", "1010.8542")
    _one_format(report.render(results), "the report", everything)
    (tmp_path / "class" / "ada_uni.example").mkdir(parents=True)
    (tmp_path / "class" / "ada_uni.example" / "results.json").write_text(json.dumps(results))
    index = gradebook.write({"ada_uni.example": results}, tmp_path / "class")["index"].read_text()
    _one_format(index, "index.html", everything)
    _one_format(summary.text(results), "the summary", everything)
    _one_format(summary.line(results), "the batch's line", totals)
    _one_format(jupyter.render(results, digits, digits), "the notebook's table", everything)
    _one_format(selfcheck.render(results, digits, digits), "grader check's text", everything)
    _one_format(passmark.verdict(results, passmark.parse("70%")), "the pass-mark verdict", totals)
    _one_format(junit.to_xml([results]), "JUnit", everything)
    _one_format(github.step_summary(results) + github.notice(results), "GitHub's summary and notice", everything)
    (tmp_path / "digits.py").write_text("def normalise(images):\n    return images\n")
    annotations = "\n".join(github.annotations(results, task=digits, submission=tmp_path / "digits.py",
                                               workspace=tmp_path))
    _one_format(annotations, "GitHub's annotations", ("0.3333",))
    stream = io.StringIO()
    progress.Progress(1, 0, bar=False, stream=stream).done(types.SimpleNamespace(name="ada_uni.example"), results)
    _one_format(stream.getvalue(), "the batch's progress", totals)
    found = validate.Validation("digits")
    validate._judge_reference(found, results)
    _one_format("\n".join(found.lines), "grader validate", totals)

    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\r\n"
                      "    Points Possible,,,,\r\n\"Lovelace, Ada\",2001,s-001,ada@uni.example,A\r\n", encoding="utf-8")
    done = canvas.export([tmp_path / "class"], roster=roster, title="Digits (1234)", out=tmp_path / "canvas.csv")
    _one_format(done.path.read_text(encoding="utf-8"), "the Canvas export", totals)

"""JUnit XML: valid against the common schema whatever a submission's feedback holds, every check a testcase."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import junitparser
import pytest
import xmlschema

from grader import cli
from grader.platforms import junit

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = xmlschema.XMLSchema(Path(__file__).resolve().parent / "schemas" / "junit.xsd")
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
SOLUTION = ROOT / "solutions" / "digits" / "digits.py"
HOSTILE = ("nul\x00 bell\x07 esc\x1b[31m back\x08 vt\x0b ff\x0c ]]> <![CDATA[x]]> <script>alert(1)</script> "
           "&amp; & \"quotes\" 'single' lone\udc80surrogate \ufffe\uffff nonchar 𝔘nicode ✓\r\nnext line")


def results(submission: str = "alice", feedback: str = "Divide the pixels by 255.", fault: str | None = None,
            printed: str = "") -> dict:
    """A results.json with a passed check, a failed one carrying `feedback`, and a grader fault."""
    def check(name, score, text, fault=None, duration=0.25):
        return {"name": name, "score": score, "max_score": 2.0, "status": "passed" if score == 2 else "failed",
                "output": text + "\nHint: look again", "visibility": "visible",
                "extra_data": {"feedback": text, "hint": "look again", "fault": fault, "duration": duration}}

    return {"score": 2.0, "execution_time": 12.5, "output": printed, "visibility": "visible",
            "tests": [check("reshape", 2.0, "Correct."), check("normalise", 0.0, feedback, fault, 1.5),
                      check("accuracy", 0.0, "The grader itself failed.", "grader")],
            "extra_data": {"assignment": "digits", "submission": submission, "max_score": 6.0, "passed": False,
                           "accuracy": 0.8912345}}


def parse(text: str) -> junitparser.JUnitXml:
    SCHEMA.validate(ET.fromstring(text.encode("utf-8")))
    return junitparser.JUnitXml.fromstring(text.encode("utf-8"))


def system_out(text: str) -> str:
    return ET.fromstring(text.encode("utf-8")).find("testsuite/system-out").text


def test_every_check_is_a_testcase_with_its_time_verdict_and_feedback():
    xml = parse(junit.to_xml([results()]))
    (suite,) = list(xml)
    assert suite.name == "digits: alice" and suite.tests == 3 and suite.failures == 1 and suite.errors == 1
    assert suite.time == pytest.approx(12.5)
    cases = {case.name: case for case in suite}
    assert list(cases) == ["reshape", "normalise", "accuracy"]
    assert cases["reshape"].is_passed and cases["reshape"].time == pytest.approx(0.25)
    assert cases["reshape"].classname == "digits.alice"
    (failure,) = cases["normalise"].result
    assert isinstance(failure, junitparser.Failure) and failure.type == "failed"
    assert failure.message == "0/2 points: Divide the pixels by 255." and "Hint: look again" in failure.text
    assert cases["normalise"].time == pytest.approx(1.5)
    (error,) = cases["accuracy"].result
    assert isinstance(error, junitparser.Error) and error.type == "grader"
    properties = {p.name: p.value for p in suite.properties()}
    assert properties["score"] == "2" and properties["max_score"] == "6" and properties["passed"] == "false"
    assert properties["accuracy"] == "0.8912" and properties["points.normalise"] == "0/2"


def test_a_fault_names_its_kind_and_printed_output_is_system_out():
    text = junit.to_xml([results(fault="timeout", printed="epoch 1/1\n")])
    (suite,) = list(parse(text))
    (failure,) = next(case for case in suite if case.name == "normalise").result
    assert failure.type == "timeout"
    assert system_out(text).strip() == "epoch 1/1"


@pytest.mark.parametrize("where", ["feedback", "submission", "printed"])
def test_anything_a_submission_says_leaves_the_document_valid(where):
    kwargs = {where: HOSTILE}
    text = junit.to_xml([results(**kwargs)])
    xml = parse(text)  # would raise on any character XML 1.0 forbids or on broken markup
    assert "<script>" not in text and "]]>" not in text.replace("]]&gt;", "")
    (suite,) = list(xml)
    shown = {"feedback": lambda: next(c for c in suite if c.name == "normalise").result[0].text,
             "submission": lambda: suite.name, "printed": lambda: system_out(text)}[where]()
    for kept in ("]]>", "<script>alert(1)</script>", "&amp; &", "𝔘nicode ✓", "nul bell esc[31m back vt ff"):
        assert kept in shown, kept
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", shown)


def test_long_feedback_is_cut_in_the_message_but_kept_in_the_text():
    long = "word " * 400
    (suite,) = list(parse(junit.to_xml([results(feedback=long)])))
    (failure,) = next(case for case in suite if case.name == "normalise").result
    assert len(failure.message) <= junit.MESSAGE_LIMIT and failure.message.endswith("...")
    assert failure.text.count("word") == 400


def test_several_submissions_are_several_testsuites_in_one_document(tmp_path):
    path = junit.write(tmp_path / "reports" / "junit.xml", [results("alice"), results("bob")])
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>")
    xml = parse(text)
    assert [suite.name for suite in xml] == ["digits: alice", "digits: bob"]
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites" and root.get("tests") == "6" and root.get("failures") == "2"
    assert root.get("errors") == "2" and float(root.get("time")) == pytest.approx(25.0)


# --- End to end: grader run --junit ---------------------------------------------------------------

@pytest.mark.slow
def test_grader_run_writes_one_file_with_a_testsuite_per_submission(tmp_path, fast_course):
    folder = tmp_path / "class"
    (folder / "ada").mkdir(parents=True)
    (folder / "ada" / "digits.py").write_text(SOLUTION.read_text())
    hostile = SOLUTION.read_text().replace(
        "def normalise(images):",
        "def normalise(images):\n    raise ValueError('bell\\x07 esc\\x1b ]]> <b>&amp;</b> ' + chr(0xfffe) + chr(0))\n\n"
        "def _unused(images):", 1)
    (folder / "eve").mkdir()
    (folder / "eve" / "digits.py").write_text(hostile)
    report = tmp_path / "junit.xml"
    status = cli.main(["run", str(folder / "ada"), str(folder / "eve"), "--assignment", str(fast_course),
                       "--out", str(tmp_path / "grades"), "--jobs", "1", "--junit", str(report)])
    assert status == 1
    xml = parse(report.read_text(encoding="utf-8"))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["digits: ada", "digits: eve"]
    checks = ["reshape", "normalise", "build_model", "compile_model", "accuracy", "predict"]
    for name, suite in suites.items():
        graded = json.loads((tmp_path / "grades" / name.split(": ")[1] / "results.json").read_text())
        assert [case.name for case in suite] == checks
        assert {p.name: p.value for p in suite.properties()}["score"] == f"{graded['score']:g}"
    assert all(case.is_passed for case in suites["digits: ada"])
    (failure,) = next(case for case in suites["digits: eve"] if case.name == "normalise").result
    assert "ValueError" in failure.message and "]]>" in failure.text and "<b>&amp;</b>" in failure.text


def test_help_and_docs_cover_junit():
    run_help = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--junit FILE" in run_help
    assert "--junit" in (ROOT / "README.md").read_text()
    doc = (ROOT / "docs" / "ci.md").read_text()
    for term in (".gitlab-ci.yml", "junit:", "--junit", "artifacts:", "reports:"):
        assert term in doc, term

"""JUnit XML: a run's results as the test report GitLab, Jenkins and Azure DevOps show.

One <testsuite> per submission, one <testcase> per check with its time; a lost check is a <failure>
(an <error> when the grader itself failed) whose message is the feedback; the suite's properties
carry the score, the maximum and the test accuracy. Built with ElementTree from the results dicts,
never by pasting strings; characters XML 1.0 cannot hold are dropped, since a submission's feedback
may contain anything.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterable

from grader.views.outputs import write_text
from grader.results import GRADED, format_points, status_of

# Everything outside XML 1.0's Char production (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MESSAGE_LIMIT = 500  # characters of feedback in a failure's message attribute; the element's text has it all
OUTPUT_LIMIT = 20_000  # characters of printed output per submission


def xml_text(value: Any) -> str:
    """`value` as text an XML 1.0 document can hold: characters it forbids are removed."""
    return _NOT_XML.sub("", str(value))


def to_xml(results: Iterable[dict[str, Any]], name: str = "grader") -> str:
    """The JUnit XML document of the given results.json dicts, one testsuite each."""
    root = ET.Element("testsuites", name=xml_text(name))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for one in results:
        suite = testsuite(one)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        seconds += float(suite.get("time", "0"))
    root.attrib.update({key: str(value) for key, value in totals.items()}, time=_seconds(seconds))
    ET.indent(root)
    buffer = io.BytesIO()
    ET.ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue().decode("utf-8") + "\n"


def write(path: Path, results: Iterable[dict[str, Any]]) -> Path:
    """Write the JUnit XML of `results` to `path` (replacing it in one step); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, to_xml(results))
    return path


def testsuite(results: dict[str, Any]) -> ET.Element:
    """One submission's <testsuite>: its properties, a <testcase> per check, what it printed."""
    extra = results.get("extra_data", {})
    assignment, submission = str(extra.get("assignment", "")), str(extra.get("submission", ""))
    tests = results.get("tests", [])
    status = status_of(results)  # a hand-in with nothing to grade: each check an <error> of that status
    failures = sum(t["status"] != "passed" and _fault(t) != "grader" for t in tests) if status == GRADED else 0
    errors = len(tests) - failures - sum(t["status"] == "passed" for t in tests)
    suite = ET.Element("testsuite", name=xml_text(f"{assignment}: {submission}" if assignment else submission),
                       tests=str(len(tests)), failures=str(failures), errors=str(errors), skipped="0",
                       time=_seconds(results.get("execution_time", 0.0)))
    properties = ET.SubElement(suite, "properties")
    values = {"assignment": assignment, "submission": submission, "status": status, "score": results.get("score"),
              "max_score": extra.get("max_score"), "passed": extra.get("passed"), "accuracy": extra.get("accuracy")}
    values.update({f"points.{t['name']}": f"{format_points(t['score'])}/{format_points(t['max_score'])}" for t in tests})
    for key, value in values.items():
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else format_points(value) if _is_number(value) else value
            ET.SubElement(properties, "property", name=xml_text(key), value=xml_text(text))
    classname = xml_text(f"{assignment}.{submission}" if assignment else submission)
    for test in tests:
        suite.append(testcase(test, classname, None if status == GRADED else status))
    printed = str(results.get("output", ""))[-OUTPUT_LIMIT:]
    if printed.strip():
        ET.SubElement(suite, "system-out").text = xml_text(printed)
    return suite


def testcase(test: dict[str, Any], classname: str, not_graded: str | None = None) -> ET.Element:
    """One check as a <testcase>: passed, or a <failure> (<error> for a grader fault, or of type `not_graded` for a
    hand-in with nothing to grade) saying what to fix."""
    info = test.get("extra_data", {})
    case = ET.Element("testcase", name=xml_text(test["name"]), classname=classname,
                      time=_seconds(info.get("duration", 0.0)))
    if test["status"] == "passed":
        return case
    feedback = " ".join(str(info.get("feedback") or test.get("output", "")).split())
    points = f"{format_points(test['score'])}/{format_points(test['max_score'])} points"
    message = f"{points}: {feedback}" if feedback else points
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 3].rstrip() + "..."
    kind = "error" if _fault(test) == "grader" or not_graded else "failure"
    element = ET.SubElement(case, kind, message=xml_text(message), type=xml_text(not_graded or _fault(test) or "failed"))
    element.text = xml_text(f"{points}\n{test.get('output', '')}")
    return case


def _fault(test: dict[str, Any]) -> str | None:
    return test.get("extra_data", {}).get("fault")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)




def _seconds(value: Any) -> str:
    return f"{float(value or 0.0):.3f}"

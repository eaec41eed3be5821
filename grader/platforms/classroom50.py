"""Classroom 50: the `result.json` its runner reads after an autograder has graded a submission.

Classroom 50 (foundation50/classroom50) grades with GitHub Actions in each student's repository. Its runner runs the
course's autograder in the student's checkout with the submission's context in environment variables, then reads
`./result.json` in its `classroom50/result/v1` shape: the identity fields, integer `score` and `max-score`, and a
`tests` list of `test-name`, `passed`, `score`, `max-score`. The runner checks it before it publishes the grade
(runner.py's validate_result: exact schema, classroom and assignment equal to its own, a `submit/*` submission,
non-empty commit/release/review/datetime strings, non-negative integers with score <= max-score, per test and in
all); it stamps `owner`, `assignment_type`, `datetime` (the commit's date) and `graded_at` itself. An exit status of
0 means "graded", whatever the score; anything else is an infrastructure error, and the runner publishes no grade.

`grader run` writes this file when both CLASSROOM and SUBMISSION_TAG are set (see `enabled`). Everything here is made
from the results dict and the environment; text that may come from a submission is made valid, bounded and, for a
test's name, free of control characters, and the file is ASCII JSON, so whatever a submission printed or raised it
stays one valid JSON document.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

from grader import __version__, utf8
from grader.files import write_atomically
from grader.results import EXIT_ERROR, EXIT_PASSED, GRADED, NOT_GRADED, status_of

SCHEMA = "classroom50/result/v1"
RESULT_FILE = "result.json"  # in the current folder: the student's checkout, where the runner reads it
# Both set by Classroom 50's runner (and only there): `grader run` then writes result.json.
TRIGGER = ("CLASSROOM", "SUBMISSION_TAG")
# The runner's words for its UTC instants: 2026-06-01T14:32:01Z.
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Whole points: a spec's points are multiplied by the first of these that makes every check's points whole.
SCALES = (1, 10, 100)
# Bounds on text that may come from a submission or a hostile environment.
NAME_BYTES = 100  # a test's name, in UTF-8 bytes: the runner's own bound for its declarative tests' names
MESSAGE_CHARS = 1000  # a check's feedback
FIELD_CHARS = 2000  # a value from the environment (the runner's are short slugs and URLs)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this run is Classroom 50's: CLASSROOM and SUBMISSION_TAG are both set (not empty)."""
    environ = os.environ if environ is None else environ
    return all((environ.get(name) or "").strip() for name in TRIGGER)


def exit_status(results: dict[str, Any]) -> int:
    """0 when the submission was graded, whatever its score (a hand-in missing or unreadable is graded 0); 2 when the
    grader itself failed on a check, so that the runner reports an infrastructure error rather than a wrong grade."""
    return EXIT_ERROR if results.get("extra_data", {}).get("grader_faults") else EXIT_PASSED


def verdict(results: dict[str, Any]) -> str | None:
    """What `grader run` says of a hand-in with nothing to grade when it grades for Classroom 50 (None otherwise):
    it is graded 0, not left without a grade, so that the student's Release shows it."""
    status = status_of(results)
    if status == GRADED or results.get("extra_data", {}).get("grader_faults"):
        return None
    return (f"Graded 0 for Classroom 50 ({NOT_GRADED[status].lower()}): nothing in this hand-in could be graded; its "
            "feedback says what was expected (exit status 0: the submission was graded).")


def document(results: dict[str, Any], *, environ: Mapping[str, str] | None = None,
             now: datetime.datetime | None = None) -> dict[str, Any]:
    """The result/v1 document of one graded submission, with its context from `environ` (default: os.environ).

    An unset ASSIGNMENT, COMMIT_URL or RELEASE_URL gives null (the runner always sets them); an unset REVIEW_URL
    gives the commit's URL, as the contract's own templates do. `owner` and `assignment_type` are written only when
    OWNER (or USERNAME) and ASSIGNMENT_TYPE are set; the runner stamps them anyway."""
    environ = os.environ if environ is None else environ
    when = (now or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc)
    stamp = when.strftime(DATETIME_FORMAT)
    commit = _field(environ, "COMMIT_URL")
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "classroom": _field(environ, "CLASSROOM"),
        "assignment": _field(environ, "ASSIGNMENT"),
    }
    owner = _field(environ, "OWNER") or _field(environ, "USERNAME")
    if owner:
        doc["owner"] = owner
    kind = _field(environ, "ASSIGNMENT_TYPE")
    if kind:
        doc["assignment_type"] = kind
    scale, tests = whole_points(results)
    extra = results.get("extra_data", {})
    doc.update({
        "submission": _field(environ, "SUBMISSION_TAG"),
        "commit": commit,
        "release": _field(environ, "RELEASE_URL"),
        "review": _field(environ, "REVIEW_URL") or commit,
        "datetime": stamp,
        "graded_at": stamp,
        "score": sum(test["score"] for test in tests),
        "max-score": sum(test["max-score"] for test in tests),
        "tests": tests,
        "grader": {
            "version": __version__,
            "assignment": _text(str(extra.get("assignment", "")), FIELD_CHARS),
            "status": status_of(results),
            "score": _number(results.get("score")),
            "max-score": _number(extra.get("max_score")),
            "points-scale": scale,
            "accuracy": _number(extra.get("accuracy")),
            "grader-faults": [_name(str(name)) for name in extra.get("grader_faults") or []],
        },
    })
    return doc


def unset(environ: Mapping[str, str] | None = None) -> list[str]:
    """The context variables the runner sets that are not set here: their fields are null in result.json."""
    environ = os.environ if environ is None else environ
    return [name for name in ("ASSIGNMENT", "COMMIT_URL", "RELEASE_URL") if not _field(environ, name)]


def write(results: dict[str, Any], *, directory: Path | None = None, environ: Mapping[str, str] | None = None,
          now: datetime.datetime | None = None) -> Path:
    """Write result.json into `directory` (default: the current folder, the checkout the runner reads it from) in one
    step, replacing whatever was there (a link is replaced, not followed); return its path."""
    path = (Path.cwd() if directory is None else directory) / RESULT_FILE
    text = json.dumps(document(results, environ=environ, now=now), indent=2, allow_nan=False, ensure_ascii=True)
    write_atomically(path, (text + "\n").encode("ascii"))
    return path


def describe(path: Path, results: dict[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The one line `grader run` prints on stderr about the result.json it wrote."""
    doc = json.loads(path.read_text(encoding="ascii"))
    line = f"Wrote {path} for Classroom 50: {doc['score']}/{doc['max-score']}"
    status = status_of(results)
    if status != GRADED:
        line += f" ({status}: graded 0)"
    missing = unset(environ)
    if missing:
        line += (f"; {', '.join(missing)} not set, so their fields are null, which Classroom 50's runner refuses "
                 "(it sets them when it runs the autograder)")
    return line


# --- Whole points --------------------------------------------------------------------------------

def whole_points(results: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """The checks as result/v1 tests in whole points, and the scale that made them whole.

    Classroom 50 counts whole points. Each check's points are multiplied by the first of SCALES (1, 10, 100) that
    makes every check's maximum whole, so 2.5 points become 25 and the proportions stay exact; past hundredths they
    are rounded half up at 100. A passed check gets its whole maximum, a failed one never does (at most one point
    under it), and the document's `score` and `max-score` are the sums of the tests' own."""
    checks = results.get("tests", [])
    maxima = [_number(test.get("max_score")) or 0.0 for test in checks]
    scale = next((s for s in SCALES if all(_is_whole(m * s) for m in maxima)), SCALES[-1])
    tests = []
    for test, maximum in zip(checks, maxima):
        top = _half_up(maximum * scale)
        passed = test.get("status") == "passed"
        score = top if passed else min(_half_up((_number(test.get("score")) or 0.0) * scale), max(top - 1, 0))
        entry = {"test-name": _name(str(test.get("name", ""))), "passed": passed, "score": score, "max-score": top}
        if test.get("visibility", "visible") == "visible":  # a hidden check's feedback could tell its data
            message = _message(test)
            if message:
                entry["message"] = message
        tests.append(entry)
    return scale, tests


def _is_whole(value: float) -> bool:
    return abs(value - round(value)) < 1e-6


def _half_up(value: float) -> int:
    return max(0, math.floor(value + 0.5 + 1e-9))


# --- Text ----------------------------------------------------------------------------------------

def _field(environ: Mapping[str, str], name: str) -> str | None:
    value = (environ.get(name) or "").strip()
    return _text(value, FIELD_CHARS) if value else None


def _text(value: str, limit: int) -> str:
    value = utf8.valid(value)
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _name(value: str) -> str:
    """A test's name on one line, at most NAME_BYTES bytes of UTF-8; never empty (the runner refuses an empty one)."""
    value = " ".join(_CONTROL.sub(" ", utf8.valid(value)).split()) or "check"
    encoded = value.encode("utf-8")
    if len(encoded) <= NAME_BYTES:
        return value
    return encoded[: NAME_BYTES - 3].decode("utf-8", errors="ignore").rstrip() + "..."


def _message(test: dict[str, Any]) -> str:
    data = test.get("extra_data") or {}
    text = str(data.get("feedback") or test.get("output") or "")
    lines = [" ".join(_CONTROL.sub(" ", line).split()) for line in utf8.valid(text).splitlines()]
    return _text("\n".join(line for line in lines if line), MESSAGE_CHARS)


def _number(value: Any) -> float | None:
    """A finite number, else None: JSON has no NaN or infinity, and the runner's parser refuses them."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return round(float(value), 4)

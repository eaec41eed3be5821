"""Gradescope: build an assignment's autograder zip, and grade a submission inside Gradescope's container.

The zip carries a wheel of this grader (mechanisms only, as installed), the course's spec and reference solution
of the assignment (they stay on Gradescope's side: students never get the zip), and two scripts:
`setup.sh` (run once when Gradescope builds the image) and `run_autograder` (run per submission), which
calls `python -m grader.platforms.gradescope`. Gradescope's root, /autograder, can be moved with $AUTOGRADER_ROOT.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import importlib.resources
import io
import json
import os
import re
import shlex
import sys
import traceback
import zipfile
from pathlib import Path
from typing import Any, Iterator

from grader.assignment import course
from grader.errors import UsageError
from grader.results import EXIT_PASSED
from grader.views import outputs

ROOT_VARIABLE = "AUTOGRADER_ROOT"
DEFAULT_ROOT = "/autograder"
# Gradescope's own word for a check students see once grades are published; "hidden" would hide it for good.
VISIBILITY = {"hidden": "after_published"}
GRADESCOPE_VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# Sub-packages whose files live outside grader/ in a development checkout.
_DATA_PACKAGES = ("kits", "templates")
_PRINTED_TAIL = 5000
# The extra of pyproject.toml that pins the versions grades are given with; setup.sh installs the wheel with it.
GRADING_EXTRA = "grading"


class ExportError(UsageError):
    """The autograder zip cannot be built; the message says what to fix."""


# --- Building the zip ----------------------------------------------------------------------------

def export(*, assignment: str | None, out: Path, data: str | None = None) -> Path:
    """Write the Gradescope autograder zip for `assignment` (None: the course's default) to `out`; with `data`,
    bundle that data set."""
    task = course.resolve(assignment)
    if task.solution is None or not task.solution.is_file():
        raise ExportError(f"the reference solution {task.solution} is missing; the grader prepares its data with it. "
                          f"Put the solution there, next to the assignments/ folder, and export again.")
    data_path = Path(data) if data else None
    if data_path is not None and not data_path.exists():
        raise ExportError(f"data path {data_path} does not exist; give a Keras .npz file or a folder of IDX files.")
    wheel_name, wheel = build_wheel()
    folder = f"course/assignments/{task.name}"
    data_arg = f"data/{data_path.name}" if data_path else None
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(archive, "run_autograder", run_autograder_script(folder, data_arg).encode(), executable=True)
        _add(archive, f"wheels/{wheel_name}", wheel)
        for path, relative in tree(task.directory):
            _add(archive, f"{folder}/{relative}", path.read_bytes())
        _add(archive, f"course/solutions/{task.name}/{task.module}", task.solution.read_bytes())
        if data_path is not None:
            for path, relative in (tree(data_path) if data_path.is_dir() else [(data_path, "")]):
                _add(archive, f"{data_arg}/{relative}".rstrip("/"), path.read_bytes())
    return out


def run_autograder_script(assignment: str, data: str | None = None) -> str:
    """The `run_autograder` shell script; paths are relative to the zip's folder, $ROOT/source."""
    data_option = f' --data "$ROOT/source/"{shlex.quote(data)}' if data else ""
    return RUN_AUTOGRADER.replace("@ASSIGNMENT@", shlex.quote(assignment)).replace("@DATA@", data_option)


def build_wheel() -> tuple[str, bytes]:
    """A wheel of the installed grader, its templates and the example course's student kits included."""
    dist = importlib.metadata.distribution(_distribution_name())
    stem = f"{re.sub(r'[-_.]+', '_', dist.metadata['Name']).lower()}-{dist.version}"
    files = dict(_package_files())
    info = f"{stem}.dist-info"
    # A source checkout's *.egg-info (found first when the checkout is on sys.path) has PKG-INFO, same format.
    metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not metadata:
        raise ExportError("the installed grader's metadata (METADATA or PKG-INFO) cannot be read; reinstall it "
                          "with `pip install -e .` and export again.")
    if not re.search(rf"^Provides-Extra: {GRADING_EXTRA}$", metadata, re.MULTILINE):
        raise ExportError(f"the installed grader's metadata has no [{GRADING_EXTRA}] extra, so Gradescope would install "
                          "whatever TensorFlow is newest on PyPI; reinstall the grader from its checkout "
                          "(`pip install -e .`) and export again.")
    files[f"{info}/METADATA"] = metadata.encode()
    files[f"{info}/entry_points.txt"] = (dist.read_text("entry_points.txt") or "").encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: grader export\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [f"{name},sha256={_digest(content)},{len(content)}" for name, content in files.items()]
    files[f"{info}/RECORD"] = ("\n".join(record + [f"{info}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, content in files.items():
            _add(wheel, name, content)
    return f"{stem}-py3-none-any.whl", buffer.getvalue()


def _distribution_name() -> str:
    names = importlib.metadata.packages_distributions().get("grader", [])
    if not names:
        raise ExportError("the grader is not installed as a package, so it cannot be copied into the zip; "
                          "install it with `pip install -e .` (or from its repository) and export again.")
    return names[0]


def _package_files() -> Iterator[tuple[str, bytes]]:
    root = Path(str(importlib.resources.files("grader")))
    for path, relative in tree(root):
        if relative.split("/")[0] not in _DATA_PACKAGES:
            yield f"grader/{relative}", path.read_bytes()
    for package in _DATA_PACKAGES:
        for path, relative in tree(Path(str(importlib.resources.files(f"grader.{package}")))):
            yield f"grader/{package}/{relative}", path.read_bytes()


def tree(root: Path) -> Iterator[tuple[Path, str]]:
    """Files under `root` with their relative posix paths, without caches."""
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and "__pycache__" not in parts and path.suffix != ".pyc":
            yield path, "/".join(parts)


def _add(archive: zipfile.ZipFile, name: str, content: bytes, executable: bool = False) -> None:
    entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # fixed time: the same input gives the same zip
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = (0o755 if executable else 0o644) << 16
    archive.writestr(entry, content)


def _digest(content: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()


# --- Grading inside Gradescope -------------------------------------------------------------------

def autograde(*, root: Path, assignment: str, data: str | None = None) -> dict[str, Any]:
    """Grade $ROOT/submission and write $ROOT/results/results.json; a crash becomes a zero-score result, never an exception."""
    try:
        from grader.grading.session import Session
        from grader.sandbox.isolation import announce

        announce("auto")  # warns in the autograder's log, as `grader run` does, about any isolation layer missing here
        task = course.load(assignment)
        with Session(task, data=data, ahead=True, protect=(root / "results",)) as session:
            graded = session.grade(root / "submission", "submission")
        results = for_gradescope(graded, leaderboard=task.gradescope.leaderboard)
        text = json.dumps(results, indent=2, allow_nan=False, default=str)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, Gradescope must get a results.json
        results = crash_results("".join(traceback.format_exception(exc)))
        text = json.dumps(results, indent=2)
    target = root / "results" / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_text(target, text + "\n")
    return results


def for_gradescope(results: dict[str, Any], *, leaderboard: bool = False) -> dict[str, Any]:
    """The grader's results dict as Gradescope shows it: held-back checks mapped to Gradescope's visibilities, and
    with `leaderboard` (the spec's [gradescope] leaderboard) the test accuracy as a leaderboard entry."""
    tests = [dict(test, visibility=_visibility(test.get("visibility", "visible"))) for test in results["tests"]]
    held_back = [test["name"] for test in tests if test["visibility"] != "visible"]
    if held_back:  # what a check's call printed, as its printed output, could be the data a held-back check uses
        tests = [dict(test, extra_data={k: v for k, v in (test.get("extra_data") or {}).items() if k != "printed"})
                 for test in tests]
    notes = []
    faults = results.get("extra_data", {}).get("grader_faults") or []
    if faults:
        notes.append(f"The grader itself failed in {', '.join(faults)}; those checks are not a verdict on your code. "
                     "Tell your instructor, who can regrade.")
    printed = str(results.get("output", ""))[-_PRINTED_TAIL:].strip()
    if printed and held_back:
        notes.append("What your code printed is not shown, because some checks are only shown after grading.")
    elif printed:
        notes.append(f"What your code printed while it was graded (last {_PRINTED_TAIL:,} characters):\n{printed}")
    shown = dict(results, tests=tests, output="\n\n".join(notes))
    if leaderboard:
        shown["leaderboard"] = leaderboard_entries(results)
    return shown


def leaderboard_entries(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Gradescope's leaderboard: the test accuracy, highest first; 0 when no model could be trained."""
    accuracy = results.get("extra_data", {}).get("accuracy")
    value = round(float(accuracy), 4) if isinstance(accuracy, (int, float)) and not isinstance(accuracy, bool) else 0.0
    return [{"name": "Accuracy", "value": value, "order": "desc"}]


def _visibility(value: str) -> str:
    mapped = VISIBILITY.get(value, value)
    return mapped if mapped in GRADESCOPE_VISIBILITIES else "after_published"  # unknown: err on the side of hiding


def crash_results(details: str) -> dict[str, Any]:
    """A results.json for a grading that crashed: zero points, and a message saying it was not the student's fault."""
    return {
        "score": 0,
        "output": "The autograder crashed before it could grade this submission, so this score of 0 is not a verdict "
                  "on your code. Tell your instructor; they can fix the autograder and regrade.",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"grader_crash": details[-8000:]},
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of `run_autograder`: grade the submission under the root, always leaving a results.json."""
    from grader import tflog

    os.environ[tflog.LEVEL] = tflog.level()  # TensorFlow's own log lines stay out of the autograder's log

    parser = argparse.ArgumentParser(prog="python -m grader.platforms.gradescope",
                                     description="Grade ROOT/submission and write ROOT/results/results.json.")
    parser.add_argument("--root", default=os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT,
                        help=f"Gradescope's root folder (default: ${ROOT_VARIABLE}, else {DEFAULT_ROOT})")
    parser.add_argument("--assignment", required=True, help="path to the course's assignment.toml (or its folder)")
    parser.add_argument("--data", help="a Keras-format .npz or a folder of IDX files (default: the spec's sources)")
    args = parser.parse_args(argv)
    from grader.sandbox import zygote

    zygote.prestart()  # its TensorFlow import starts now, beside the grader's own start-up
    try:
        results = autograde(root=Path(args.root), assignment=args.assignment, data=args.data)
    finally:
        zygote.discard()
    print(f"Wrote results.json: score {results['score']}", file=sys.stderr)
    return EXIT_PASSED


SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image: install Python 3.11 and the grader.
# The grader comes from the wheel in this zip; only its dependencies are downloaded, from PyPI, at the exact
# versions of its [grading] extra (those the grader's tests ran on), whatever newer ones PyPI has.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
if ! command -v python3.11 >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11 python3.11-venv
fi
python3.11 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
WHEEL="$(echo "$ROOT"/source/wheels/*.whl)"
"$ROOT/venv/bin/python" -m pip install "$WHEEL[grading]"
# Fail the build now, not at the first submission, if the grader cannot start.
"$ROOT/venv/bin/python" -c "import grader.platforms.gradescope, tensorflow"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission: grade $ROOT/submission, write $ROOT/results/results.json.
# A results.json is written first and replaced when grading ends, so that even a grader that cannot
# start, or is killed, leaves one that says what happened.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${GRADER_PYTHON:-$ROOT/venv/bin/python}"
RESULTS="$ROOT/results/results.json"

fallback() {
    printf '{"score": 0, "output": "%s", "visibility": "visible", "tests": [], "extra_data": {"fallback": true}}\\n' "$1" \\
        > "$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
}

mkdir -p "$ROOT/results"
fallback "The autograder stopped before it finished grading this submission (it ran out of time or memory, or could not start). This score of 0 is not a verdict on your code: tell your instructor, who can fix the autograder and regrade."
# -I: the student's files must not shadow the grader's modules.
"$PYTHON" -I -m grader.platforms.gradescope --root "$ROOT" --assignment "$ROOT/source/"@ASSIGNMENT@@DATA@
status=$?
if grep -q '"fallback": true' "$RESULTS"; then
    fallback "The autograder failed with exit status $status before it could grade this submission. This score of 0 is not a verdict on your code: tell your instructor, who can fix the autograder and regrade."
fi
exit 0
"""


if __name__ == "__main__":
    sys.exit(main())

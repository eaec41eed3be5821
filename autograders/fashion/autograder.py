#!/usr/bin/env python3
"""Classroom 50 autograder of the fashion assignment, written by `grader export classroom50`.

Classroom 50's runner runs this file once per submission with its Python, in the student's checkout, with
CLASSROOM, ASSIGNMENT, SUBMISSION_TAG, COMMIT_URL, RELEASE_URL and REVIEW_URL set. It installs the grader from the
wheel beside it with its [grading] extra (the versions grades are given with), then grades the student's module (or
notebook) with `grader run` against the course files beside it; `grader run` sees CLASSROOM and SUBMISSION_TAG and
writes ./result.json. The exit status is the grader's: 0 when the submission was graded, whatever its score (a
missing or unreadable hand-in is graded 0); anything else is an infrastructure error for the runner.
GRADER_PYTHON, if set, names a Python that already has the grader installed: nothing is installed then.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ASSIGNMENT = 'fashion'  # course/assignments/<ASSIGNMENT>/assignment.toml beside this file
HANDINS = ('fashion.py', 'fashion.ipynb')  # what a student hands in, at the root of the repository, in this order
PYTHONS = ((3, 10), (3, 13))  # the oldest and newest Python the grader installs on
HERE = Path(__file__).resolve().parent
REPORT = "grading-report.html"  # the HTML report, copied into the checkout (for the assignment's release_assets)


def main() -> int:
    python = os.environ.get("GRADER_PYTHON") or install()
    if python is None:
        return 1
    checkout = Path.cwd()
    handin = next((name for name in HANDINS if os.path.lexists(checkout / name)), HANDINS[0])  # none: graded 0
    out = Path(tempfile.mkdtemp(prefix="grading-", dir=os.environ.get("RUNNER_TEMP") or None))
    env = dict(os.environ, GRADER_COURSE=str(HERE / "course"))  # never a course folder of the student's checkout
    spec = HERE / "course" / "assignments" / ASSIGNMENT / "assignment.toml"
    # -I: nothing in the student's checkout (a grader/ folder of theirs, PYTHONPATH) can stand in for the grader.
    command = [python, "-I", "-m", "grader", "run", handin, "--assignment", str(spec), "--out", str(out)]
    status = subprocess.run(command, env=env, check=False).returncode
    if status == 0 and (out / "report.html").is_file():
        handle, copy = tempfile.mkstemp(dir=checkout, prefix=f".{REPORT}.")
        with os.fdopen(handle, "wb") as written:
            written.write((out / "report.html").read_bytes())
        os.chmod(copy, 0o644)
        os.replace(copy, checkout / REPORT)  # replaces whatever the checkout had under that name, a link included
    return status


def install():
    """Install the wheel beside this file with its [grading] extra into this Python; its path, or None."""
    if not PYTHONS[0] <= sys.version_info[:2] <= PYTHONS[1]:
        print(f"::error::The grader installs on Python {PYTHONS[0][0]}.{PYTHONS[0][1]} to {PYTHONS[1][0]}."
              f"{PYTHONS[1][1]}, and this runner has Python {sys.version.split()[0]}. Set the assignment's runtime to "
              '{"python": "3.11"} (see docs/classroom50.md in the grader) and grade again.', file=sys.stderr)
        return None
    wheels = sorted((HERE / "wheels").glob("*.whl"))
    if len(wheels) != 1:
        print(f"::error::Expected one wheel of the grader in {HERE / 'wheels'} and found {len(wheels)}. Write this "
              "folder again with `grader export classroom50` and publish it.", file=sys.stderr)
        return None
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           f"{wheels[0]}[grading]"], check=False)
    if done.returncode != 0:
        print(f"::error::pip could not install the grader (exit status {done.returncode}, above); the submission "
              "was not graded. Grade it again once the cause is fixed.", file=sys.stderr)
        return None
    return sys.executable


if __name__ == "__main__":
    sys.exit(main())

"""Classroom 50: build an assignment's autograder folder, `autograders/<slug>/` in the course's classroom50 repository.

Classroom 50 publishes `<classroom>/autograders/<slug>/` of its configuration repository as a bundle and, for each
submission, runs the bundle's `autograder.py` with the runner's Python in the student's checkout (the bundle's other
files beside it). The folder written here holds that script, a wheel of this grader (mechanisms only, as installed)
and the course's spec and reference solution of the assignment under `course/`. The script installs the wheel with
its [grading] extra and grades the student's module with `grader run`, which writes ./result.json (see
grader.platforms.classroom50).

The bundle is fetched from the configuration repository's Pages site by the student's own workflow run: whatever it
holds, the reference solution included, a student who reads the run's log or edits the workflow can read too (see
docs/classroom50.md). Its files are few and small; the runner refuses a bundle over MAX_BUNDLE_BYTES.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.assignment import course
from grader.files import write_atomically
from grader.platforms.gradescope import build_wheel, tree

SCRIPT = "autograder.py"
WHEELS = "wheels"  # the wheel of this grader, beside the script
COURSE = "course"  # assignments/<name>/ and solutions/<name>/<module>, beside the script
# The runner fetches a bundle of at most 10 MiB (runner.py's MAX_FETCH_BYTES); the wheel is most of it.
MAX_BUNDLE_BYTES = 10 * 1024 * 1024
# The Pythons the grader's [grading] extra installs on (pyproject.toml's requires-python).
PYTHONS = ((3, 10), (3, 13))


class ExportError(Exception):
    """The autograder folder cannot be built; the message says what to fix."""


def export(*, assignment: str | None, out: Path) -> list[Path]:
    """Write the Classroom 50 autograder folder of `assignment` (None: the course's default) into `out`; return the
    files written. An earlier wheel in `out` is replaced, so the script always finds exactly one."""
    task = course.resolve(assignment)
    if task.solution is None or not task.solution.is_file():
        raise ExportError(f"the reference solution {task.solution} is missing; the grader prepares its data with it. "
                          "Put the solution there, next to the assignments/ folder, and export again.")
    wheel_name, wheel = build_wheel()
    files: dict[str, bytes] = {SCRIPT: script(task.name, task.module).encode(), f"{WHEELS}/{wheel_name}": wheel}
    for path, relative in tree(task.directory):
        files[f"{COURSE}/assignments/{task.name}/{relative}"] = path.read_bytes()
    files[f"{COURSE}/solutions/{task.name}/{task.module}"] = task.solution.read_bytes()
    size = sum(len(content) for content in files.values())
    if size > MAX_BUNDLE_BYTES:
        raise ExportError(f"the autograder folder would hold {size / 2**20:.1f} MiB, and Classroom 50's runner fetches "
                          f"at most {MAX_BUNDLE_BYTES / 2**20:.0f} MiB; move large files out of "
                          f"{task.directory} and export again.")
    for stale in (out / WHEELS).glob("*.whl") if (out / WHEELS).is_dir() else ():
        if stale.name != wheel_name:
            stale.unlink()
    written = []
    for name, content in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, content)
        written.append(path)
    (out / SCRIPT).chmod(0o755)
    return written


def script(assignment: str, module: str) -> str:
    """The autograder.py that Classroom 50's runner runs for `assignment`, whose students hand in `module`."""
    stem = module.rsplit(".", 1)[0]
    return (AUTOGRADER.replace("@ASSIGNMENT@", repr(assignment)).replace("@MODULE@", repr(module))
            .replace("@NOTEBOOK@", repr(f"{stem}.ipynb")).replace("@PYTHONS@", repr(PYTHONS))
            .replace("@NAME@", re.sub(r"[^\w.-]", "_", assignment)))


AUTOGRADER = '''\
#!/usr/bin/env python3
"""Classroom 50 autograder of the @NAME@ assignment, written by `grader export classroom50`.

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

ASSIGNMENT = @ASSIGNMENT@  # course/assignments/<ASSIGNMENT>/assignment.toml beside this file
HANDINS = (@MODULE@, @NOTEBOOK@)  # what a student hands in, at the root of the repository, in this order
PYTHONS = @PYTHONS@  # the oldest and newest Python the grader installs on
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
'''

"""What a student installs: the wheel holds mechanisms and student kits, no reference solution, and a fresh
environment with only the wheel checks work from a kit, in an empty folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS
from test_release import _reference_only_lines

ASSIGNMENTS = ("digits", "fashion")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel main makes: built from the tracked files alone, as a fresh clone holds them (setuptools packages
    whatever an earlier build left in build/lib, so a working copy's build/ is kept out)."""
    out = tmp_path_factory.mktemp("wheel")
    clean = tmp_path_factory.mktemp("checkout")
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (clean / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clean / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                           "-w", str(out), str(clean)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (found,) = out.glob("*.whl")
    return found


def test_the_wheel_holds_no_solution_and_no_line_of_one(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        texts = {name: archive.read(name).decode("utf-8", "replace") for name in names}
    assert not [n for n in names if "/solutions/" in n or "/assignments/" in n or n.endswith("assignment.toml")]
    for name in ASSIGNMENTS:
        assert f"grader/kits/{name}/kit.json" in names and f"grader/kits/{name}/{name}.py" in names
        solution = (ROOT / "solutions" / name / f"{name}.py").read_text()
        lines = _reference_only_lines(solution, (ROOT / "assignments" / name / f"{name}.py").read_text())
        assert len(lines) >= 4, lines  # the test looks for something
        for line in lines:
            holding = [n for n, text in texts.items() if line in text]
            assert not holding, (line, holding)
    instructor = (ROOT / "solutions" / "digits" / "digits.ipynb").read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        assert all(archive.read(n) != instructor for n in names)


@pytest.fixture(scope="module")
def student(wheel, tmp_path_factory) -> tuple[Path, Path]:
    """A fresh environment with only the wheel installed (its dependencies seen from this one's site-packages, as
    a pip install would fetch them), and an empty working folder."""
    base = tmp_path_factory.mktemp("student")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # A plain path line: this environment's dependencies, not its editable grader (whose .pth is not read from there).
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = base / "work"
    work.mkdir()
    return venv, work


def _run(student, *args: str) -> subprocess.CompletedProcess:
    venv, work = student
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRADER_COURSE")}
    return subprocess.run([str(venv / "bin" / "grader"), *args], capture_output=True, text=True, cwd=work, env=env,
                          timeout=900)


@pytest.mark.slow
def test_a_fresh_environment_with_only_the_wheel_checks_work_from_a_kit(student):
    venv, work = student
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import grader; print(grader.__file__)"], cwd=work,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where
    assert _run(student, "kit", "digits", "--out", "digits").returncode == 0
    template = _run(student, "check", "digits/digits.py")
    assert template.returncode == 1, template.stderr[-3000:]
    assert "not implemented yet: reshape() raised NotImplementedError" in template.stdout
    for sample, words in ((SUBMISSIONS / "normalise_float64.py", "dtype float64; expected float32"),
                          (ROOT / "solutions" / "digits" / "digits.py", "Every visible check passed.")):
        shutil.copy(sample, work / "digits" / "digits.py")
        checked = _run(student, "check", "digits/digits.py")
        assert words in checked.stdout, (sample.name, checked.stdout, checked.stderr[-3000:])
        assert checked.returncode == (0 if "passed" in words else 1)
    refused = _run(student, "run", "digits/digits.py")
    assert refused.returncode == 2 and "no course folder here" in refused.stderr

"""A class as Canvas downloads it, end to end: both assignments mixed, a late and a resubmitted file, an unreadable
notebook and an ambiguous folder are graded, one student is regraded into the class, and the Canvas export finds
every student's latest grade, no grade for what could not be read, and none from the wrong assignment."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, small_course

DIGITS = (ROOT / "solutions" / "digits" / "digits.py").read_text()
FASHION = (ROOT / "solutions" / "fashion" / "fashion.py").read_text()
# The same student's canvas export, as Canvas writes it (Grades, Export): BOM, Points Possible, other columns.
ROSTER = ("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Digits (1234),Fashion (1235)\r\n"
          "    Points Possible,,,,,10.00,11.00\r\n"
          '"Anderson, Alice",2001,s-1,alice@uni.example,A,,\r\n'
          '"Brown, Bob",2002,s-2,bob@uni.example,A,,\r\n'
          '"Chen, Carol",2003,s-3,carol@uni.example,A,,\r\n'
          '"Diaz, Dave",2004,s-4,dave@uni.example,B,,\r\n'
          '"Evans, Eve",2005,s-5,eve@uni.example,B,,\r\n'
          '"Ford, Finn",2006,s-6,finn@uni.example,B,,\r\n')


def grader(*argv: str, course: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GRADER_COURSE": str(course)}
    return subprocess.run([sys.executable, "-m", "grader", *argv], env=env, capture_output=True, text=True,
                          timeout=600, cwd=course)


def put(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def canvas_grades(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row[1]: row[5] for row in list(csv.reader(handle))[2:]}


def test_a_canvas_class_is_graded_regraded_and_exported(tmp_path) -> None:
    course = tmp_path / "course"
    small_course(course, "digits")
    small_course(course, "fashion")
    downloads = tmp_path / "downloads"
    put(downloads / "andersonalice_2001_9001_digits.py", DIGITS)
    put(downloads / "brownbob_LATE_2002_9002_digits.py", DIGITS.replace("Dropout(0.2)", "Dropout(0.5)"))
    put(downloads / "brownbob_LATE_2002_9010_digits-1.py", DIGITS + "\n# resubmitted\n")  # the later one counts
    put(downloads / "chencarol_2003_9003_digits.ipynb", '{"cells": [')  # not JSON
    put(downloads / "diazdave_2004_9004_submission" / "solution.py", DIGITS)
    put(downloads / "diazdave_2004_9004_submission" / "scratch.py", "x = 1\n")
    put(downloads / "evanseve_2005_9005_fashion.py", FASHION)  # the other assignment, in the same folder
    grades = tmp_path / "grades"

    done = grader("run", *sorted(map(str, downloads.iterdir())), "--out", str(grades), course=course)
    assert done.returncode == 2, done.stderr[-3000:]  # two hand-ins could not be graded
    assert "brownbob_LATE_2002_9002_digits.py: not graded, superseded" in done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("brownbob_2002  10/10  passed") for line in lines), done.stdout
    assert any(line.startswith("chencarol_2003  -  not graded (unreadable)") for line in lines), done.stdout
    assert any(line.startswith("diazdave_2004  -  not graded (ambiguous)") for line in lines), done.stdout
    assert any(line.startswith("evanseve_2005  11/11  passed") for line in lines), done.stdout
    assert sorted(p.name for p in (grades / "digits").iterdir() if p.is_dir()) == [
        "andersonalice_2001", "brownbob_2002", "chencarol_2003", "diazdave_2004"]
    assert sorted(p.name for p in (grades / "fashion").iterdir() if p.is_dir()) == ["evanseve_2005"]
    late = json.loads((grades / "digits" / "brownbob_2002" / "results.json").read_text())["extra_data"]["canvas"]
    assert late == {"student": "brownbob", "user_id": "2002", "submission_id": 9010, "late": True, "file": "digits.py"}

    # alice resubmits a model that differs; graded alone into the class folder, it joins the class
    again = tmp_path / "again" / "andersonalice_2001_9100_digits-2.py"
    put(again, DIGITS.replace("Dense(128", "Dense(64"))
    regraded = grader("run", str(again), "--out", str(grades), course=course)
    assert regraded.returncode == 1, regraded.stderr[-3000:]
    assert not (grades / "results.json").exists() and not (grades / "digits" / "results.json").exists()
    with open(grades / "digits" / "gradebook.csv", newline="", encoding="utf-8") as handle:
        book = {row["name"]: row for row in csv.DictReader(handle)}
    assert sorted(book) == ["andersonalice_2001", "brownbob_2002", "chencarol_2003", "diazdave_2004"]
    assert float(book["andersonalice_2001"]["score"]) < 10 and book["brownbob_2002"]["score"] == "10.0"
    assert (book["chencarol_2003"]["status"], book["chencarol_2003"]["score"]) == ("unreadable", "")

    roster = tmp_path / "2026-12-01T0900_Grades-CS_101.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    exported = grader("export", "canvas", str(grades / "digits"), "--roster", str(roster), "--title",
                      "Digits (1234)", "--out", str(tmp_path / "digits.csv"), course=course)
    assert exported.returncode == 0, exported.stderr
    digits = canvas_grades(tmp_path / "digits.csv")
    alice = json.loads((grades / "digits" / "andersonalice_2001" / "results.json").read_text())["score"]
    assert digits == {"2001": f"{alice:g}", "2002": "10", "2003": "", "2004": "", "2005": "", "2006": ""}
    assert "chencarol_2003 (unreadable), diazdave_2004 (ambiguous)" in exported.stdout
    fashion = grader("export", "canvas", str(grades / "fashion"), "--roster", str(roster), "--title",
                     "Fashion (1235)", "--out", str(tmp_path / "fashion.csv"), course=course)
    assert fashion.returncode == 0, fashion.stderr
    assert canvas_grades(tmp_path / "fashion.csv") == {"2001": "", "2002": "", "2003": "", "2004": "", "2005": "11",
                                                      "2006": ""}

"""Which assignment a hand-in answers, whose it is (Canvas' download names), and what a class folder does with it:
matched by what it defines, refused when that says nothing, merged into the class it is graded into."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli
from grader.assignment import course
from grader.grading import batch, handins
from grader.platforms import canvas, junit
from grader.views import gradebook, outputs

ROOT = Path(__file__).resolve().parent.parent
DIGITS = (ROOT / "solutions" / "digits" / "digits.py").read_text()
FASHION = (ROOT / "solutions" / "fashion" / "fashion.py").read_text()
TEMPLATE = (ROOT / "assignments" / "digits" / "digits.py").read_text()


@pytest.fixture(scope="module")
def tasks():
    return [course.load("digits"), course.load("fashion")]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- Canvas' download names ------------------------------------------------------------------------

def test_canvas_download_names_are_read_with_late_marks_and_numbered_duplicates() -> None:
    plain = handins.canvas_download(Path("andersonalice_2001_9876543_fashion.py"))
    assert plain == handins.Download("andersonalice", "2001", 9876543, False, "fashion.py")
    assert plain.folder == "andersonalice_2001"
    late = handins.canvas_download(Path("bob_LATE_2002_9876600_digits-1.py"))
    assert late == handins.Download("bob", "2002", 9876600, True, "digits.py")
    assert handins.canvas_download(Path("x_3_4_my_lab_v2-10.ipynb")).file == "my_lab_v2.ipynb"
    for other in ("digits.py", "alice.py", "alice_digits.py", "a_b_c_d.py", "_1_2_x.py"):
        assert handins.canvas_download(Path(other)) is None, other
    assert handins.name_stem(Path("andersonalice_2001_9876543_fashion-2.py")) == "fashion"
    assert handins.name_stem(Path("mlp.py")) == "mlp"


def test_of_a_students_downloads_only_the_latest_is_graded(tmp_path) -> None:
    old = write(tmp_path / "bob_2002_100_digits.py", DIGITS)
    new = write(tmp_path / "bob_2002_250_digits-1.py", DIGITS)
    other = write(tmp_path / "ada_2001_120_digits.py", DIGITS)
    plain = write(tmp_path / "cy.py", DIGITS)
    kept, superseded = batch.latest([old, new, other, plain])
    assert kept == [new, other, plain] and superseded == {old: new}
    names = batch.names(kept, "digits.py")
    assert names == {new: "bob_2002", other: "ada_2001", plain: "cy"}
    jobs = batch.plan(kept, course.load("digits"), out=tmp_path / "out", data_sha256="0" * 64)
    assert {job.name: (job.canvas or {}).get("user_id") for job in jobs} == {"ada_2001": "2001", "bob_2002": "2002",
                                                                              "cy": None}


# -- matching ----------------------------------------------------------------------------------------

def test_a_hand_in_is_matched_by_what_it_defines_not_by_its_name(tmp_path, tasks) -> None:
    assert handins.match(write(tmp_path / "andersonalice_2001_9_fashion.py", FASHION), tasks).task.name == "fashion"
    misnamed = handins.match(write(tmp_path / "a" / "digits.py", FASHION), tasks)  # six of fashion's, four of digits'
    assert misnamed.task.name == "fashion" and "6 of fashion" in misnamed.reason
    assert handins.match(write(tmp_path / "b" / "lab.py", TEMPLATE), tasks).task.name == "digits"


def test_a_tie_is_decided_by_the_name_and_otherwise_refused_naming_the_candidates(tmp_path, tasks) -> None:
    shared = "def build_model():\n    pass\n\ndef compile_model(model):\n    pass\n"
    assert handins.match(write(tmp_path / "x_1_2_fashion.py", shared), tasks).task.name == "fashion"
    tied = handins.match(write(tmp_path / "lab.py", shared), tasks)
    assert tied.task is None and tied.status == "ambiguous" and tied.candidates == ("digits", "fashion")
    message = handins.refusal(tmp_path / "lab.py", tied)
    assert "several assignments" in message and "--assignment (digits or fashion)" in message


def test_a_module_of_no_assignment_is_unmatched_and_a_broken_one_goes_by_its_name(tmp_path, tasks) -> None:
    mlp = handins.match(write(tmp_path / "mlp.py", "def train(x):\n    return x\n"), tasks)
    assert mlp.task is None and mlp.status == "unmatched" and "defines none of their functions" in mlp.reason
    broken = "def reshape(images:\n"
    assert handins.match(write(tmp_path / "a" / "digits.py", broken), tasks).task.name == "digits"
    assert handins.match(write(tmp_path / "b" / "work.py", broken), tasks).task is None
    # legal but hostile: nesting that fails the parser, and more code than the grader parses, find nothing
    deep = write(tmp_path / "c" / "digits.py", "x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert handins.defined(deep) is None and handins.match(deep, tasks).task.name == "digits"
    huge = write(tmp_path / "d" / "fashion.py", "def normalise(x):\n    return x\n" + "# pad\n" * 400_000)
    assert handins.defined(huge) is None and handins.match(huge, tasks).task.name == "fashion"


def test_a_folder_of_several_files_is_matched_by_what_they_define(tmp_path, tasks) -> None:
    folder = tmp_path / "dave_2004_9_submission"
    write(folder / "solution.py", DIGITS)
    write(folder / "scratch.py", "x = 1\n")
    assert handins.match(folder, tasks).task.name == "digits"
    (tmp_path / "empty").mkdir()
    assert handins.match(tmp_path / "empty", tasks).status == "unmatched"


def run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("GRADER_COURSE", None)
    return subprocess.run([sys.executable, "-m", "grader", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_run_with_an_unmatched_hand_in_grades_nothing_and_says_what_to_give(tmp_path) -> None:
    mlp = write(tmp_path / "mlp.py", "def train(x):\n    return x\n")
    good = write(tmp_path / "ada" / "digits.py", DIGITS)
    done = run("run", str(mlp), str(good), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert "1 submission(s) cannot be matched to one assignment; nothing was graded" in done.stderr
    assert "mlp.py matches no assignment" in done.stderr and "--assignment (digits or fashion)" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


# -- statuses, the class folder, the exports ---------------------------------------------------------

def result(name: str, score: float, *, status: str = "graded", assignment: str = "digits", hint: str = "",
           feedback: str = "", **extra) -> dict:
    return {"tests": [{"name": "reshape", "score": score, "max_score": 10.0, "output": feedback,
                       "status": "passed" if score == 10 else "failed",
                       "extra_data": {"feedback": feedback, "hint": hint, "fault": None}}],
            "score": score, "execution_time": 1.0,
            "extra_data": {"submission": name, "assignment": assignment, "max_score": 10.0, "passed": score == 10,
                           "fingerprint": "a" * 64 + ":" + "b" * 64, "accuracy": 0.9, "status": status, **extra}}


def class_folder(out: Path, results: dict[str, dict]) -> Path:
    for name, value in results.items():
        write(out / name / "results.json", json.dumps(value))
    return out


def rows_of(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["name"]: row for row in csv.DictReader(handle)}


def test_a_regrade_merges_into_the_class_and_keeps_its_students_names(tmp_path) -> None:
    out = class_folder(tmp_path / "grades", {"ada": result("ada", 10), "bob": result("bob", 9)})
    gradebook.write({n: json.loads((out / n / "results.json").read_text()) for n in ("ada", "bob")}, out,
                    students={"ada": "Lovelace, Ada", "bob": "Bob, B"})
    class_folder(out, {"bob": result("bob", 4)})
    gradebook.update({"bob": result("bob", 4)}, out)
    rows = rows_of(out / "gradebook.csv")
    assert {name: (row["score"], row["student"]) for name, row in rows.items()} == {
        "ada": ("10", "Lovelace, Ada"), "bob": ("4", "Bob, B")}
    assert gradebook.class_assignment(out) == "digits"


def test_hand_ins_with_nothing_to_grade_have_a_status_and_no_grade_anywhere(tmp_path) -> None:
    found = {"ada": result("ada", 10), "carol": result("carol", 0, status="unreadable"),
             "dave": result("dave", 0, status="ambiguous")}
    out = class_folder(tmp_path / "grades", found)
    gradebook.write(found, out)
    rows = rows_of(out / "gradebook.csv")
    assert (rows["carol"]["status"], rows["carol"]["score"], rows["carol"]["reshape"]) == ("unreadable", "", "")
    assert rows["dave"]["status"] == "ambiguous" and rows["ada"]["score"] == "10"
    page = (out / "index.html").read_text()
    assert "<h1>digits: class overview</h1>" in page and "Not graded" in page and "carol</a>: Unreadable" in page
    xml = junit.to_xml([found["carol"]])
    assert 'errors="1"' in xml and 'failures="0"' in xml and 'type="unreadable"' in xml


def test_the_canvas_export_matches_downloads_by_user_id_and_leaves_unread_cells_empty(tmp_path) -> None:
    canvas_of = lambda user: {"canvas": {"user_id": user, "student": "x", "submission_id": 1, "late": False,
                                         "file": "digits.py"}}
    out = class_folder(tmp_path / "grades", {
        "lovelaceada_2001": result("lovelaceada_2001", 9, **canvas_of("2001")),
        "obrienbob_2002": result("obrienbob_2002", 0, status="unreadable", **canvas_of("2002")),
        "cagri_uni.example": result("cagri_uni.example", 7)})  # not a download: by its SIS login
    roster = write(tmp_path / "roster.csv", "Student,ID,SIS User ID,SIS Login ID,Section\n"
                   '"Lovelace, Ada",2001,s-1,ada@uni.example,A\n"Bob, B",2002,s-2,bob@uni.example,A\n'
                   '"Ünal, Çağrı",2003,s-3,cagri@uni.example,B\n')
    done = canvas.export([out], roster=roster, title="Digits (1)", out=tmp_path / "canvas.csv")
    grades = {row[1]: row[5] for row in csv.reader(open(done.path, newline="", encoding="utf-8"))}
    assert (grades["2001"], grades["2002"], grades["2003"]) == ("9", "", "7")
    assert done.not_graded == ("obrienbob_2002 (unreadable)",) and "obrienbob_2002" in canvas.describe(done)
    excused = canvas.export([out], roster=roster, title="Digits (1)", out=tmp_path / "ex.csv", excuse_missing=True)
    assert {row[1]: row[5] for row in csv.reader(open(excused.path, newline="", encoding="utf-8"))}["2002"] == "EX"
    class_folder(out, {"fash": result("fash", 5, assignment="fashion")})
    with pytest.raises(canvas.CanvasError, match="several assignments"):
        canvas.export([out], roster=roster, title="Digits (1)", out=tmp_path / "mixed.csv")


def test_the_most_common_mistakes_are_grouped_by_check_and_hint_not_by_message(tmp_path) -> None:
    hint = "Divide the pixels by 255."
    found = {name: result(name, 0, hint=hint, feedback=f"{name}/digits.py line {n}: values reach 255.")
             for n, name in enumerate(("ada", "bob", "cy"))}
    page = gradebook.write(found, tmp_path / "out")["index"].read_text()
    assert page.count(hint) == 1 and "<td class=\"num\">3</td><td>reshape</td>" in page
    assert gradebook.mistake(found["ada"]["tests"][0]) == hint


def test_reports_follow_the_umask_and_caches_stay_private(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        outputs.write_text(tmp_path / "report.html", "<p>x</p>")
        from grader.files import write_atomically

        write_atomically(tmp_path / "cache.npz", b"x", private=True)
        os.umask(0o027)
        outputs.write_text(tmp_path / "gradebook.csv", "name\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "gradebook.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "cache.npz").stat().st_mode) == 0o600


def test_two_students_of_one_name_are_two_students_in_the_canvas_export(tmp_path) -> None:
    canvas_of = lambda user: {"canvas": {"user_id": user, "student": "smithjohn", "submission_id": 1, "late": False,
                                         "file": "digits.py"}}
    out = class_folder(tmp_path / "grades", {"smithjohn_2001": result("smithjohn_2001", 9, **canvas_of("2001")),
                                             "smithjohn_2002": result("smithjohn_2002", 6, **canvas_of("2002"))})
    roster = write(tmp_path / "roster.csv", "Student,ID,SIS User ID,SIS Login ID,Section\n"
                   '"Smith, John",2001,s-1,js1@uni.example,A\n"Smith, John",2002,s-2,js2@uni.example,B\n')
    done = canvas.export([out], roster=roster, title="Digits (1)", out=tmp_path / "canvas.csv")
    grades = {row[1]: row[5] for row in csv.reader(open(done.path, newline="", encoding="utf-8"))}
    assert (grades["2001"], grades["2002"]) == ("9", "6")
    class_folder(out, {"js1_uni.example": result("js1_uni.example", 3)})  # the same row twice: refused
    with pytest.raises(canvas.CanvasError, match="several submissions belong to the same student: Smith, John: "):
        canvas.export([out], roster=roster, title="Digits (1)", out=tmp_path / "again.csv", match="SIS Login ID")

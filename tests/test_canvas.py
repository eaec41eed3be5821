"""Canvas export: a gradebook import file from a graded batch and a roster (a Canvas export as is)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from grader import cli
from grader.platforms import canvas
from grader.views import gradebook

ROOT = Path(__file__).resolve().parent.parent
TITLE = "Digits (1234)"

# A Canvas gradebook export as Canvas writes it: a BOM, a Manual Posting and a Points Possible row, other
# assignments and read-only totals, the Test Student, names with commas, quotes, accents and formulas.
CANVAS_EXPORT = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Homework 1 (1001),Digits (1234),Current Points,Final Score\r\n"
    "    Manual Posting,,,,,,Manual Posting,,\r\n"
    "    Points Possible,,,,,10.00,10.00,(read only),(read only)\r\n"
    '"Lovelace, Ada",2001,s-001,ada@uni.example,CS 101 - A,9.00,,9.00,90.00\r\n'
    '"O\'Brien, ""Bob""",2002,s-002,Bob@Uni.Example,CS 101 - A,,,0.00,0.00\r\n'
    '"Ünal, Çağrı",2003,s-003,cagri@uni.example,CS 101 - B,7.00,,7.00,70.00\r\n'
    '"=HYPERLINK(""http://x""),Eve",2004,s-004,eve@uni.example,CS 101 - B,,,0.00,0.00\r\n'
    '"Noor, Dana",2005,s-005,dana@uni.example,CS 101 - B,,,0.00,0.00\r\n'
    '"Student, Test",2099,,,CS 101 - A,,,0.00,0.00\r\n'
)


def results(name: str, score: float, **extra) -> dict:
    """A results.json as `grader run` writes it in a batch."""
    return {"tests": [{"name": "reshape", "score": score, "max_score": 10.0, "status": "passed" if score == 10 else "failed",
                       "output": ""}],
            "score": score, "execution_time": 1.0,
            "extra_data": {"submission": name, "assignment": "digits", "max_score": 10.0, "passed": score == 10,
                           "fingerprint": "a" * 64 + ":" + "b" * 64, "accuracy": 0.9, **extra}}


def graded(folder: Path, scores: dict[str, float], **extra) -> Path:
    for name, score in scores.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "results.json").write_text(json.dumps(results(name, score, **extra)))
    return folder


def read(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def canvas_accepts(rows: list[list[str]], title: str) -> None:
    """The gradebook importer's rules: its header, an optional Points Possible row, then students it can
    identify, each grade a number of points, EX or empty."""
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title]
    body = rows[1:]
    if body and body[0][0].strip() == "Points Possible":
        assert re.fullmatch(r"\d+(\.\d+)?", body[0][5]), body[0]
        body = body[1:]
    for row in body:
        assert len(row) == 6, row
        assert any(row[1:4]) or row[0], row
        assert row[5] == "" or row[5] == "EX" or re.fullmatch(r"\d+(\.\d+)?", row[5]), row


@pytest.fixture
def roster(tmp_path: Path) -> Path:
    path = tmp_path / "2026-09-01T0900_Grades-CS_101.csv"
    path.write_text(CANVAS_EXPORT, encoding="utf-8", newline="")
    return path


def test_a_canvas_export_is_the_roster_and_the_result_is_an_import_file(tmp_path, roster):
    grades = graded(tmp_path / "grades", {"ada_uni.example": 9.5, "bob_uni.example": 10, "cagri_uni.example": 0,
                                          "eve_uni.example": 4.25})
    done = canvas.export([grades], roster=roster, title=TITLE, out=tmp_path / "canvas.csv")
    rows = read(done.path)
    canvas_accepts(rows, TITLE)
    assert rows[1] == ["    Points Possible", "", "", "", "", "10"]
    by_id = {row[1]: row for row in rows[2:]}
    assert list(by_id) == ["2001", "2002", "2003", "2004", "2005", "2099"]  # the roster's order, every student
    assert by_id["2001"] == ["Lovelace, Ada", "2001", "s-001", "ada@uni.example", "CS 101 - A", "9.5"]
    assert by_id["2002"][0] == "O'Brien, \"Bob\"" and by_id["2002"][5] == "10"  # login matched ignoring case
    assert by_id["2003"][0] == "Ünal, Çağrı" and by_id["2003"][5] == "0"  # a zero is a grade, not a blank
    assert by_id["2004"][0].startswith("'=HYPERLINK") and by_id["2004"][5] == "4.25"  # never a formula
    assert by_id["2005"][5] == "" and by_id["2099"][5] == ""  # no submission: grade left as it is
    assert done.graded == 4 and done.without_submission == ("Noor, Dana", "Student, Test")


def test_students_without_a_submission_can_be_excused(tmp_path, roster):
    grades = graded(tmp_path / "grades", {"ada_uni.example": 10})
    done = canvas.export([grades], roster=roster, title=TITLE, out=tmp_path / "canvas.csv", excuse_missing=True)
    grades_of = {row[1]: row[5] for row in read(done.path)[2:]}
    assert grades_of == {"2001": "10", "2002": "EX", "2003": "EX", "2004": "EX", "2005": "EX", "2099": "EX"}
    assert "EX (excused)" in canvas.describe(done)


def test_a_submission_of_no_student_is_an_error_naming_it_and_nothing_is_written(tmp_path, roster):
    grades = graded(tmp_path / "grades", {"ada_uni.example": 10, "zed": 3, "mallory_evil": 1})
    out = tmp_path / "canvas.csv"
    with pytest.raises(canvas.CanvasError) as caught:
        canvas.export([grades], roster=roster, title=TITLE, out=out)
    message = str(caught.value)
    assert "2 graded submission(s) match no student" in message and "mallory_evil, zed" in message
    assert "'SIS Login ID'" in message and "--match" in message and "Nothing was written" in message
    assert not out.exists()


def test_match_picks_another_column_such_as_github_user_names(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,GitHub\n"
                      '"Lovelace, Ada",2001,,ada@uni.example,,ada-l\n"Noor, Dana",2005,,dana@uni.example,,DanaN\n')
    grades = graded(tmp_path / "grades", {"ada-l": 7, "dananoor": 8, "danan": 9})
    with pytest.raises(canvas.CanvasError, match="dananoor"):
        canvas.export([grades], roster=roster, title=TITLE, out=tmp_path / "c.csv", match="GitHub")
    (grades / "dananoor" / "results.json").unlink()
    (grades / "dananoor").rmdir()
    rows = read(canvas.export([grades], roster=roster, title=TITLE, out=tmp_path / "c.csv", match="GitHub").path)
    assert [row[5] for row in rows[2:]] == ["7", "9"]
    assert rows[0][-1] == TITLE and "GitHub" not in rows[0]  # the match column is not sent to Canvas


@pytest.mark.parametrize("text, expected", [
    ("Name,Email\nAda,ada@x\n", "expected Canvas' Student, ID"),
    ("Student,ID,Section\n\"Lovelace, Ada\",2001,A\n", "no column 'SIS Login ID'"),
    ("Student,ID,SIS Login ID\nAda,1,ada@x\nAdam,2,ADA@X\n", "'Ada' and 'Adam' have the same 'SIS Login ID'"),
])
def test_rosters_that_cannot_work_are_refused_saying_why(tmp_path, text, expected):
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    grades = graded(tmp_path / "grades", {"ada_x": 1})
    with pytest.raises(canvas.CanvasError, match=re.escape(expected)):
        canvas.export([grades], roster=roster, title=TITLE, out=tmp_path / "c.csv")


def test_a_roster_that_is_missing_or_not_utf8_is_refused(tmp_path):
    grades = graded(tmp_path / "grades", {"ada": 1})
    with pytest.raises(canvas.CanvasError, match="does not exist"):
        canvas.export([grades], roster=tmp_path / "none.csv", title=TITLE, out=tmp_path / "c.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Student,ID,SIS Login ID\nÜnal,1,ada\n".encode("latin-1"))
    with pytest.raises(canvas.CanvasError, match="CSV UTF-8"):
        canvas.export([grades], roster=latin, title=TITLE, out=tmp_path / "c.csv")


def test_a_grader_fault_is_left_empty_and_named_never_a_zero(tmp_path, roster):
    grades = graded(tmp_path / "grades", {"ada_uni.example": 10})
    graded(grades, {"bob_uni.example": 0}, grader_faults=["reshape"])
    done = canvas.export([grades], roster=roster, title=TITLE, out=tmp_path / "canvas.csv")
    grades_of = {row[1]: row[5] for row in read(done.path)[2:]}
    assert grades_of["2001"] == "10" and grades_of["2002"] == ""
    assert done.faults == ("bob_uni.example",) and "--regrade" in canvas.describe(done)


def test_results_not_written_by_the_grader_are_left_out_and_named(tmp_path, roster):
    grades = graded(tmp_path / "grades", {"ada_uni.example": 10})
    (grades / "dana_uni.example").mkdir()
    (grades / "dana_uni.example" / "results.json").write_text(json.dumps({"score": 10, "tests": []}))
    done = canvas.export([grades], roster=roster, title=TITLE, out=tmp_path / "canvas.csv")
    assert {row[1]: row[5] for row in read(done.path)[2:]}["2005"] == ""
    assert done.left_out == (str(grades / "dana_uni.example"),) and "Left out 1 folder" in canvas.describe(done)


# --- Command line --------------------------------------------------------------------------------

def test_command_line_writes_the_file_and_reports_usage_errors(tmp_path, roster, capsys):
    grades = graded(tmp_path / "grades", {"ada_uni.example": 9, "dana_uni.example": 10})
    out = tmp_path / "out" / "canvas.csv"
    status = cli.main(["export", "canvas", str(grades), "--roster", str(roster), "--title", TITLE, "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert f"Wrote {out}: 2 student(s) with a score" in printed and "4 student(s) without a submission" in printed
    canvas_accepts(read(out), TITLE)
    graded(grades, {"stranger": 1})
    assert cli.main(["export", "canvas", str(grades), "--roster", str(roster), "--title", TITLE, "--out",
                     str(tmp_path / "other.csv")]) == 2
    assert "match no student" in capsys.readouterr().err and not (tmp_path / "other.csv").exists()
    assert cli.main(["export", "canvas", str(grades), "--title", TITLE]) == 2
    assert "needs GRADES_DIR, --roster ROSTER.csv and --title" in capsys.readouterr().err
    assert cli.main(["export", "gradescope", "--roster", str(roster)]) == 2
    assert "are for `grader export canvas`" in capsys.readouterr().err


def test_gradebook_takes_students_names_from_the_same_roster(tmp_path, roster, capsys):
    grades = graded(tmp_path / "grades", {"ada_uni.example": 9, "eve_uni.example": 10})
    assert cli.main(["gradebook", str(grades), "--out", str(tmp_path / "book"), "--roster", str(roster)]) == 0
    with open(tmp_path / "book" / "gradebook.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:4] == ["name", "student", "score", "max_score"]
    assert [(row["name"], row["student"]) for row in rows] == [("ada_uni.example", "Lovelace, Ada"),
                                                               ("eve_uni.example", "'=HYPERLINK(\"http://x\"),Eve")]
    assert rows[0]["reshape"] == "9"  # the checks' columns still follow max_score
    index = (tmp_path / "book" / "index.html").read_text()
    assert "<td>Lovelace, Ada</td>" in index and "<td>reshape</td>" in index
    plain = gradebook.write({"ada": results("ada", 1)}, tmp_path / "plain")["gradebook"]
    assert plain.read_text().splitlines()[0].startswith("name,score,max_score,reshape")


def test_help_and_docs_cover_the_canvas_export():
    export_help = cli.build_parser()._subparsers._group_actions[0].choices["export"].format_help()
    for option in ("GRADES_DIR", "--roster", "--title", "--match", "--excuse-missing"):
        assert option in export_help, option
    readme = (ROOT / "README.md").read_text()
    assert "grader export canvas" in readme and "docs/canvas.md" in readme
    doc = (ROOT / "docs" / "canvas.md").read_text()
    for term in ("--roster", "--title", "--match", "--excuse-missing", "Points Possible", "EX", "SIS Login ID",
                 "grader gradebook"):
        assert term in doc, term

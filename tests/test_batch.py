"""Grading a class: a batch with warm workers, the gradebook, resuming, shards."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import SUBMISSIONS, TEMPLATE
from grader.grading import batch
from grader.views import gradebook

CLASS = {  # student folder -> (file to hand in, score out of 10)
    "ada": (SUBMISSIONS.parent.parent / "solutions" / "digits" / "digits.py", 10),
    "ben": (TEMPLATE, 0),
    "cy": (SUBMISSIONS / "normalise_twice.py", 9),
    "dee": (SUBMISSIONS / "predict_os_exit.py", 8),
    "eve": (SUBMISSIONS / "exit_at_import.py", 0),
    "fay": (SUBMISSIONS / "model_lambda.py", 5),
}


def _class(tmp_path: Path, names=None) -> list[Path]:
    folders = []
    for name in names or CLASS:
        folder = tmp_path / "class" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "digits.py").write_text(CLASS[name][0].read_text())
        folders.append(folder)
    return folders


def _grader(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=1200, **kwargs)


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path) as handle:
        return {row["name"]: {k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)}


@pytest.mark.slow
def test_a_batch_gives_each_submission_its_own_verdict_and_a_complete_gradebook(tmp_path: Path, fast_course: Path) -> None:
    folders = _class(tmp_path)
    out = tmp_path / "out"
    done = _grader("run", *map(str, folders), "--assignment", str(fast_course), "--out", str(out), "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    rows = _rows(out / "gradebook.csv")
    assert set(rows) == set(CLASS)
    for name, (_, score) in CLASS.items():
        results = json.loads((out / name / "results.json").read_text())
        assert results["score"] == score, (name, [t["output"][:200] for t in results["tests"]])
        assert float(rows[name]["score"]) == score
        assert (out / name / "report.html").is_file()
    assert rows["dee"]["predict"] == "0.0" and rows["dee"]["reshape"] == "1.0"
    assert rows["ada"]["status"] == "passed" and rows["ben"]["status"] == "failed"
    index = (out / "index.html").read_text()
    assert index.count('href="') >= len(CLASS) and "data:image/png;base64," in index
    assert "Most common mistakes" in index and "in place of the raise" in index  # listed by kind of mistake (its hint)
    # Deterministic across processes: the batch worker's accuracy equals a fresh single run's.
    single = _grader("run", str(folders[0]), "--assignment", str(fast_course), "--out", str(tmp_path / "single"), cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    alone = json.loads((tmp_path / "single" / "results.json").read_text())["extra_data"]["accuracy"]
    assert round(alone, 4) == round(float(rows["ada"]["test_accuracy"]), 4)


@pytest.mark.slow
def test_an_interrupted_run_resumes_without_grading_again(tmp_path: Path, fast_course: Path) -> None:
    folders = _class(tmp_path, ["ada", "cy", "dee", "eve"])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "run", *map(str, folders), "--assignment", str(fast_course),
               "--out", str(out), "--jobs", "1"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    deadline = time.monotonic() + 600
    while not list(out.glob("*/report.html")) and time.monotonic() < deadline:  # written after results.json
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    first = {p.parent.name for p in out.glob("*/report.html")}
    assert 1 <= len(first) < 4
    done = _grader("run", *map(str, folders), "--assignment", str(fast_course), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 1
    assert f"{len(first)} of 4 already graded" in done.stderr
    assert set(_rows(out / "gradebook.csv")) == {"ada", "cy", "dee", "eve"}
    again = _grader("run", *map(str, folders), "--assignment", str(fast_course), "--out", str(out), cwd=tmp_path)
    assert "4 of 4 already graded" in again.stderr and again.returncode == 1


@pytest.mark.slow
def test_shards_merge_to_the_same_gradebook_as_one_run(tmp_path: Path, fast_course: Path) -> None:
    folders = _class(tmp_path, ["ada", "cy", "eve", "fay"])
    for k in (1, 2):
        done = _grader("run", *map(str, folders), "--assignment", str(fast_course), "--out", str(tmp_path / f"shard{k}"),
                       "--shard", f"{k}/2", cwd=tmp_path)
        assert done.returncode in (0, 1), done.stderr[-3000:]
        assert len(list((tmp_path / f"shard{k}").glob("*/results.json"))) == 2
    merged = _grader("gradebook", str(tmp_path / "shard1"), str(tmp_path / "shard2"), "--out", str(tmp_path / "all"), cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    whole = _grader("run", *map(str, folders), "--assignment", str(fast_course), "--out", str(tmp_path / "whole"), cwd=tmp_path)
    assert whole.returncode == 1
    assert _rows(tmp_path / "all" / "gradebook.csv") == _rows(tmp_path / "whole" / "gradebook.csv")
    assert "../shard1/" in (tmp_path / "all" / "index.html").read_text()


@pytest.mark.slow
def test_a_worker_killed_while_grading_costs_only_its_own_submission(tmp_path: Path, fast_digits, graded) -> None:
    folders = _class(tmp_path, ["ada", "ben", "cy", "dee"])
    jobs = batch.plan(folders, fast_digits, out=tmp_path / "out", data_sha256="0" * 64)
    tries: dict[str, list[int]] = {}

    def started(job: batch.Job, pid: int) -> None:
        tries.setdefault(job.name, []).append(pid)
        if job.name == "dee":  # its worker is killed mid-grading, on both tries
            threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()

    done: list[str] = []
    from grader.grading.session import Session

    with Session(fast_digits, workers=2) as session:
        results = session.grade_all(jobs, on_done=lambda job, r: done.append(job.name), on_start=started)
    assert sorted(done) == ["ada", "ben", "cy", "dee"]
    assert len(tries["dee"]) == 2 and all(len(tries[name]) == 1 for name in ("ada", "ben", "cy"))
    dee = results["dee"]
    assert dee["score"] == 0 and dee["extra_data"]["grader_faults"]
    assert "grading process died while grading this submission" in dee["tests"][0]["output"]
    assert "SIGKILL" in dee["tests"][0]["output"]
    assert json.loads((tmp_path / "out" / "dee" / "results.json").read_text())["score"] == 0

    def verdicts(r: dict) -> tuple:
        accuracy = r["extra_data"].get("accuracy")
        return (r["score"], [(t["name"], t["status"], t["score"], t["extra_data"]["fault"]) for t in r["tests"]],
                None if accuracy is None else round(accuracy, 4))

    for name in ("ada", "ben", "cy"):
        assert not results[name]["extra_data"]["grader_faults"], name
        assert verdicts(results[name]) == verdicts(graded(tmp_path / "class" / name / "digits.py")), name


def test_names_are_unique_and_stable(tmp_path: Path) -> None:
    a, b = tmp_path / "alice" / "digits.py", tmp_path / "bob" / "digits.py"
    c = tmp_path / "x" / "alice.py"
    for path in (a, b, c):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    named = batch.names([a, b, c], "digits.py")
    assert named[a] == "alice" and named[b] == "bob" and named[c] == "alice-2"


def test_names_cannot_leave_the_output_folder_and_stay_unique(tmp_path: Path) -> None:
    files = {text: tmp_path / "in" / f"{text}.py" for text in
             ["..", ".hidden", "<script>", "a b#c", "-rf", "x" * 250, "index", "Alice", "alice", "alice-2", "ü"]}
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    index_folder = tmp_path / "in" / "index.html"
    index_folder.mkdir()
    named = batch.names([*files.values(), index_folder], "digits.py")
    out = (tmp_path / "out").resolve()
    for name in named.values():
        assert (out / name).resolve().parent == out, name
        assert name and not name.startswith((".", "-")) and "/" not in name and len(name.encode()) <= 80
        assert name not in ("gradebook.csv", "index.html")
    assert len({name.casefold() for name in named.values()}) == len(named)
    assert named[files["<script>"]] == "_script_" and named[files["a b#c"]] == "a_b_c" and named[files["ü"]] == "ü"
    assert named[files["alice-2"]] == "alice-2" and named[files["alice"]] == "alice-3"
    assert named == batch.names(list(reversed([*files.values(), index_folder])), "digits.py")  # stable


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(batch.ShardError):
        batch.parse_shard(text)


def test_the_gradebook_neutralises_formulas_and_names_empty_folders(tmp_path: Path) -> None:
    results = {"tests": [{"name": "reshape", "score": 1.0, "max_score": 1.0, "status": "passed", "output": ""}],
               "score": 1.0, "execution_time": 1.0, "extra_data": {"max_score": 1.0, "passed": True}}
    paths = gradebook.write({"=HYPERLINK(1)": results}, tmp_path / "book")
    assert "'=HYPERLINK(1)" in paths["gradebook"].read_text()
    with pytest.raises(gradebook.GradebookError, match="results.json"):
        gradebook.collect([tmp_path / "book"])

"""The gradebook and index: built from the run's own jobs, safe links, cells a spreadsheet reads as text."""

from __future__ import annotations

import csv
import html.parser
import json
import types
import urllib.parse
from pathlib import Path

import pytest

from grader import api
from grader.assignment import course, spec
from grader.views import gradebook

NAMES = ["<script>", "a b#c", "../x", "javascript:alert(1)", "..", "=SUM(A1)", "ok"]


def _results(name: str, score: float = 1.0, **extra) -> dict:
    """A results.json as `grader run` writes it in a batch."""
    return {"tests": [{"name": "reshape", "score": score, "max_score": 1.0, "status": "passed" if score else "failed",
                       "output": ""}],
            "score": score, "execution_time": 1.0,
            "extra_data": {"submission": name, "assignment": "digits", "max_score": 1.0, "passed": bool(score),
                           "fingerprint": "a" * 64 + ":" + "b" * 64, **extra}}


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.hrefs.append(attrs["href"])
        if tag == "meta" and "http-equiv" in attrs:
            self.meta[attrs["http-equiv"]] = attrs["content"]


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text())
    return parser


def test_index_links_are_relative_quoted_and_stay_in_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = gradebook.write({name: _results(name) for name in NAMES}, out)
    page = _parse(paths["index"])
    base = (out / "index.html").as_uri()
    targets = set()
    for href in page.hrefs:
        assert not urllib.parse.urlsplit(href).scheme and not href.startswith("/"), href
        resolved = urllib.parse.urlsplit(urllib.parse.urljoin(base, href))
        assert not resolved.query and not resolved.fragment, href
        *folder, name, page_name = resolved.path.split("/")  # segments as a browser sees them, before unquoting
        assert "/".join(folder) == urllib.parse.urlsplit(out.as_uri()).path and page_name == "report.html", href
        targets.add(urllib.parse.unquote(name))
    assert targets == set(NAMES) - {".."}  # a name of dots gets no link rather than one that climbs out
    assert "<script>" not in paths["index"].read_text().split("<body>")[1]


def test_index_carries_a_restrictive_content_security_policy(tmp_path: Path) -> None:
    policy = _parse(gradebook.write({"ok": _results("ok")}, tmp_path)["index"]).meta["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "base-uri 'none'" in policy


def test_gradebook_cells_that_a_spreadsheet_would_run_are_quoted_but_numbers_are_not(tmp_path: Path) -> None:
    starts = {"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
              "plain": "plain"}
    results = {name: _results(name) for name in starts}
    results["plain"]["score"] = -2.5  # never negative in practice: still a number, so not quoted
    results["plain"]["tests"][0]["score"] = 0.0
    path = gradebook.write(results, tmp_path)["gradebook"]
    with open(path, newline="") as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(starts.values())
    assert rows["plain"]["score"] == "-2.5" and rows["plain"]["reshape"] == "0.0"
    assert rows["'=1+1"]["score"] == "1.0"


def test_a_batch_gradebook_holds_only_the_runs_jobs(tmp_path: Path, monkeypatch) -> None:
    task = course.load("digits")
    folders = []
    for name in ("alice", "bob"):
        folders.append(tmp_path / "class" / name)
        folders[-1].mkdir(parents=True)
        (folders[-1] / "digits.py").write_text("")
    out = tmp_path / "out"
    (out / "mallory").mkdir(parents=True)  # what a submission could leave behind while graded
    (out / "mallory" / "results.json").write_text(json.dumps(_results("mallory", 1.0)))
    (out / "mallory" / "report.html").write_text("")

    class Unstarted:  # a session that grades nothing: its grading is replaced by `graded` below
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            pass

        def data(self):
            return types.SimpleNamespace(sha256="0" * 64, train=4000, test=1000, source="", path="")

        def grade_all(self, jobs, *, on_done=None, **options):
            results = {job.name: _results(job.name, 0.0) for job in jobs}
            for job in jobs:
                on_done(job, results[job.name])
            return results

    monkeypatch.setattr("grader.grading.session.Session", Unstarted)
    api._grade_batch(folders, task, out=out, data=None, keep_gpu=False, jobs=1, force=False, shard=None, progress=False)
    with open(out / "gradebook.csv", newline="") as handle:
        assert [row["name"] for row in csv.DictReader(handle)] == ["alice", "bob"]
    assert "mallory" not in (out / "index.html").read_text()


def test_merge_takes_only_results_the_grader_wrote_for_that_folder(tmp_path: Path, capsys) -> None:
    shard = tmp_path / "shard1"
    samples = {"ada": _results("ada"),  # as written by a batch
               "ben": {**_results("ben"), "extra_data": {**_results("ben")["extra_data"], "fingerprint": None,
                                                          "grader_faults": ["reshape"]}},  # a grader fault
               "copy": _results("ada"),  # someone else's results under another name
               "nofp": {**_results("nofp"), "extra_data": {**_results("nofp")["extra_data"], "fingerprint": "x"}},
               "junk": {"score": "=1", "tests": []}}
    for name, results in samples.items():
        (shard / name).mkdir(parents=True)
        (shard / name / "results.json").write_text(json.dumps(results))
    paths = gradebook.merge([shard], tmp_path / "all")
    with open(paths["gradebook"], newline="") as handle:
        assert [row["name"] for row in csv.DictReader(handle)] == ["ada", "ben"]
    index = paths["index"].read_text()
    assert 'href="../shard1/ada/report.html"' in index and "Left out" in index and "junk" in index
    assert "Left out 3 folder(s)" in capsys.readouterr().err
    with pytest.raises(gradebook.GradebookError, match="written by `grader run`"):
        gradebook.merge([shard / "junk"], tmp_path / "none")

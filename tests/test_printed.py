"""What a submission printed: each check's first lines under it in `grader check`, the head and tail of the run's
output in results.json and the report, and every character dropped counted."""

from __future__ import annotations

import json
import re

import pytest

from conftest import SOLUTION
from grader import printed
from grader.cli import main


def test_a_short_output_is_kept_whole():
    assert printed.head_and_tail("hello\n") == ("hello\n", 0)
    text = "x" * printed.KEEP
    assert printed.head_and_tail(text) == (text, 0)


def test_a_long_output_keeps_its_head_and_tail_in_whole_lines_and_counts_the_middle():
    text = "".join(f"line {i}\n" for i in range(30_000))
    kept, dropped = printed.head_and_tail(text, keep=1_000)
    head, marker, tail = kept.partition(f"[... {dropped:,} characters dropped ...]\n")
    assert marker and text.startswith(head) and text.endswith(tail) and len(head) + len(tail) + dropped == len(text)
    assert head.endswith("line 62\n") and tail.startswith("line 29955\n")  # whole lines, each at most 500 characters
    assert len(kept) <= 1_000 + printed.MARKER_ROOM
    one_line = "x" * 3_000  # no line end to cut at: characters
    kept, dropped = printed.head_and_tail(one_line, keep=1_000)
    assert kept == "x" * 500 + "\n[... 2,000 characters dropped ...]\n" + "x" * 500 and dropped == 2_000


def test_a_check_keeps_its_first_lines_and_counts_everything():
    kept = printed.PerCheck()
    assert kept.record("normalise") is None
    kept.add("normalise", "".join(f"{i}\n" for i in range(50)))
    kept.add("normalise", "more\n", 7)  # 7 characters printed and not read (or dropped by the sandbox)
    kept.add("predict", "")
    record = kept.record("normalise")
    assert record == {"text": "".join(f"{i}\n" for i in range(printed.CHECK_LINES)), "chars": 140 + 5 + 7}
    kept.add("reshape", "y" * 10_000)
    assert kept.record("reshape") == {"text": "y" * printed.CHECK_CHARS, "chars": 10_000}
    assert kept.record("predict") is None


PRINTING = {
    "def reshape(images):\n": "def reshape(images):\n    print('r' * 49)  # 50 characters a line\n"
                              "    for _ in range(2_000):\n        print('z' * 49)\n",
    "def normalise(images):\n": "def normalise(images):\n    print('normalise got', images.shape, images.dtype)\n"
                                "    print('\\x1b[2Jcleared\\tscreen')\n",
}


@pytest.mark.slow
def test_grader_check_shows_what_each_check_printed_and_the_report_its_head_and_tail(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the installed kit, not the course folder
    source = SOLUTION.read_text()
    for old, new in PRINTING.items():
        assert old in source
        source = source.replace(old, new, 1)
    source += "\nprint('hello from the top level')\n"
    (tmp_path / "digits.py").write_text(source)
    status = main(["check", str(tmp_path / "digits.py"), "--assignment", "digits", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert status == 0, out
    lines = out.splitlines()
    # The import's output first, then each check's under it, marked as the submission's, control characters defused.
    assert "While digits.py was imported, your code printed:" in out and "  | hello from the top level" in lines
    at = lines.index(next(line for line in lines if line.startswith("  PASS    normalise")))
    assert lines[at + 1:at + 4] == ["          Your code printed:", "          | normalise got (37, 28, 28, 1) uint8",
                                    "          | \\x1b[2Jcleared screen"]
    reshape = lines.index(next(line for line in lines if line.startswith("  PASS    reshape")))
    assert lines[reshape + 2:reshape + 4] == ["          | " + "r" * 49, "          | " + "z" * 49]
    assert lines[reshape + 2 + 5] == "          | ... (100,050 characters in all)"  # five lines shown, then the count  # five lines shown, then how much there was
    assert "\x1b" not in out
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    tests = {t["name"]: t for t in results["tests"]}
    assert tests["reshape"]["extra_data"]["printed"]["chars"] == 100_050
    assert len(tests["reshape"]["extra_data"]["printed"]["text"].splitlines()) == printed.CHECK_LINES
    assert "printed" not in tests["build_model"]["extra_data"]
    # The run's output: its head and its tail, and the middle counted as dropped.
    extra, output = results["extra_data"], results["output"]
    marker = re.search(r"\n\[\.\.\. ([\d,]+) characters dropped \.\.\.\]\n", output)
    assert output.startswith("hello from the top level\n" + "r" * 49) and "cleared\tscreen" in output[-10_000:]
    assert extra["output_over_limit"] == 0 and extra["output_dropped"] == int(marker.group(1).replace(",", "")) > 80_000
    assert len(output) <= printed.KEEP + printed.MARKER_ROOM
    html = (tmp_path / "out" / "report.html").read_text()
    assert f"the {extra['output_dropped']:,} characters in between were dropped" in html

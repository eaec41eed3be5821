"""Tests for grader.utf8: text that submitted code wrote, made valid Unicode before any writer sees it."""

from __future__ import annotations

import pytest

from grader import utf8


@pytest.mark.parametrize("text, made", [
    ("\ud800", "\ufffd"),                   # a lone high surrogate, as JSON's "\ud800" decodes
    ("a\udc80b", "a\ufffdb"),               # a lone low one, as a file name of bytes that are not UTF-8 decodes
    ("x\ud83d", "x\ufffd"),                 # a high surrogate at the very end
    ("\ud83d\ude00", "\U0001f600"),         # a pair that makes one character is joined into it
    ("plain… text ×", "plain… text ×"),     # valid text is returned as it is
])
def test_every_lone_surrogate_becomes_the_replacement_character(text: str, made: str) -> None:
    assert utf8.valid(text) == made
    made.encode("utf-8")


def test_valid_text_is_the_very_same_object() -> None:
    text = "déjà vu" * 100
    assert utf8.valid(text) is text


def test_every_string_of_plain_data_is_made_valid_keys_included() -> None:
    data = {"\udcff.py": ["\ud800", ("a\udc80", 1, None)], "score": 2.5, "tests": [{"output": "ok"}]}
    made = utf8.valid_data(data)
    assert made == {"\ufffd.py": ["\ufffd", ("a\ufffd", 1, None)], "score": 2.5, "tests": [{"output": "ok"}]}
    assert isinstance(made["\ufffd.py"][1], tuple)

"""Random and adversarial student input: every notebook, module and sandbox answer gets a verdict.

A seeded generator (the same cases on every run; a failure names its seed and case) builds
notebooks, modules and sandbox answers from hostile pieces: nesting past Python's recursion limit,
long constant expressions, lone surrogates, null bytes, magics, malformed JSON and bytes flipped in
valid ones. Each goes through the grader's own parsers, which must answer with data or with their
own error, never another exception; the nastiest are graded end to end in test_hostile_input.py.
"""

from __future__ import annotations

import io
import json
import random
import string

import numpy as np
import pytest

from conftest import SOLUTION
from grader.submission import notebook, top_level
from grader.platforms import github
from grader.sandbox import protocol
from grader.sandbox.runner import SubmissionError, _from_exception

SEED = 18
ROUNDS = 300

# Pieces of code a hostile (or unlucky) student might write in a cell or a module.
PIECES = [
    "import numpy as np\n", "from grader import checks\n", "SIZE = 28\n", "def f(x):\n    return x\n",
    "def broken(:\n    pass\n", "X = " + "+".join(["1"] * 1200) + "\n", "Y = " + "+".join(["1"] * 5000) + "\n",
    "Z = " + "(" * 150 + "1" + ")" * 150 + "\n", "W = " + "[" * 300 + "]" * 300 + "\n",
    "V = " + "-" * 3000 + "1\n", "U = " + " if 1 else ".join(["1"] * 800) + "\n",
    "T = lambda a=" + "+".join(["1"] * 1200) + ": a\n", "S = '\ud800'\n", "R = '\udcff' + 'x'\n", "nul = 1\x00\n",
    "%matplotlib inline\n", "%%bash\nrm -rf /\n", "%%time\nQ = 1\n", "files = !ls\n", "np.argmax?\n",
    "!pip install keras\n", "print('work')\n", "model.fit(x, y)\n", "if True:\n" + "".join(" " * i + "if 1:\n" for i in range(1, 120)),
    "'''unterminated\n", "x = (\n", "\t\tindented = 1\n", "A = 1; print(A); B = " + "+".join(["1"] * 1200) + "\n",
    "async def g():\n    await h()\n", "await something()\n", "try:\n    import google.colab\nexcept ImportError:\n    pass\n",
    "class C:\n    pass\n", "C = 1\r\nD = 2\r\n", "\x0cE = 1\n", "@decorator\ndef dec():\n    pass\n",
    "if __name__ == '__main__':\n    train()\n", "raise RuntimeError('\ud800')\n", "x = 1 \\\n  + 2\n",
]


def _code(rng: random.Random) -> str:
    pieces = rng.choices(PIECES, k=rng.randint(1, 6))
    if rng.random() < 0.2:
        pieces.append("".join(rng.choices(string.printable, k=rng.randint(1, 200))))
    return "".join(pieces)


def _deep(rng: random.Random, depth: int) -> object:
    value: object = rng.choice([1, "x", None, True, 2.5])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def _cell(rng: random.Random) -> object:
    if rng.random() < 0.01:
        return rng.choice([None, 3, "x = 1", [], {"source": "x"}])  # not a cell
    kind = rng.choice(["code"] * 16 + ["markdown", "raw", 7])
    source: object = _code(rng)
    if rng.random() < 0.3:
        source = source.splitlines(keepends=True)
    if rng.random() < 0.01:
        source = rng.choice([None, 5, {"a": 1}, ["x", 2]])
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    if rng.random() < 0.03:
        cell["metadata"] = _deep(rng, rng.choice([5, 50, 97, 101, 400]))
    return cell


def _notebook_text(rng: random.Random) -> str:
    book: dict = {"nbformat": rng.choice([4] * 20 + [3, "4", True, None]), "nbformat_minor": 5, "metadata": {},
                  "cells": [_cell(rng) for _ in range(rng.randint(0, 8))]}
    if rng.random() < 0.02:
        book["cells"] = rng.choice([None, {"a": 1}, "cells"])
    if rng.random() < 0.02:
        del book["nbformat"]
    text = json.dumps(book)
    if rng.random() < 0.2:  # flip, drop or insert a few characters of otherwise valid JSON
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            at = rng.randrange(len(chars))
            action = rng.random()
            if action < 0.4:
                chars[at] = rng.choice('[]{}",:\\0x\ud800 ')
            elif action < 0.7:
                del chars[at]
            else:
                chars.insert(at, rng.choice(['[' * 200, '"', '\\ud800', '{', '\x00']))
        text = "".join(chars)
    if rng.random() < 0.03:
        text = rng.choice(["[" * 50_000 + "]" * 50_000, '{"a": ' * 5000, "", "null", "\ud800"])
    return text


def _assert_valid_text(text: str) -> None:
    text.encode("utf-8")  # what every writer does with it


@pytest.mark.timeout(120)
def test_random_notebooks_are_read_or_refused_in_words_and_their_module_always_compiles() -> None:
    rng = random.Random(SEED)
    outcomes = {"read": 0, "refused": 0}
    for case in range(ROUNDS):
        text = _notebook_text(rng)
        try:
            book = notebook.parse(text, "work.ipynb")
        except notebook.NotebookError as refused:
            assert "work.ipynb" in str(refused), (SEED, case)
            outcomes["refused"] += 1
            continue
        module = notebook.to_module(book, "work.ipynb")
        compile(module, "work.py", "exec")  # the module the sandbox imports: a SyntaxError is raised when run
        assert isinstance(top_level.work(module), list), (SEED, case)
        outcomes["read"] += 1
    assert min(outcomes.values()) > ROUNDS // 10, outcomes  # both roads were taken


@pytest.mark.timeout(120)
def test_random_modules_are_parsed_within_bounds_without_an_exception() -> None:
    rng = random.Random(SEED)
    for case in range(ROUNDS):
        source = _code(rng)
        statements = top_level.work(source)
        assert all(isinstance(s.line, int) for s in statements), (SEED, case)
        top_level.explain("work.py", statements)
        definitions, _ = github.definition_lines(source)
        assert isinstance(definitions, dict), (SEED, case)
    solution = SOLUTION.read_text()
    assert top_level.work(solution + "\nX = " + "+".join(["1"] * 1200) + "\nprint(X)\n")[-1].code == "print(X)"


def _answer(rng: random.Random) -> bytes:
    """A header the sandbox might send, honest or not, as JSON bytes (sometimes broken)."""
    error = {"type": rng.choice(["RuntimeError", "SyntaxError", "RecursionError", "MemoryError", "SystemExit",
                                 "ImportError", "OSError", "NotImplementedError", ["x"], None, "\ud800"]),
             "message": rng.choice(["bad \ud800 text", "\udcff" * 100, "x" * 100_000, "[Errno 27] File too large",
                                    "OOM when allocating", {"a": "\ud800"}, None, 3]),
             "line": rng.choice([None, 3, -1, True, "7", 10**30]), "top_line": rng.choice([None, 1, "x"]),
             "code": rng.choice([None, "def f(:", "\ud800"]), "module": rng.choice([None, "tensorflow", "\ud800"]),
             "traceback": rng.choice(["", "  File \"digits.py\", line 3\n\ud800", None])}
    header: dict = {"ok": rng.choice([False, False, True, None, "yes"]), "error": error,
                    "value": _deep(rng, rng.choice([2, 60, 99]))}
    data = json.dumps(header).encode()
    if rng.random() < 0.3:
        data = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    return data


@pytest.mark.timeout(120)
def test_random_sandbox_answers_become_a_header_or_a_protocol_error_and_a_message_in_valid_text() -> None:
    rng = random.Random(SEED)
    for case in range(ROUNDS):
        try:
            header = protocol.parse_header(_answer(rng))
        except protocol.ProtocolError as refused:
            _assert_valid_text(str(refused))
            continue
        _assert_valid_text(json.dumps(header, ensure_ascii=False))  # every string of it, keys included
        error = header.get("error")
        if isinstance(error, dict):
            made = _from_exception(error, "calling normalise()", "digits.py")
            assert isinstance(made, SubmissionError) and made.message, (SEED, case)
            _assert_valid_text(made.message + made.details)


@pytest.mark.timeout(120)
def test_random_payloads_become_arrays_or_a_protocol_error() -> None:
    rng = random.Random(SEED)
    buffer = io.BytesIO()
    np.savez(buffer, images=np.zeros((3, 4), dtype=np.float32), labels=np.arange(3))
    valid = buffer.getvalue()
    for case in range(ROUNDS):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.1:
            data = bytearray(rng.randbytes(rng.randint(0, 400)))
        try:
            arrays = protocol.parse_payload(bytes(data), max_array_bytes=1 << 20)
        except protocol.ProtocolError:
            continue
        assert all(isinstance(a, np.ndarray) and a.dtype.kind in protocol.ARRAY_KINDS for a in arrays.values()), (SEED, case)

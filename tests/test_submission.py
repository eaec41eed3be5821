"""What a submission's sandbox gets to see: its own files only, never a classmate's or the system's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import SOLUTION
from grader.submission import files as handed_in
from grader.submission.files import (SubmissionNotFound, SubmissionTooLarge, UnsafeSubmission, copy_files, locate,
                                     materialise, sandbox_files)


@pytest.fixture()
def classroom(tmp_path: Path) -> Path:
    """submissions/alice and submissions/bob, each a folder with digits.py; bob also has a secret helper."""
    for name in ("alice", "bob"):
        folder = tmp_path / "submissions" / name
        folder.mkdir(parents=True)
        (folder / "digits.py").write_text(f"OWNER = {name!r}\n")
    (tmp_path / "submissions" / "bob" / "secret.py").write_text("ANSWER = 42\n")
    (tmp_path / "submissions" / "loose.py").write_text("X = 1\n")
    return tmp_path / "submissions"


def test_a_file_submission_sees_only_itself(classroom: Path) -> None:
    alice = classroom / "alice" / "digits.py"
    assert sandbox_files(classroom / "loose.py", classroom / "loose.py") == {"loose.py": (classroom / "loose.py").resolve()}
    assert sandbox_files(alice, alice) == {"digits.py": alice.resolve()}


def test_a_notebook_file_sees_itself_and_its_module(classroom: Path, tmp_path: Path) -> None:
    book = classroom / "alice" / "digits.ipynb"
    book.write_text("{}")
    module = tmp_path / "scratch" / "digits.py"
    module.parent.mkdir()
    module.write_text("X = 1\n")
    assert sandbox_files(book, module) == {"digits.ipynb": book.resolve(), "digits.py": module.resolve()}


def test_a_folder_submission_sees_its_own_files_recursively_and_no_siblings(classroom: Path, tmp_path: Path) -> None:
    alice = classroom / "alice"
    (alice / "helpers").mkdir()
    (alice / "helpers" / "layers.py").write_text("")
    (alice / "notes.txt").write_text("mine")
    (alice / "__pycache__").mkdir()
    (alice / "__pycache__" / "digits.cpython-311.pyc").write_bytes(b"")
    os.mkfifo(alice / "pipe")
    files = sandbox_files(alice, alice / "digits.py")
    assert files == {"digits.py": (alice / "digits.py").resolve(), "notes.txt": (alice / "notes.txt").resolve(),
                     "helpers/layers.py": (alice / "helpers" / "layers.py").resolve()}
    target = tmp_path / "sandbox"
    copy_files(files, target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "digits.py", "helpers/layers.py", "notes.txt"]
    assert (target / "digits.py").read_text() == "OWNER = 'alice'\n"


def test_a_folder_with_a_notebook_gets_the_module_made_from_it_at_the_top(classroom: Path, tmp_path: Path) -> None:
    folder = classroom / "cy"
    folder.mkdir()
    (folder / "work.ipynb").write_text("{}")
    (folder / "helpers.py").write_text("")
    module = tmp_path / "scratch" / "work.py"
    module.parent.mkdir()
    module.write_text("")
    assert set(sandbox_files(folder, module)) == {"work.ipynb", "helpers.py", "work.py"}
    assert sandbox_files(folder, module)["work.py"] == module.resolve()


def test_a_link_to_another_students_file_is_refused_with_what_to_do(classroom: Path) -> None:
    alice = classroom / "alice"
    (alice / "helper.py").symlink_to(classroom / "bob" / "secret.py")
    with pytest.raises(UnsafeSubmission) as caught:
        sandbox_files(alice, alice / "digits.py")
    message = str(caught.value)
    assert "helper.py" in message and "bob" in message and "outside" in message and "copy" in message
    assert isinstance(caught.value, SubmissionNotFound)  # graded as a submission fault, not a grader crash


@pytest.mark.parametrize("target", ["/etc/passwd", "/etc", "/nonexistent/passwd"])
def test_links_out_of_the_folder_are_refused_even_to_system_files(classroom: Path, target: str) -> None:
    alice = classroom / "alice"
    (alice / "data").mkdir()
    (alice / "data" / "labels.txt").symlink_to(target)
    with pytest.raises(UnsafeSubmission, match=f"data/labels.txt is a symbolic link to {target}"):
        sandbox_files(alice, alice / "digits.py")


def test_a_relative_link_climbing_out_is_refused(classroom: Path) -> None:
    alice = classroom / "alice"
    (alice / "up").symlink_to("../bob")
    with pytest.raises(UnsafeSubmission, match="up"):
        sandbox_files(alice, alice / "digits.py")


def test_the_module_itself_as_a_link_to_a_classmate_is_refused_before_anything_is_read(classroom: Path, digits) -> None:
    folder = classroom / "mallory"
    folder.mkdir()
    (folder / "digits.py").symlink_to(classroom / "bob" / "digits.py")
    with pytest.raises(UnsafeSubmission, match="digits.py is a symbolic link to .*outside your submission folder mallory"):
        locate(folder, digits)


def test_a_submission_that_is_itself_a_link_is_refused(classroom: Path, digits) -> None:
    (classroom / "mallory.py").symlink_to(classroom / "bob" / "digits.py")
    (classroom / "mallory").symlink_to(classroom / "bob")
    for path in (classroom / "mallory.py", classroom / "mallory"):
        with pytest.raises(UnsafeSubmission, match="symbolic link"):
            locate(path, digits)
        with pytest.raises(UnsafeSubmission, match="symbolic link"):
            sandbox_files(path, path)


def test_links_inside_the_folder_are_copied_as_what_they_point_to(classroom: Path, tmp_path: Path) -> None:
    alice = classroom / "alice"
    (alice / "lib").mkdir()
    (alice / "lib" / "real.py").write_text("R = 1\n")
    (alice / "alias.py").symlink_to("lib/real.py")
    (alice / "libs").symlink_to("lib")
    (alice / "dangling.py").symlink_to("missing.py")
    files = sandbox_files(alice, alice / "digits.py")
    assert set(files) == {"digits.py", "alias.py", "lib/real.py", "libs/real.py"}
    copy_files(files, tmp_path / "sandbox")
    assert not (tmp_path / "sandbox" / "alias.py").is_symlink()
    assert (tmp_path / "sandbox" / "alias.py").read_text() == "R = 1\n"


def test_a_link_that_loops_back_is_refused(classroom: Path) -> None:
    alice = classroom / "alice"
    (alice / "sub").mkdir()
    (alice / "sub" / "again").symlink_to("..")
    with pytest.raises(UnsafeSubmission, match="never end"):
        sandbox_files(alice, alice / "digits.py")


def test_too_many_files_or_bytes_are_refused_with_what_to_do(classroom: Path, monkeypatch) -> None:
    alice = classroom / "alice"
    for i in range(5):
        (alice / f"f{i}.txt").write_bytes(b"x" * 100)
    monkeypatch.setattr(handed_in, "MAX_ENTRIES", 4)
    with pytest.raises(SubmissionTooLarge, match="more than 4 files and folders"):
        sandbox_files(alice, alice / "digits.py")
    monkeypatch.setattr(handed_in, "MAX_ENTRIES", 200)
    monkeypatch.setattr(handed_in, "MAX_BYTES", 300)
    with pytest.raises(SubmissionTooLarge, match="Remove data sets"):
        sandbox_files(alice, alice / "digits.py")


def test_copying_refuses_a_file_swapped_for_a_link_after_it_was_chosen(classroom: Path, tmp_path: Path) -> None:
    alice = classroom / "alice"
    (alice / "data.txt").write_text("mine")
    files = sandbox_files(alice, alice / "digits.py")
    (alice / "data.txt").unlink()
    (alice / "data.txt").symlink_to(classroom / "bob" / "secret.py")  # the race: after the check, before the copy
    with pytest.raises(UnsafeSubmission, match="data.txt"):
        copy_files(files, tmp_path / "sandbox")
    assert not (tmp_path / "sandbox" / "data.txt").exists()


def test_copying_refuses_a_folder_swapped_for_a_link_after_it_was_chosen(classroom: Path, tmp_path: Path) -> None:
    alice = classroom / "alice"
    (alice / "lib").mkdir()
    (alice / "lib" / "secret.py").write_text("")
    files = sandbox_files(alice, alice / "digits.py")
    (alice / "lib" / "secret.py").unlink()
    (alice / "lib").rmdir()
    (alice / "lib").symlink_to(classroom / "bob")
    with pytest.raises(UnsafeSubmission, match="lib/secret.py"):
        copy_files(files, tmp_path / "sandbox")


def test_materialise_copies_nothing_beside_a_notebook(classroom: Path, tmp_path: Path) -> None:
    book = classroom / "alice" / "digits.ipynb"
    book.write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}')
    made = materialise(book, tmp_path / "scratch")
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == [made.name]


def test_the_shipped_solution_is_found_and_copied(tmp_path: Path, digits) -> None:
    folder = tmp_path / "ada"
    folder.mkdir()
    (folder / "digits.py").write_text(SOLUTION.read_text())
    module = materialise(locate(folder, digits), tmp_path / "scratch")
    copy_files(sandbox_files(folder, module), tmp_path / "sandbox")
    assert (tmp_path / "sandbox" / module.name).read_text() == SOLUTION.read_text()


@pytest.mark.timeout(20)  # a reader that blocked on the pipe would hang here for ever
@pytest.mark.parametrize("where", ["the module named in the folder", "the folder's only module", "the path given"])
def test_a_named_pipe_as_the_module_is_refused_saying_what_it_is_and_what_to_do(tmp_path: Path, digits, where) -> None:
    folder = tmp_path / "ada"
    folder.mkdir()
    name = "mine.py" if where == "the folder's only module" else "digits.py"
    os.mkfifo(folder / name)
    given = folder / name if where == "the path given" else folder
    with pytest.raises(UnsafeSubmission, match=rf"{name} is a named pipe \(FIFO\), not a regular file.*Hand in {name} as "
                                               "an ordinary file"):
        locate(given, digits)


def test_a_socket_named_like_the_module_is_refused(tmp_path: Path, digits) -> None:
    import socket

    folder = tmp_path / "ada"
    folder.mkdir()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(folder / "digits.py"))
        with pytest.raises(UnsafeSubmission, match="digits.py is a socket, not a regular file"):
            locate(folder, digits)


@pytest.mark.timeout(20)
def test_a_named_pipe_beside_the_module_is_left_out_of_the_sandbox_and_the_fingerprint(classroom: Path) -> None:
    from grader.grading import fingerprint

    alice = classroom / "alice"
    before = fingerprint.submission(alice)
    os.mkfifo(alice / "pipe.txt")
    assert sorted(sandbox_files(alice, alice / "digits.py")) == ["digits.py"]
    assert fingerprint.submission(alice) == before

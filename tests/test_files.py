"""Tests for grader.files: reading a handed-in file only if it is a regular file, and only up to a bound."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from grader import files

pytestmark = pytest.mark.timeout(20)  # a reader that blocked on a pipe would hang here for ever


def test_a_regular_file_is_read_up_to_one_byte_past_its_bound(tmp_path: Path) -> None:
    (tmp_path / "small.py").write_bytes(b"x = 1\n")
    (tmp_path / "large.py").write_bytes(b"#" * 1000)
    assert files.read_regular(tmp_path / "small.py", limit=100) == b"x = 1\n"
    assert len(files.read_regular(tmp_path / "large.py", limit=100)) == 101  # more than the bound: larger


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "digits.py")  # no writer: opening it to read would block for ever
    with pytest.raises(OSError, match=r"it is a named pipe \(FIFO\), not a regular file"):
        files.read_regular(tmp_path / "digits.py", limit=100)


def test_a_socket_a_device_and_a_folder_are_refused_naming_what_they_are(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "digits.py"))
        with pytest.raises(OSError, match="it is a socket, not a regular file"):
            files.read_regular(tmp_path / "digits.py", limit=100)
    with pytest.raises(OSError, match="it is a character device, not a regular file"):
        files.read_regular(Path("/dev/zero"), limit=100)  # would never end
    with pytest.raises(OSError, match="it is a folder, not a regular file"):
        files.read_regular(tmp_path, limit=100)

"""Fingerprints that decide whether a graded submission must be graded again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from grader import __version__
from grader.assignment.spec import Assignment
from grader.submission.files import SubmissionNotFound, own_files, read_regular


def submission(path: Path) -> str:
    """sha256 over the files a submission's sandbox would get (names and contents), read without following links.

    A submission the grader refuses (a link leading out, too large) gets a fingerprint of the refusal,
    so it is refused again on every run, and what its links point to is never opened.
    """
    digest = hashlib.sha256()
    try:
        files = own_files(path)
        for name, source in sorted(files.items()):
            digest.update(os.fsencode(name) + b"\0")  # a name of bytes that are not UTF-8 is those bytes
            digest.update(hashlib.sha256(read_regular(source, name)).digest())
    except SubmissionNotFound as refused:
        return hashlib.sha256(b"refused\0" + str(refused).encode("utf-8", "surrogatepass")).hexdigest()
    return digest.hexdigest()


def configuration(assignment: Assignment, data_sha256: str) -> str:
    """sha256 over what else decides a grade: the grader's version, the spec, the reference and the data."""
    digest = hashlib.sha256(__version__.encode())
    for path in (assignment.directory / "assignment.toml", assignment.solution or assignment.directory / "answers.npz"):
        digest.update(path.read_bytes() if path.is_file() else b"")
    digest.update(repr((assignment.training, assignment.limits, assignment.checks)).encode())
    digest.update(data_sha256.encode())
    return digest.hexdigest()

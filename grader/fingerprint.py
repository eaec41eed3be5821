"""Fingerprints that decide whether a graded submission must be graded again."""

from __future__ import annotations

import hashlib
from pathlib import Path

from grader import __version__
from grader.spec import Assignment


def submission(path: Path) -> str:
    """sha256 over a submission's file, or over every file of its folder (names and contents)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path if path.is_dir() else path.parent)).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def configuration(assignment: Assignment, data_sha256: str) -> str:
    """sha256 over what else decides a grade: the grader's version, the spec, the reference and the data."""
    digest = hashlib.sha256(__version__.encode())
    for path in (assignment.directory / "assignment.toml", assignment.solution):
        digest.update(path.read_bytes() if path.is_file() else b"")
    digest.update(repr((assignment.training, assignment.limits, assignment.checks)).encode())
    digest.update(data_sha256.encode())
    return digest.hexdigest()

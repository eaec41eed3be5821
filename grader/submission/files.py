"""A submission's files: the one to grade in what a student handed in, and what its sandbox may see, read without
following a link out of it."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Iterator

from grader import utf8
from grader.files import kind as file_kind
from grader.assignment.spec import Assignment
from grader.submission import notebook

MAX_ENTRIES = 200  # files and folders a submission folder may hold
MAX_BYTES = 32 << 20  # total size of the files a sandbox gets
SKIPPED = frozenset({".git", "__pycache__", ".ipynb_checkpoints"})  # tools' folders, never the student's code


class SubmissionNotFound(Exception):
    """There is nothing to grade at the given path; the message says what was expected.

    `status` is what the hand-in's results record instead of a grade (see grader.results.NOT_GRADED); the
    subclasses that refuse what the student did (links out, too much) are graded, every check failing.
    """

    status = "missing"


class AmbiguousSubmission(SubmissionNotFound):
    """A folder holds several modules or notebooks, none named as the assignment's module."""

    status = "ambiguous"


class MalformedNotebook(SubmissionNotFound):
    """A handed-in notebook cannot be read; the message names the file and what to do."""

    status = "unreadable"


class NotAModule(SubmissionNotFound):
    """A handed-in file that is neither a Python module nor a notebook."""

    status = "unreadable"


class UnsafeSubmission(SubmissionNotFound):
    """A symbolic link in a submission leads outside it (or changed while read); the message names it and what to do."""

    status = "graded"


class SubmissionTooLarge(SubmissionNotFound):
    """A submission folder holds more files, or more bytes, than a sandbox is given."""

    status = "graded"


def locate(path: Path, assignment: Assignment) -> Path:
    """The module to grade: `path` itself if it is a file, else the assignment's module inside the folder.

    Only a regular file is ever chosen: a named pipe, a device or a socket is refused, since reading it
    could block the grader (or whatever reads the submission after it) for ever.
    """
    if not path.exists() and not path.is_symlink():
        raise SubmissionNotFound(f"{path} does not exist; give the path of your {assignment.module} or of the folder holding it.")
    _refuse_linked_root(path)
    if not path.is_dir():
        _regular(path)
        if path.suffix not in (".py", ".ipynb"):
            raise NotAModule(f"{path} is not a Python module (.py) or notebook (.ipynb); hand in {assignment.module}.")
        return path
    stem = Path(assignment.module).stem
    for name in (assignment.module, f"{stem}.ipynb"):
        if (path / name).is_file():
            _inside(path / name, path)
            return path / name
        if (path / name).exists() and not (path / name).is_dir():
            _regular(path / name)
    candidates = sorted(path.glob("*.py")) + sorted(path.glob("*.ipynb"))
    if len(candidates) == 1:
        _inside(candidates[0], path)
        return _regular(candidates[0])
    found = ", ".join(p.name for p in candidates[:5]) or "no .py or .ipynb file"
    refusal = AmbiguousSubmission if candidates else SubmissionNotFound
    raise refusal(f"{path} holds {found}; expected {assignment.module} (or {stem}.ipynb). Rename your file to {assignment.module}.")


def materialise(path: Path, directory: Path) -> Path:
    """A .py module to hand to the sandbox: `path` itself, or the code extracted from a notebook into `directory`.

    A notebook keeps its imports, definitions and constants (see grader.submission.notebook). Nothing else is
    copied here: what else the sandbox sees is decided by `sandbox_files`.
    """
    if path.suffix != ".ipynb":
        return path
    try:
        source = notebook.to_module(notebook.read(path), path.name)
    except notebook.NotebookError as exc:
        raise MalformedNotebook(str(exc)) from None
    stem = path.stem if path.stem.isidentifier() else re.sub(r"\W", "_", path.stem)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{stem}.py"
    target.write_text(utf8.valid(source), encoding="utf-8")  # its name, of bytes that are not UTF-8, is in its docstring
    return target


# -- what a sandbox may see ------------------------------------------------------------------------

def sandbox_files(path: Path, module: Path) -> dict[str, Path]:
    """What the sandbox of the submission at `path` (a file or a folder) gets: name in the sandbox -> file to copy.

    A file gives itself only; a folder its own regular files, recursively (at most MAX_ENTRIES
    files and folders, MAX_BYTES in all), never anything beside it. `module`, the file to import,
    is always at the top level under its own name (one made from a notebook is added there).
    Values are resolved paths; copy them with `copy_files`, which follows no link on the way.
    """
    files = own_files(path)
    files[module.name] = module.resolve()
    return files


def own_files(path: Path) -> dict[str, Path]:
    """The files handed in at `path`: a file itself, or a folder's own regular files; links leading out refused."""
    _refuse_linked_root(path)
    return _folder_files(path) if path.is_dir() else {path.name: path.resolve()}


def read_regular(source: Path, name: str) -> bytes:
    """The bytes of a file `own_files` chose, opened without following links, at most MAX_BYTES."""
    with os.fdopen(_open_regular(source, name), "rb") as reader:
        data = reader.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SubmissionTooLarge(f"{name} is larger than {MAX_BYTES >> 20} MB; hand in only your code and the small "
                                 "files it reads.")
    return data


def read_files(files: dict[str, Path]) -> Iterator[tuple[str, bytes]]:
    """Each file `sandbox_files` chose, by name, with its bytes: opened without following links, MAX_BYTES in all
    (a file that grew since it was listed counts as it is now)."""
    budget = MAX_BYTES
    for name, source in files.items():
        with os.fdopen(_open_regular(source, name), "rb") as reader:
            data = reader.read(budget + 1)
        if len(data) > budget:
            raise SubmissionTooLarge(f"{name} made the submission larger than {MAX_BYTES >> 20} MB while it was "
                                     "copied; hand in only your code and the small files it reads.")
        budget -= len(data)
        yield name, data


def copy_files(files: dict[str, Path], target: Path) -> None:
    """Copy what `sandbox_files` chose into the folder `target` (see read_files)."""
    for name, data in read_files(files):
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(destination, "xb") as writer:
            writer.write(data)


def _refuse_linked_root(path: Path) -> None:
    if path.is_symlink():
        raise UnsafeSubmission(f"{path} is a symbolic link (to {os.readlink(path)}); the grader grades the files and "
                               "folders handed in, never what a link points to. Hand in the file or folder itself.")


def _regular(path: Path) -> Path:
    """`path` if it is a regular file (or a link to one), else refused with words saying what it is."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SubmissionNotFound(f"{path.name} cannot be read ({exc.strerror}); hand in {path.name} as an ordinary "
                                 "file.") from None
    if stat.S_ISREG(mode):
        return path
    raise UnsafeSubmission(f"{path.name} is {file_kind(mode)}, not a regular file: the grader reads only plain files, "
                           "since reading anything else could block it for ever. Hand in "
                           f"{path.name} as an ordinary file, saved from your editor or Jupyter.")


def _inside(link: Path, root: Path) -> Path:
    """`link` itself if it is not a symbolic link, else its resolved target, which must lie inside `root`."""
    if not link.is_symlink():
        return link
    target = Path(os.path.realpath(link))
    if not target.is_relative_to(root.resolve()):
        shown = link.relative_to(root) if link.is_relative_to(root) else link
        raise UnsafeSubmission(f"{shown} is a symbolic link to {os.readlink(link)}, which is outside your submission "
                               f"folder {root.name}; the grader copies only what is inside the folder handed in. "
                               "Replace the link with a copy of the file it points to (or remove it) and hand in again.")
    return target


def _folder_files(folder: Path) -> dict[str, Path]:
    """Every regular file under `folder` by its relative name, links inside it followed, within the limits."""
    root = folder.resolve()
    found: dict[str, Path] = {}
    seen = [0, 0]  # entries, bytes
    stack = [(root, "", frozenset({root}))]
    while stack:
        directory, prefix, chain = stack.pop()
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if entry.name in SKIPPED:
                continue
            name = prefix + entry.name
            real = _inside(folder / name, folder) if entry.is_symlink() else Path(entry.path)
            try:
                info = real.stat()
            except OSError:  # a link that leads nowhere: nothing to copy
                continue
            if stat.S_ISDIR(info.st_mode):
                if real in chain:
                    raise UnsafeSubmission(f"{folder / name} leads back to {real}, a folder that holds it (through a "
                                           "symbolic link), so copying it would never end; remove that link.")
                stack.append((real, name + "/", chain | {real}))
            elif stat.S_ISREG(info.st_mode):
                found[name] = real
                seen[1] += info.st_size
            else:
                continue  # pipes, sockets, devices: not part of any submission
            seen[0] += 1
            _check_limits(folder, *seen)
    return found


def _check_limits(folder: Path, entries: int, size: int) -> None:
    if entries > MAX_ENTRIES:
        raise SubmissionTooLarge(f"{folder} holds more than {MAX_ENTRIES} files and folders; a submission is your code "
                                 "and the few small files it needs. Hand in only those.")
    if size > MAX_BYTES:
        raise SubmissionTooLarge(f"{folder} holds more than {MAX_BYTES >> 20} MB of files; a submission is your code "
                                 "and the few small files it needs. Remove data sets, models and outputs and hand in again.")


def _open_regular(source: Path, name: str) -> int:
    """A read-only descriptor of the regular file at the resolved path `source`, following no link on the way."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = _open_each_part(source, flags) if os.open in os.supports_dir_fd else os.open(source, flags)
    except OSError as exc:
        raise UnsafeSubmission(f"{name} could not be read ({exc.strerror}): it was moved, or replaced by a link, while "
                               "the grader copied it. Hand in plain files and grade again.") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeSubmission(f"{name} is no longer a regular file; hand in plain files and grade again.")
    return fd


def _open_each_part(path: Path, flags: int) -> int:
    """Open `path` one folder at a time from the root, so that a link swapped in anywhere on the way fails."""
    parent = os.open(path.anchor, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in path.parts[1:-1]:
            child = os.open(part, flags | os.O_DIRECTORY, dir_fd=parent)
            os.close(parent)
            parent = child
        return os.open(path.name, flags, dir_fd=parent)
    finally:
        os.close(parent)

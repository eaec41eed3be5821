"""A student kit: what the public checks need, as data, and nothing of the reference solution's code.

`grader release` makes it from the course folder (grader.authoring.release); `grader check` and
`notebook_check()` run the public checks from it alone. A kit's folder holds:

- kit.json: the public part of the spec (hidden checks by name, points and visibility only) and where the
  kit's data came from;
- answers.npz: the public images the self-check trains and tests on (a share of the training split; the
  held-out test split is never in a kit) and the reference's answers to every call the public checks make,
  arrays packed losslessly;
- answers.json: which answer belongs to which call (the function and the sha256 of its arguments), and the
  compile settings the reference sets;
- the student's template module and notebook;
- SHA256SUMS: the sha256 of every other file (`sha256sum -c SHA256SUMS` checks it), verified on every load.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from grader.assignment.data import Dataset
from grader.assignment.spec import Assignment, CheckSpec, SpecError, parse

if TYPE_CHECKING:
    import numpy as np

FORMAT = "grader-kit/1"
SPEC = "kit.json"
ANSWERS = "answers.npz"
INDEX = "answers.json"
SUMS = "SHA256SUMS"
MAX_BYTES = 256 << 20  # a kit's files together; a kit is a few megabytes
_PALETTE = 256         # arrays with at most this many distinct values are stored as uint8 codes and a table


class KitError(SpecError):
    """A student kit is missing, changed or malformed; the message says what to do."""


def is_kit(path: Path) -> bool:
    """Whether `path` is a kit's folder or its kit.json."""
    try:
        return (path / SPEC).is_file() if path.is_dir() else path.name == SPEC and path.is_file()
    except OSError:
        return False


def load(path: Path) -> Assignment:
    """The assignment a kit describes, its files verified against SHA256SUMS."""
    path = Path(path)
    folder = (path if path.is_dir() else path.parent).resolve()
    verify(folder)
    table = _json(folder / SPEC)
    if table.get("format") != FORMAT:
        raise KitError(f"{folder / SPEC}: not a kit of format {FORMAT} (found {table.get('format')!r}); get the kit "
                       "again from your course, made by this version of the grader.")
    withheld = tuple(CheckSpec(name=str(c["name"]), kind="withheld", points=float(c["points"]),
                               visibility=str(c["visibility"])) for c in table.get("withheld", []))
    return parse(table["spec"], folder / SPEC, solution=None, kit=folder, withheld=withheld)


def sums(folder: Path) -> dict[str, str]:
    """What SHA256SUMS records, by file name; KitError if it cannot be read or does not list the data files."""
    try:
        lines = (folder / SUMS).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KitError(f"{folder} is not a complete student kit: {SUMS} cannot be read ({exc}). Get the kit again.")
    named = {}
    for line in lines:
        digest, _, name = line.partition("  ")
        if not name or "/" in name or name.startswith("."):
            raise KitError(f"{folder / SUMS}: malformed line {line[:80]!r}. Get the kit again.")
        named[name] = digest
    for required in (SPEC, ANSWERS, INDEX):
        if required not in named:
            raise KitError(f"{folder / SUMS} does not list {required}. Get the kit again.")
    return named


def verify(folder: Path) -> None:
    """Raise KitError unless the data files (kit.json, answers.npz, answers.json) have the sha256 SHA256SUMS records;
    the template and notebook are listed too, but they are the student's to edit."""
    named = sums(folder)
    total = 0
    for name in (SPEC, ANSWERS, INDEX):
        path = folder / name
        try:
            total += path.stat().st_size
            if total > MAX_BYTES:
                raise KitError(f"the student kit in {folder} is larger than {MAX_BYTES >> 20} MB. Get the kit again.")
            found = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise KitError(f"the student kit's {name} cannot be read ({exc}). Get the kit again.") from exc
        if found != named[name]:
            raise KitError(f"the student kit's {name} was changed (sha256 {found[:12]}..., expected "
                           f"{named[name][:12]}...). The kit's data and answers must stay as released: get the kit "
                           "again.")


def dataset(task: Assignment) -> Dataset:
    """The kit's public images: a share of the training split (the self-check trains on the first images and tests
    on the ones after them); no test split."""
    import numpy as np

    arrays = _arrays(task.kit)
    info = _json(task.kit / SPEC).get("data", {})
    train, labels = arrays.get("train_images"), arrays.get("train_labels")
    if train is None or labels is None or len(train) != len(labels):
        raise KitError(f"{task.kit / ANSWERS} holds no public images. Get the kit again.")
    empty = np.zeros((0, *train.shape[1:]), dtype=train.dtype)
    return Dataset(train, labels, empty, np.zeros(0, dtype=labels.dtype), source=str(info.get("source", "student kit")),
                   path=str(task.kit), sha256=str(info.get("sha256", "")))


def answers(task: Assignment) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The kit's answer index (answers.json) and its arrays."""
    return _json(task.kit / INDEX), _arrays(task.kit)


def write(folder: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write a kit's files and their SHA256SUMS into `folder` (made if need be); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in files.items():
        (folder / name).write_bytes(content)
        paths.append(folder / name)
    sums = "".join(f"{hashlib.sha256(content).hexdigest()}  {name}\n" for name, content in sorted(files.items()))
    (folder / SUMS).write_text(sums, encoding="utf-8")
    return [*paths, folder / SUMS]


def copy(source: Path, out: Path) -> list[Path]:
    """Copy the kit in `source` (verified first) into `out`, which must not hold files of the same names."""
    verify(source)
    names = [*sums(source), SUMS]
    clashes = [name for name in names if (out / name).exists()]
    if clashes:
        raise KitError(f"{out} already holds {', '.join(clashes)}; choose another folder (--out DIR) so that nothing "
                       "of yours is overwritten.")
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(source / name, out / name)) for name in names]


def pack(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An npz of `arrays`, each with few distinct values stored as uint8 codes and their table (lossless)."""
    import numpy as np

    stored: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        values, codes = (np.unique(array, return_inverse=True) if array.size and array.dtype.kind in "biuf"
                         else (None, None))
        if values is not None and len(values) <= _PALETTE and array.dtype.itemsize > 1:
            stored[f"{name}.codes"] = codes.astype(np.uint8).reshape(array.shape)
            stored[f"{name}.table"] = values
        else:
            stored[name] = array
    buffer = io.BytesIO()  # an npz written entry by entry at a fixed time: the same arrays give the same bytes
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in sorted(stored.items()):
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(2020, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)
    return buffer.getvalue()


def unpack(raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays `pack` stored."""
    out = {}
    for name in raw:
        if name.endswith(".table"):
            continue
        if name.endswith(".codes"):
            base = name[: -len(".codes")]
            out[base] = raw[f"{base}.table"][raw[name]]
        else:
            out[name] = raw[name]
    return out


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    import numpy as np

    try:
        with np.load(folder / ANSWERS, allow_pickle=False) as raw:
            return unpack({name: raw[name] for name in raw.files})
    except (OSError, ValueError, KeyError) as exc:
        raise KitError(f"{folder / ANSWERS} cannot be read ({exc}). Get the kit again.") from exc


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise KitError(f"{path} cannot be read ({exc}). Get the kit again.") from exc
    if not isinstance(value, dict):
        raise KitError(f"{path} is not a JSON object. Get the kit again.")
    return value

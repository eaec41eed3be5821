"""Load the image data set an assignment trains and tests on, without touching the network.

An explicit path (a Keras-format ``.npz`` or a folder of the four IDX files) wins; without one, the
sources the assignment's spec declares are tried in order (data_sources.py: the Keras download
cache, a folder on this machine, a CSV sample inside a Python package), their files checked against
the digests the spec gives. A package's CSV sample takes a tenth of a second to parse, so it is
parsed once and kept, split and checked, as an npz in the user's cache folder (`cache_dir`), named
and verified by the sha256 of the CSV and of the arrays; a cache that does not verify is ignored
and written again.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import struct
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.assignment import data_sources
from grader.errors import UsageError
from grader.files import read_own, write_atomically
from grader.assignment.data_sources import Source, SourceError

if TYPE_CHECKING:
    import numpy as np

CACHE_FORMAT = 1  # bump when the arrays kept in the cache change meaning
CACHE_ARRAYS = ("x_train", "y_train", "x_test", "y_test", "key", "digest")
HOW_TO_SUPPLY = ("pass --data with a Keras-format .npz (x_train, y_train, x_test, y_test) or a folder of the four "
                 "IDX *-ubyte.gz files")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# Fixed order: it is also the order in which an IDX folder's digest is built.
IDX_FILES = (
    ("train-images-idx3-ubyte", 3),
    ("train-labels-idx1-ubyte", 1),
    ("t10k-images-idx3-ubyte", 3),
    ("t10k-labels-idx1-ubyte", 1),
)


class DataError(UsageError):
    """A data source is missing, unreadable or malformed; the message says what was looked for and how to supply it."""


@dataclass(frozen=True)
class DataSpec:
    """What an assignment's data is and where it comes from; read from the [data] table of assignment.toml."""

    image_shape: tuple[int, int]
    num_classes: int
    class_names: tuple[str, ...] = ()  # label order; empty: the classes are called by their numbers
    sources: tuple[Source, ...] = ()   # where to look when no --data is given, in order

    def __post_init__(self) -> None:
        shape = self.image_shape
        _require("image_shape", shape, isinstance(shape, tuple) and len(shape) == 2
                 and all(_is_int(v) and v > 0 for v in shape), "two positive integers like [28, 28]")
        # Labels are returned as uint8, so there can be at most 256 classes.
        _require("num_classes", self.num_classes, _is_int(self.num_classes) and 2 <= self.num_classes <= 256,
                 "an integer from 2 to 256")
        names = self.class_names
        _require("class_names", names, isinstance(names, tuple) and all(isinstance(n, str) and n for n in names)
                 and len(names) in (0, self.num_classes) and len(set(names)) == len(names),
                 f"a list of {self.num_classes} different names (num_classes), in label order")
        try:
            object.__setattr__(self, "sources", data_sources.parse(self.sources))
        except SourceError as error:
            raise DataError(f"{error} Fix that entry of assignment.toml.") from error

    @classmethod
    def from_dict(cls, table: dict) -> DataSpec:
        """Build a spec from the [data] table; unknown keys and bad values raise DataError naming the key."""
        if not isinstance(table, dict):
            raise DataError(f"the [data] table of assignment.toml is a {type(table).__name__}; expected a table "
                            "of keys such as image_shape and num_classes. Write it as [data] followed by "
                            "key = value lines.")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in table:
            if key not in known:
                raise DataError(f"unknown key {key!r} in the [data] table of assignment.toml; expected one of "
                                f"{', '.join(known)}. Remove it or fix its spelling.")
        for key in ("image_shape", "num_classes"):
            if key not in table:
                raise DataError(f"the [data] table of assignment.toml has no {key}; it says what the images and "
                                "labels are, e.g. image_shape = [28, 28] and num_classes = 10.")
        return cls(**{k: tuple(v) if isinstance(v, list) and k != "sources" else v for k, v in table.items()})


@dataclass(frozen=True, eq=False)
class Dataset:
    """The loaded images and labels, with where they came from."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    path: str
    sha256: str


@dataclass(frozen=True)
class Facts:
    """What is known of a loaded data set outside the process that holds it: where it came from and its sizes."""

    source: str
    path: str
    sha256: str
    train: int
    test: int


def facts(dataset: Dataset) -> Facts:
    return Facts(dataset.source, dataset.path, dataset.sha256, len(dataset.train_images), len(dataset.test_images))


def public_share(dataset: Dataset, train_samples: int, test_samples: int) -> Dataset:
    """What a self-check trains and tests on: the first `train_samples` training images, and the `test_samples`
    training images after them in place of the held-out test split, which a self-check never uses (a student kit
    does not hold it). The same share of the same data is the same arrays, with or without the reference."""
    have = len(dataset.train_images)
    train = min(train_samples, have)
    test = min(test_samples, have - train)
    if test <= 0:
        raise DataError(f"a self-check trains on {train:,} of the {have:,} training images and tests on the images "
                        "after them, and none are left: lower [training] quick_train_samples in the assignment's spec.")
    arrays = {"x_train": dataset.train_images[:train], "y_train": dataset.train_labels[:train],
              "x_test": dataset.train_images[train:train + test], "y_test": dataset.train_labels[train:train + test]}
    source = dataset.source if "public share" in dataset.source else f"{dataset.source} (the self-check's public share)"
    return Dataset(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], source=source,
                   path=dataset.path, sha256=arrays_digest(arrays))


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file, read in chunks so large files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_dataset(path: str | os.PathLike | None, spec: DataSpec, *,
                 environ: Mapping[str, str] | None = None) -> Dataset:
    """Load from `path` if given, else from the first of the spec's sources that is present."""
    if path is not None:
        return _load_path(Path(path), spec)
    environ = os.environ if environ is None else environ
    looked = []
    for source in spec.sources:
        place = source.location(environ)
        if place is not None and place.exists():
            if source.kind == "package":
                return _load_bundled(spec, source, place, cache_dir(environ))
            return _load_path(place, spec, source=source, environ=environ)
        why = "not installed" if place is None else "not there"
        looked.append(f"{source.describe(environ)} ({why}; to fill it: {source.how_to_fill()})")
    places = "; ".join(f"({i}) {text}" for i, text in enumerate(looked, 1)) or "none: the spec declares no sources"
    raise DataError(f"no data found. Looked at {places}. Fill one of these places, or {HOW_TO_SUPPLY}.")


def cache_dir(environ: Mapping[str, str]) -> Path:
    """Where parsed samples are kept: $XDG_CACHE_HOME/grader, by default ~/.cache/grader."""
    base = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is invalid and ignored
        base = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base) / "grader"


# --- Explicit path: a Keras .npz or a folder of IDX files --------------------------------------

def _load_path(path: Path, spec: DataSpec, *, source: Source | None = None,
               environ: Mapping[str, str] | None = None) -> Dataset:
    digests = source.digests() if source is not None else {}
    where = f"{source.describe(environ or os.environ)}: " if source is not None else ""
    if path.is_dir():
        return _load_idx_folder(path, spec, digests=digests, where=where)
    if path.is_file():
        raw = _read_bytes(path)
        _verify(path, hashlib.sha256(raw).hexdigest(), digests)
        return _load_npz(path, spec, label=f"{where}npz file" if where else "Keras npz file", raw=raw)
    raise DataError(f"data path {path} does not exist; expected a Keras .npz file or a folder of IDX files. "
                    f"Check the path, or {HOW_TO_SUPPLY}.")


def _load_npz(path: Path, spec: DataSpec, *, label: str, raw: bytes | None = None) -> Dataset:
    import numpy as np

    raw = _read_bytes(path) if raw is None else raw
    if not raw.startswith(b"PK"):
        # np.load would try it as a pickle and suggest allow_pickle=True, which must never be the fix.
        raise _not_npz(path, "it is not a zip file")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                held = ", ".join(archive.files) or "none"
                raise DataError(f"{path} has no array {', '.join(missing)} (it holds {held}); expected the Keras "
                                f"keys {', '.join(NPZ_KEYS)}. Save it with np.savez(path, x_train=..., "
                                f"y_train=..., x_test=..., y_test=...), or {HOW_TO_SUPPLY}.")
            arrays = {key: archive[key] for key in NPZ_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise _not_npz(path, str(error)) from error
    train = _check_split(arrays["x_train"], arrays["y_train"], spec, f"x_train/y_train in {path}")
    test = _check_split(arrays["x_test"], arrays["y_test"], spec, f"x_test/y_test in {path}")
    return _dataset(train, test, f"{label} {path.name}", path, hashlib.sha256(raw).hexdigest())


def _not_npz(path: Path, why: str) -> DataError:
    return DataError(f"{path} is not a readable Keras .npz archive ({why}); expected a file saved by np.savez "
                     f"with keys {', '.join(NPZ_KEYS)}. If it is a single IDX file, pass its folder instead; "
                     f"otherwise {HOW_TO_SUPPLY}.")


def _load_idx_folder(folder: Path, spec: DataSpec, *, digests: Mapping[str, str] | None = None,
                     where: str = "") -> Dataset:
    files = [_find_idx(folder, stem) for stem, _ in IDX_FILES]
    missing = [stem for (stem, _), found in zip(IDX_FILES, files) if found is None]
    if missing:
        raise DataError(f"folder {folder} has no {', '.join(m + '[.gz]' for m in missing)}; expected all four of "
                        f"{', '.join(stem + '.gz' for stem, _ in IDX_FILES)} (plain or gzipped). "
                        f"Copy the missing files there, or {HOW_TO_SUPPLY}.")
    arrays, found = zip(*(_read_idx(file, ndim) for file, (_, ndim) in zip(files, IDX_FILES)))
    for file, digest in zip(files, found):
        _verify(file, digest, digests or {})
    train = _check_split(arrays[0], arrays[1], spec, f"{files[0].name} and {files[1].name} in {folder}")
    test = _check_split(arrays[2], arrays[3], spec, f"{files[2].name} and {files[3].name} in {folder}")
    folder_digest = hashlib.sha256("\n".join(found).encode("ascii")).hexdigest()
    return _dataset(train, test, f"{where}IDX files in {folder}" if not where else f"{where}IDX files", folder,
                    folder_digest)


def _find_idx(folder: Path, stem: str) -> Path | None:
    # Prefer the .gz: it is the form the data set is published in; a plain copy may be a partial unpack.
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_idx(path: Path, ndim: int) -> tuple[np.ndarray, str]:
    """Parse one IDX file of unsigned bytes; return the array and the sha256 of the file as stored."""
    import numpy as np

    raw = _read_bytes(path)
    data = _gunzip(path, raw) if path.suffix == ".gz" else raw
    fix = f"Download {path.name} again, or {HOW_TO_SUPPLY}."
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated: {len(data)} bytes, shorter than its {header}-byte header. {fix}")
    magic = int.from_bytes(data[:4], "big")
    expected_magic = 0x800 + ndim
    if magic != expected_magic:
        kind = "images" if ndim == 3 else "labels"
        raise DataError(f"{path} starts with magic number 0x{magic:08X}; expected 0x{expected_magic:08X} "
                        f"(unsigned-byte {kind}, {ndim} dimension{'s' if ndim > 1 else ''}). {fix}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected_size = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected_size:
        raise DataError(f"{path} holds {len(data):,} bytes; its header (dimensions {' x '.join(map(str, dims))}) "
                        f"means {expected_size:,}. The file is truncated or corrupt. {fix}")
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()
    return array, hashlib.sha256(raw).hexdigest()


# --- Declared digests ----------------------------------------------------------------------------

def _verify(path: Path, found: str, digests: Mapping[str, str]) -> None:
    """Refuse a file whose sha256 is not the one its source declares (files it declares nothing for pass)."""
    expected = digests.get(path.name)
    if expected is not None and found != expected:
        raise DataError(f"{path} is corrupt or not the published file: sha256 {found}, expected {expected}; "
                        f"delete it (and download it again), or {HOW_TO_SUPPLY}.")


# --- Bundled sample ------------------------------------------------------------------------------

def _load_bundled(spec: DataSpec, source: Source, path: Path, cache: Path) -> Dataset:
    raw = _read_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()
    _verify(path, digest, source.digests())
    key = _cache_key(spec, source, digest)
    label = f"sample of the {source.package} package ({path.name})"
    where = f"bundled sample {path}"
    name = f"bundled-{key[:32]}.npz"
    kept = _read_cache(cache / name, key)
    if kept is not None:
        try:
            train = _check_split(kept["x_train"], kept["y_train"], spec, where)
            test = _check_split(kept["x_test"], kept["y_test"], spec, where)
            return _dataset(train, test, label, path, digest)
        except DataError:
            pass  # verified yet invalid: written by something else than this code; parse the CSV again
    train, test = _parse_bundled(spec, source, path, raw)
    _write_cache(cache, name, key, {"x_train": train[0], "y_train": train[1], "x_test": test[0], "y_test": test[1]})
    return _dataset(train, test, label, path, digest)


def _parse_bundled(spec: DataSpec, source: Source, path: Path,
                   raw: bytes) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The bundled CSV, shuffled with the source's seed and split: (train images, labels), (test images, labels)."""
    import numpy as np

    fix = f"Reinstall it (pip install --force-reinstall {source.package}), or {HOW_TO_SUPPLY}."
    text = _gunzip(path, raw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file is reported below instead
            table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int16, ndmin=2)
    except (ValueError, OverflowError) as error:
        raise DataError(f"bundled sample {path} is not a CSV of integers ({error}). {fix}") from error
    height, width = spec.image_shape
    columns = height * width + 1
    if table.shape[1] != columns:
        raise DataError(f"bundled sample {path} has {table.shape[1]} columns; expected {columns} "
                        f"({height}x{width} pixels, then the label). {fix}")
    if table.shape[0] <= source.test_size:
        raise DataError(f"bundled sample {path} has {table.shape[0]} rows; expected more than the "
                        f"{source.test_size} held out for testing (the source's test_size). {fix}")
    table = table[np.random.default_rng(source.split_seed).permutation(table.shape[0])]
    images, labels = table[:, :-1].reshape(-1, height, width), table[:, -1]
    cut, where = table.shape[0] - source.test_size, f"bundled sample {path}"
    return _check_split(images[:cut], labels[:cut], spec, where), _check_split(images[cut:], labels[cut:], spec, where)


# --- The cache of the parsed bundled sample -------------------------------------------------------

def _cache_key(spec: DataSpec, source: Source, source_sha256: str) -> str:
    """What the kept arrays depend on: the CSV's bytes, the spec's shape and classes, the source's split and seed."""
    parts = (CACHE_FORMAT, source_sha256, spec.image_shape, spec.num_classes, source.test_size, source.split_seed)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def arrays_digest(arrays: Mapping[str, np.ndarray], names: tuple[str, ...] = NPZ_KEYS) -> str:
    """The sha256 of the arrays `names` of `arrays`: each one's name, dtype, shape and bytes, in that order."""
    import numpy as np

    digest = hashlib.sha256()
    for name in names:
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.data)
    return digest.hexdigest()


def _read_cache(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The kept arrays if `path` is a regular file of this user's, written for `key`, whose arrays match their digest."""
    import numpy as np

    raw = read_own(path)  # None if another user could have written it: parse the CSV instead
    if raw is None:
        return None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            if sorted(archive.files) != sorted(CACHE_ARRAYS):
                return None
            arrays = {name: archive[name] for name in CACHE_ARRAYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    if str(arrays["key"]) != key or str(arrays["digest"]) != arrays_digest(arrays):
        return None
    return arrays


def _write_cache(folder: Path, name: str, key: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Keep the arrays in folder/name (mode 0600), replaced in one step; a cache that cannot be written is skipped."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), digest=np.array(arrays_digest(arrays)), **arrays)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(folder / name, buffer.getvalue(), private=True)
    except OSError:
        pass


# --- Shared checks -------------------------------------------------------------------------------

def _check_split(images: np.ndarray, labels: np.ndarray, spec: DataSpec, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split's images and labels and return them as uint8 arrays."""
    import numpy as np

    height, width = spec.image_shape
    fix = f"Fix or replace the data, or {HOW_TO_SUPPLY}."
    if images.dtype.kind not in "iu":
        raise DataError(f"images in {where} have dtype {images.dtype}; expected integers 0..255 (uint8), "
                        f"the raw pixels before any scaling. {fix}")
    if images.ndim != 3 or images.shape[1:] != (height, width) or images.shape[0] == 0:
        raise DataError(f"images in {where} have shape {images.shape}; expected (N, {height}, {width}) with N > 0, "
                        f"the [data] image_shape of the assignment. {fix}")
    if images.dtype != np.uint8 and (images.min() < 0 or images.max() > 255):
        raise DataError(f"images in {where} range from {images.min()} to {images.max()}; expected 0..255. {fix}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise DataError(f"labels in {where} have dtype {labels.dtype} and shape {labels.shape}; expected integer "
                        f"class numbers of shape (N,). {fix}")
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{where} has {images.shape[0]:,} images but {labels.shape[0]:,} labels; expected one "
                        f"label per image. {fix}")
    if labels.min() < 0 or labels.max() >= spec.num_classes:
        raise DataError(f"labels in {where} range from {labels.min()} to {labels.max()}; expected 0.."
                        f"{spec.num_classes - 1} (the [data] num_classes is {spec.num_classes}). {fix}")
    return images.astype(np.uint8, copy=False), labels.astype(np.uint8, copy=False)


def _dataset(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
             label: str, path: Path, digest: str) -> Dataset:
    counts = f"{len(train[0]):,} train / {len(test[0]):,} test"
    return Dataset(train[0], train[1], test[0], test[1], f"{label}: {counts}", str(path), digest)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path} ({error.strerror or error}); expected a readable file. "
                        f"Check its permissions, or {HOW_TO_SUPPLY}.") from error


def _gunzip(path: Path, raw: bytes) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path} is not a valid gzip file ({error}); expected a complete .gz download. "
                        f"Download it again, or {HOW_TO_SUPPLY}.") from error


def _require(key: str, value: object, ok: bool, expected: str) -> None:
    if not ok:
        raise DataError(f"[data] {key} = {value!r} in assignment.toml; expected {expected}. Fix that line.")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

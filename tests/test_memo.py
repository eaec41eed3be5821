"""Memoized training (grader.trusted.memo): the same model trains once, and a reused result equals a fresh one."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import SOLUTION, SUBMISSIONS, grade_with
from grader.trusted import architecture, compilation, memo, model_cost, training
from grader.assignment.data import load_dataset

L = architecture.Layer
SEED_LAYERS = (L("Conv2D", {"filters": 8, "kernel_size": (3, 3)}, "conv"), L("MaxPooling2D", {"pool_size": (2, 2)}),
               L("Flatten", {}), L("Dense", {"units": 32, "activation": "relu"}, "hidden"), L("Dropout", {"rate": 0.2}),
               L("Dense", {"units": 10, "activation": "softmax"}, "out"))


@pytest.fixture(scope="module")
def data(digits) -> memo.Prepared:
    """600 bundled training images and 200 test images, prepared as the reference does."""
    dataset = load_dataset(None, digits.data)
    prepare = lambda images: (images.reshape(-1, 28, 28, 1).astype("float32") / 255)  # noqa: E731
    return memo.Prepared(prepare(dataset.train_images[:600]), dataset.train_labels[:600].astype(np.int64),
                         prepare(dataset.test_images[:200]), dataset.test_labels[:200].astype(np.int64))


@pytest.fixture(scope="module")
def budget(digits):
    return dataclasses.replace(digits.training, train_samples=600, test_samples=200)


@pytest.fixture(scope="module")
def settings() -> compilation.CompileSettings:
    return compilation.reference("Adam", "sparse_categorical_crossentropy", ("accuracy",))


def _fresh(layers, settings, data, budget, digits) -> training.Trained:
    return training.train(layers, settings, data.x_train, data.y_train, data.x_test, data.y_test, budget, digits.limits)


def test_a_reused_training_equals_a_fresh_one_to_the_bit(tmp_path: Path, data, budget, settings, digits) -> None:
    cache = memo.Cache(tmp_path / "cache")
    first, made = cache.train(SEED_LAYERS, settings, data, budget, digits.limits)
    again, reused = cache.train(SEED_LAYERS, settings, data, budget, digits.limits)
    fresh = _fresh(SEED_LAYERS, settings, data, budget, digits)
    assert (made.reused, reused.reused) == (False, True) and made.key == reused.key
    for trained in (first, again):
        assert np.array_equal(trained.probabilities, fresh.probabilities)
        assert all(np.array_equal(a, b) for a, b in zip(trained.model.get_weights(), fresh.model.get_weights()))
        assert trained.accuracy == fresh.accuracy and trained.history == fresh.history
        assert (trained.train_samples, trained.test_samples, trained.diverged) == (600, 200, "")
    images = data.x_test[:20]  # the rebuilt model predicts as the trained one
    assert np.array_equal(again.model.predict(images, verbose=0), fresh.model.predict(images, verbose=0))


def test_separate_activation_layers_train_bit_for_bit_like_activation_arguments(data, budget, settings, digits) -> None:
    """Why the key folds Activation, ReLU and Softmax layers into the layer before them: training is the same."""
    dense = lambda units, **args: L("Dense", {"units": units, "activation": "linear", **args})  # noqa: E731
    base = SEED_LAYERS[:3]
    variants = [
        SEED_LAYERS,
        (*base, dense(32), L("Activation", {"activation": "relu"}), L("Dropout", {"rate": 0.2}), dense(10),
         L("Softmax", {"axis": -1})),
        (*base, dense(32), L("ReLU", {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}),
         L("Dropout", {"rate": 0.2}), dense(10), L("Activation", {"activation": "softmax"})),
    ]
    trained = [_fresh(layers, settings, data, budget, digits) for layers in variants]
    for other in trained[1:]:
        assert np.array_equal(other.probabilities, trained[0].probabilities)
        assert all(np.array_equal(a, b) for a, b in zip(other.model.get_weights(), trained[0].model.get_weights()))
    assert len({memo.key(layers, settings, data, budget)[0] for layers in variants}) == 1


def test_the_key_ignores_names_and_follows_what_trains(data, budget, settings) -> None:
    key = lambda layers=SEED_LAYERS, s=settings, d=data, b=budget: memo.key(layers, s, d, b)[0]  # noqa: E731
    renamed = tuple(dataclasses.replace(layer, name=f"mine_{i}") for i, layer in enumerate(SEED_LAYERS))
    assert key(renamed) == key()
    same_defaults = dataclasses.replace(settings, optimizer_config={"learning_rate": 0.001})
    assert key(s=same_defaults) == key()  # 'adam', Adam() and Adam(learning_rate=0.001) train alike
    wider = (*SEED_LAYERS[:3], L("Dense", {"units": 33, "activation": "relu"}), *SEED_LAYERS[4:])
    changed = data.x_train.copy()
    changed[0, 0, 0, 0] += 0.5
    others = [key(wider), key(s=dataclasses.replace(settings, optimizer_config={"learning_rate": 0.01})),
              key(s=dataclasses.replace(settings, metrics=("acc",), metric_configs=("acc",))),
              key(b=dataclasses.replace(budget, seed=1)), key(b=dataclasses.replace(budget, epochs=2)),
              key(d=memo.Prepared(changed, data.y_train, data.x_test, data.y_test))]
    assert len({key(), *others}) == 1 + len(others)


def _stored(tmp_path: Path, data, budget, settings, digits) -> tuple[memo.Cache, str]:
    cache = memo.Cache(tmp_path / "cache")
    _, provenance = cache.train(SEED_LAYERS, settings, data, budget, digits.limits)
    return cache, provenance.key


@pytest.mark.parametrize("spoil", ["npz byte", "record value", "npz link", "record writable"])
def test_a_kept_training_that_does_not_verify_is_trained_again(tmp_path: Path, data, budget, settings, digits,
                                                               spoil: str) -> None:
    cache, name = _stored(tmp_path, data, budget, settings, digits)
    record = cache.directory / f"{name}.json"
    npz = cache.directory / f"{json.loads(record.read_text())['arrays']['sha256']}.npz"  # named by its content
    if spoil == "npz byte":
        raw = bytearray(npz.read_bytes())
        raw[len(raw) // 2] ^= 1
        npz.write_bytes(bytes(raw))
    elif spoil == "record value":
        text = json.loads(record.read_text())
        text["accuracy"] = 1.0  # a forged accuracy: the record's checksum no longer matches
        record.write_text(json.dumps(text))
    elif spoil == "npz link":
        elsewhere = tmp_path / "elsewhere.npz"
        npz.rename(elsewhere)
        npz.symlink_to(elsewhere)
    else:
        record.chmod(0o666)
    assert cache.load(name, memo.key(SEED_LAYERS, settings, data, budget)[1], SEED_LAYERS, settings, data, digits.limits) is None
    trained, provenance = cache.train(SEED_LAYERS, settings, data, budget, digits.limits)
    assert not provenance.reused and trained.accuracy == pytest.approx(json.loads(record.read_text())["accuracy"])
    assert cache.load(name, memo.key(SEED_LAYERS, settings, data, budget)[1], SEED_LAYERS, settings, data, digits.limits) is not None  # kept again, verified


def test_a_cache_folder_others_may_write_or_a_link_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(memo.CacheError, match="only writer"):
        memo.Cache(shared)
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real").mkdir()
    with pytest.raises(memo.CacheError, match="not a folder"):
        memo.Cache(tmp_path / "link")
    made = memo.Cache(tmp_path / "new" / "cache")
    assert made.directory.is_dir() and made.directory.stat().st_mode & 0o777 == 0o700


def test_grader_run_refuses_a_cache_others_may_write_before_grading(tmp_path: Path, capsys) -> None:
    from grader import cli

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    status = cli.main(["run", str(SOLUTION), "--out", str(tmp_path / "out"), "--cache", str(shared)])
    assert status == 2 and "the grader must be its only writer" in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_training_stopped_by_the_time_budget_is_not_kept(tmp_path: Path, data, budget, settings, digits,
                                                            monkeypatch) -> None:
    # The test images in one batch: the predictions, which get a time budget of their own, end after that batch.
    monkeypatch.setattr(model_cost, "PREDICT_BATCH", budget.test_samples)
    cache = memo.Cache(tmp_path / "cache")
    _, provenance = cache.train(SEED_LAYERS, settings, data, dataclasses.replace(budget, max_seconds=0), digits.limits)
    assert not provenance.reused and not list(cache.directory.glob("*.json"))


def test_workers_asking_for_the_same_model_at_once_train_it_once(tmp_path: Path, data, budget, settings, digits,
                                                                 monkeypatch) -> None:
    calls = []
    real = training.train

    def slow(*args, **kwargs):
        calls.append(threading.get_ident())
        threading.Event().wait(0.5)  # long enough for the other thread to find no record and ask for the lock
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train", slow)
    caches = [memo.Cache(tmp_path / "cache") for _ in range(2)]  # one each, as two worker processes would have
    outcomes = [None, None]
    threads = [threading.Thread(target=lambda i=i: outcomes.__setitem__(
        i, caches[i].train(SEED_LAYERS, settings, data, budget, digits.limits))) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(p.reused for _, p in outcomes) == [False, True]
    assert np.array_equal(outcomes[0][0].probabilities, outcomes[1][0].probabilities)


# -- a cache shared by machines: written at once, with no lock ------------------------------------------------

_WRITER = """
import sys, time
from pathlib import Path
from grader.trusted import memo
cache = memo.Cache(Path(sys.argv[1]))
record, raw = Path(sys.argv[3]).read_bytes(), Path(sys.argv[4]).read_bytes()
while not Path(sys.argv[1], "go").exists():  # both writers start together
    time.sleep(0.001)
for _ in range(int(sys.argv[5])):
    cache.keep(sys.argv[2], record, raw)
"""


def _entry(material: dict, seed: int) -> tuple[bytes, bytes]:
    """A packed training of 4 MB of weights that `seed` tells apart, as memo.keep writes it (no Keras needed)."""
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(1 << 20).astype(np.float32)]
    trained = SimpleNamespace(model=SimpleNamespace(get_weights=lambda: weights), accuracy=0.5 + seed / 100,
                              probabilities=rng.random((200, 10)), history={"loss": [float(seed)]}, seconds=1.0,
                              train_samples=600, test_samples=200, diverged="")
    return memo.pack(memo._digest(material), material, trained)


@pytest.mark.parametrize("contents", ["different", "the same"])
def test_two_processes_writing_one_key_at_once_never_show_a_reader_a_partial_or_mixed_entry(tmp_path: Path,
                                                                                            contents: str) -> None:
    """Two writer processes (as two machines' shards would) keep the same key 150 times each, with no lock, while
    this process reads it: every read finds a whole, verified entry, one of those written, never a record with the
    other's arrays; no temporary file is left."""
    import subprocess
    import sys

    material = {"format": memo.FORMAT, "race": contents}
    name = memo._digest(material)
    first = _entry(material, 1)
    second = _entry(material, 2) if contents == "different" else first
    assert (first == second) == (contents == "the same")
    cache = memo.Cache(tmp_path / "cache")
    cache.keep(name, *first)  # kept before the race: from now on a reader must always find an entry
    files = []
    for label, (record, raw) in (("a", first), ("b", second)):
        (tmp_path / f"{label}.json").write_bytes(record)
        (tmp_path / f"{label}.npz").write_bytes(raw)
        files.append((tmp_path / f"{label}.json", tmp_path / f"{label}.npz"))
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(cache.directory), name, str(record), str(raw),
                                 "150"]) for record, raw in files]
    (cache.directory / "go").touch()
    reads, seen = 0, set()
    while any(writer.poll() is None for writer in writers):
        kept = cache.read(name)
        assert kept is not None, "a reader found no whole entry while the key was being written again"
        assert kept in (first, second), "a reader got an entry that neither writer wrote"
        seen.add(kept[0])
        reads += 1
    assert [writer.wait() for writer in writers] == [0, 0]
    assert reads >= 10, reads  # the reads overlapped the writes
    assert cache.read(name) in (first, second)
    left = sorted(p.name for p in cache.directory.iterdir())
    assert not [n for n in left if n.endswith(".tmp") or n.endswith(".lock")], left
    arrays = {f"{json.loads(record)['arrays']['sha256']}.npz" for record, _ in (first, second)}
    assert set(left) == {"go", f"{name}.json", *arrays}  # each npz under its own sha256, one record


def test_a_lock_that_is_held_too_long_or_missing_only_delays_a_training(tmp_path: Path, data, budget, settings,
                                                                        digits, monkeypatch) -> None:
    """The lock spares a machine's processes a second training; the cache never needs it. Held by someone else for
    longer than the patience, it is passed by; where flock fails (NFS without a lock service) training goes on."""
    import errno
    import fcntl
    import time

    cache = memo.Cache(tmp_path / "cache")
    holder = os.open(cache.directory / "k.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: flock makes it wait as another process would
    began = time.monotonic()
    with cache._locked("k", patience=0.3):
        waited = time.monotonic() - began
    os.close(holder)
    assert 0.3 <= waited < 5

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(memo.fcntl, "flock", no_locks)
    trained, made = cache.train(SEED_LAYERS, settings, data, budget, digits.limits)
    again, reused = cache.train(SEED_LAYERS, settings, data, budget, digits.limits)
    assert (made.reused, reused.reused) == (False, True) and made.key == reused.key
    assert np.array_equal(trained.probabilities, again.probabilities)


def test_grading_protects_the_cache_folder_from_the_sandbox(tmp_path: Path, fast_digits, monkeypatch) -> None:
    from grader.grading import grade as grading

    seen = {}

    class Stop(Exception):
        pass

    def runner(*args, protect=(), **kwargs):
        seen["protect"] = protect
        raise Stop

    monkeypatch.setattr(grading, "Runner", runner)
    cache = memo.Cache(tmp_path / "cache")
    from grader.grading.grade import Setup

    with pytest.raises(Stop):
        grading.grade(SOLUTION, Setup(fast_digits, dataset=None, zygote=None, trainings=cache))
    assert cache.directory in seen["protect"]


@pytest.mark.slow
def test_a_submission_graded_fresh_and_memoized_gets_identical_results(tmp_path: Path, fast_digits) -> None:
    """The issue's test: scores and accuracy to four decimals, predictions exactly, the report says where it came from."""
    from grader.views import report

    fresh = grade_with(SUBMISSIONS / "solution_functional.py", fast_digits)
    cache = memo.Cache(tmp_path / "cache")
    first = grade_with(SUBMISSIONS / "solution_functional.py", fast_digits, trainings=cache.directory)
    memoized = grade_with(SUBMISSIONS / "solution_functional.py", fast_digits, trainings=cache.directory)
    assert [memo.recorded(r).get("reused") for r in (fresh, first, memoized)] == [None, False, True]
    for results in (first, memoized):
        assert [(t["name"], t["score"], t["status"]) for t in results["tests"]] == \
            [(t["name"], t["score"], t["status"]) for t in fresh["tests"]]
        assert round(results["extra_data"]["accuracy"], 4) == round(fresh["extra_data"]["accuracy"], 4)
        assert results["extra_data"]["predictions"] == fresh["extra_data"]["predictions"]
        history = lambda r: next(t["extra_data"]["history"] for t in r["tests"] if t["name"] == "accuracy")  # noqa: E731
        assert history(results) == history(fresh)
    assert "Reused from the grader" in report.render(memoized) and "Reused from the grader" not in report.render(first)
    shared = json.loads(json.dumps(memoized))
    memo.recorded(shared)["shared"] = 3
    assert "Trained once for 3 submissions with the same model" in report.render(shared)


STYLED = '''"""The seed's model in another style: functional, tf.nn.relu, a separate Softmax layer, other names."""
import numpy as np
import tensorflow as tf
import keras


def reshape(images):
    return np.expand_dims(images, -1)


def normalise(images):
    return (images / 255.0).astype(np.float32)


def build_model(input_shape=(28, 28, 1), num_classes=10):
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Conv2D(28, (3, 3), name="edges")(inputs)
    x = keras.layers.MaxPool2D((2, 2))(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation=tf.nn.relu, name="hidden")(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, keras.layers.Softmax()(x), name="mine")


def compile_model(model):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    return model


def predict(model, images):
    return model.predict(images, verbose=0).argmax(axis=1)
'''


@pytest.mark.slow
def test_a_batch_trains_each_distinct_model_once_and_regrades_only_what_force_names(tmp_path: Path,
                                                                                     fast_course: Path) -> None:
    import subprocess
    import sys

    sources = {"ada": SOLUTION.read_text(), "cy": (SUBMISSIONS / "normalise_twice.py").read_text(), "dee": STYLED,
               "eve": (SUBMISSIONS / "model_dense64.py").read_text()}
    for name, text in sources.items():
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / "digits.py").write_text(text)
    out, cache = tmp_path / "out", tmp_path / "shared-cache"

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "grader", "run", *sorted(map(str, (tmp_path / "class").iterdir())),
                               "--assignment", str(fast_course), "--out", str(out), "--jobs", "2", "--cache",
                               str(cache), *extra], capture_output=True, text=True, timeout=900,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})

    done = run()
    assert done.returncode == 1, done.stderr[-3000:]
    results = {name: json.loads((out / name / "results.json").read_text()) for name in sources}
    records = {name: memo.recorded(r) for name, r in results.items()}
    assert len({records[n]["key"] for n in ("ada", "cy", "dee")}) == 1 != len({records["ada"]["key"], records["eve"]["key"]})
    assert sorted(r["reused"] for r in records.values()) == [False, False, True, True]  # two trainings for four
    assert [records[n].get("shared") for n in sources] == [3, 3, 3, None]
    for name in ("ada", "cy", "dee"):
        assert "Trained once for 3 submissions with the same model" in (out / name / "report.html").read_text()
    assert 'id="training-cache" hidden>' in (out / "eve" / "report.html").read_text()
    assert "2 training(s) run, 2 reused from the training cache" in done.stderr
    assert len(list(cache.glob("*.json"))) == 2 and not (out / memo.FOLDER).exists()
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]  # not a terminal: a line each
    assert len(lines) == 4 and any(line.startswith("[") and "cy: 9/10 failed" in line for line in lines), lines

    before = {name: (out / name / "results.json").stat().st_mtime_ns for name in sources}
    again = run("--regrade", "cy")
    assert again.returncode == 1, again.stderr[-3000:]
    assert "3 of 4 already graded" in again.stderr and "[4/4] cy: 9/10 failed" in again.stderr
    after = {name: (out / name / "results.json").stat().st_mtime_ns for name in sources}
    assert [name for name in sources if after[name] != before[name]] == ["cy"]
    assert memo.recorded(json.loads((out / "cy" / "results.json").read_text()))["reused"] is True
    unknown = run("--regrade", "zed")
    assert unknown.returncode == 2 and "--regrade zed: no submission of this run is called that" in unknown.stderr


# -- one description for the key and the training -----------------------------------------------------------------

def _raw(layers, settings, data, budget) -> list[np.ndarray]:
    """`layers` trained exactly as written (not through the canonical description): seeded, built, fitted."""
    import keras

    training.seed_everything(budget.seed)
    model = keras.Sequential([keras.Input(shape=data.x_train.shape[1:]),
                              *(architecture._construct(layer) for layer in layers)])
    model.compile(**settings.build())
    model.fit(data.x_train, data.y_train, epochs=1, batch_size=budget.batch_size, shuffle=True, verbose=0)
    return model.get_weights()


DEAD = (*SEED_LAYERS[:3], L("Dense", {"units": 32, "activation": "linear"}), L("ReLU", {"max_value": 0}),
        *SEED_LAYERS[4:])  # every output of the hidden layer is 0: it cannot learn
STANDALONE = [L("Activation", {"activation": name}) for name in architecture.ACTIVATIONS] + \
    [L("ReLU", {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}), L("ReLU", {}), L("Softmax", {"axis": -1})]


@pytest.mark.parametrize("into", ["Dense", "Conv2D"])
def test_every_fold_trains_bit_for_bit_like_its_folded_form(data, budget, settings, into: str) -> None:
    """Each layer of STANDALONE after a linear `into` layer, and the fold of both, train to the same weights to the
    bit: a chain of all of them, small enough to train in a second (exponential's overflow is the same NaN)."""
    small = memo.Prepared(data.x_train[:160, ::4, ::4], data.y_train[:160], data.x_test[:10, ::4, ::4],
                          data.y_test[:10])
    make = (lambda: L("Dense", {"units": 4, "activation": "linear"})) if into == "Dense" else \
        (lambda: L("Conv2D", {"filters": 2, "kernel_size": 1, "activation": "linear"}))
    chain = [layer for standalone in STANDALONE for layer in (make(), standalone)]
    written = (*chain, L("Flatten", {}), L("Dense", {"units": 10, "activation": "softmax"}))
    folded = architecture.fold_activations(written)
    assert len(folded) == len(written) - len(STANDALONE)  # every one folded
    for a, b in zip(_raw(written, settings, small, budget), _raw(folded, settings, small, budget)):
        assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("layer", [
    L("ReLU", {"max_value": 0.0}), L("ReLU", {"max_value": 6.0}), L("ReLU", {"negative_slope": 0.1}),
    L("ReLU", {"threshold": 0.5}), L("Softmax", {"axis": 1}), L("Activation", {"activation": "relu", "trainable": False}),
])
def test_an_activation_layer_that_is_not_a_plain_activation_is_not_folded(data, budget, settings, layer) -> None:
    plain = (*SEED_LAYERS[:3], L("Dense", {"units": 32, "activation": "linear"}), L("ReLU", {}), *SEED_LAYERS[4:])
    other = (*SEED_LAYERS[:3], L("Dense", {"units": 32, "activation": "linear"}), layer, *SEED_LAYERS[4:])
    assert len(architecture.canonical(other)) == len(other)
    assert memo.key(other, settings, data, budget)[0] != memo.key(plain, settings, data, budget)[0]
    assert memo.key(plain, settings, data, budget)[0] == memo.key(SEED_LAYERS, settings, data, budget)[0]


def test_the_dead_relu_model_trains_as_written_and_under_its_own_key(tmp_path: Path, data, budget, settings,
                                                                     digits) -> None:
    """Dense(32) + ReLU(max_value=0) outputs 0 whatever its input: trained as written it learns nothing, and it is
    kept under a key of its own, never under the plain relu model's."""
    dead = DEAD
    cache = memo.Cache(tmp_path / "cache")
    trained, made = cache.train(dead, settings, data, budget, digits.limits)
    honest, kept = cache.train(SEED_LAYERS, settings, data, budget, digits.limits)
    assert made.key != kept.key and not kept.reused
    assert trained.accuracy < 0.2 < 0.4 < honest.accuracy
    assert [layer.class_name for layer in trained.layers][3:5] == ["Dense", "ReLU"]


def test_frozen_layers_change_the_key_and_the_training(data, budget, settings, digits) -> None:
    frozen = tuple(dataclasses.replace(layer, args={**layer.args, "trainable": False}) for layer in SEED_LAYERS)
    assert memo.key(frozen, settings, data, budget)[0] != memo.key(SEED_LAYERS, settings, data, budget)[0]
    trained = _fresh(frozen, settings, data, budget, digits)
    training.seed_everything(budget.seed)
    initial = architecture.build(architecture.canonical(frozen, construct=True), data.x_train.shape[1:], digits.limits)
    assert all(np.array_equal(a, b) for a, b in zip(trained.model.get_weights(), initial.get_weights()))
    assert trained.accuracy < 0.2
    explicit = tuple(dataclasses.replace(layer, args={**layer.args, "trainable": True}) for layer in SEED_LAYERS)
    assert memo.key(explicit, settings, data, budget)[0] == memo.key(SEED_LAYERS, settings, data, budget)[0]


def test_a_record_is_reused_only_for_the_description_it_was_trained_from(tmp_path: Path, data, budget, settings,
                                                                         digits) -> None:
    """A record filed under a key (by a grader whose key function folded what it should not have) but trained from
    another description is not reused, and the training is made again."""
    cache, name = _stored(tmp_path, data, budget, settings, digits)
    dead = DEAD
    _, material = memo.key(dead, settings, data, budget)
    trained = _fresh(dead, settings, data, budget, digits)
    record, raw = memo.pack(name, material, trained)  # the dead model's training under the honest model's key
    cache.keep(name, record, raw)
    honest_material = memo.key(SEED_LAYERS, settings, data, budget)[1]
    assert cache.load(name, honest_material, SEED_LAYERS, settings, data, digits.limits) is None
    again, provenance = cache.train(SEED_LAYERS, settings, data, budget, digits.limits)
    assert not provenance.reused and again.accuracy > 0.4


def test_a_training_is_not_kept_under_a_key_it_was_not_trained_from(tmp_path: Path, data, budget, settings, digits,
                                                                    monkeypatch) -> None:
    """Should a training ever build another model than the one its key describes (here it is made to train the dead
    ReLU model when asked for the plain one), it is kept under no key: later submissions train their own."""
    real = training.train
    monkeypatch.setattr(training, "train", lambda layers, *args: real(DEAD, *args))
    cache = memo.Cache(tmp_path / "cache")
    trained, _ = cache.train(SEED_LAYERS, settings, data, budget, digits.limits)
    assert trained.accuracy < 0.2 and not list(cache.directory.glob("*.json"))

"""A class of 200 graded as one batch, against the sum of single runs: what memoized training buys.

    python benchmarks/class.py [--budget default|full] [--data PATH] [--jobs N] [--size 200] [--sample 6]

Builds a class in a temporary folder from the sample submissions: three quarters correct, in
varied code but the seed's architecture (layer names, Sequential, .add() or functional, 'relu',
tf.nn.relu, an Activation or ReLU layer, softmax as an argument, tf.nn.softmax or a Softmax layer,
keras or tf.keras, three ways to compile, reshape, normalise and predict), and a quarter spread
over the other architectures and mistakes of tests/submissions. Grades it as one batch, as `grader
run` does (the library's batch function, with each submission's stages timed), then grades a
stratified sample alone with `grader run --no-cache`, one process each, and prints:

- the batch's wall time, the sum of single runs estimated from the sample, and their ratio;
- how many trainings ran (the others reused a memoized one);
- the peak resident memory of each worker process (and of its zygote);
- the mean time of each stage per submission, for those that trained and those that reused;
- whether each sampled submission's result alone equals its result in the batch (scores, accuracy
  to four decimals, predictions).

`--budget full` needs 60,000 training images: Debian's Fashion-MNIST IDX files (same format and
shapes as MNIST's) stand in for them with `--data /usr/share/datasets/fashion-mnist`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADER_COURSE", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the example course
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Mistakes and other architectures, from the sample submissions: (file, copies). The model or compile
# settings of the last three differ from the seed's, so each is a training of its own.
MISTAKES = [
    ("reshape_flat", 5), ("reshape_channels_first", 4), ("normalise_no_divide", 5), ("normalise_twice", 5),
    ("predict_probabilities", 4), ("predict_axis0", 4), ("syntax_error", 3), ("model_lambda", 3),
    ("missing_predict", 3), ("compile_not_compiled", 3), ("exit_at_import", 2),
    ("model_dense64", 3), ("model_no_dropout", 3), ("compile_sgd", 3),
]


# -- the class ----------------------------------------------------------------------------------------

IMPORTS = {
    "tf": "import numpy as np\nimport tensorflow as tf\n\nK = tf.keras\n",
    "keras": "import numpy as np\nimport keras\nimport tensorflow as tf\n\nK = keras\n",
    "from": "import numpy as np\nimport tensorflow as tf\nfrom tensorflow import keras\n\nK = keras\n",
}
RESHAPE = ["return images.reshape(-1, 28, 28, 1)", "return np.expand_dims(images, -1)",
           "return images[..., np.newaxis]", "return np.reshape(images, (images.shape[0], 28, 28, 1))"]
NORMALISE = ["return images.astype('float32') / 255", "return (images / 255.0).astype(np.float32)",
             "return images.astype(np.float32) / np.float32(255.0)"]
PREDICT = ["return np.argmax(model.predict(images, verbose=0), axis=1)",
           "return tf.argmax(model(images, training=False), axis=-1).numpy()",
           "return model.predict(images, verbose=0).argmax(axis=1)"]
COMPILE = ["model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])",
           "model.compile(optimizer=K.optimizers.Adam(), loss=K.losses.SparseCategoricalCrossentropy(), "
           "metrics=['accuracy'])",
           "model.compile(optimizer=K.optimizers.Adam(learning_rate=0.001), "
           "loss=K.losses.sparse_categorical_crossentropy, metrics=['accuracy'])"]
RELU = {"string": ("'relu'", None), "tf": ("tf.nn.relu", None), "layer": (None, "K.layers.Activation('relu')"),
        "relu": (None, "K.layers.ReLU()")}
SOFTMAX = {"string": ("'softmax'", None), "tf": ("tf.nn.softmax", None), "layer": (None, "K.layers.Softmax()"),
           "activation": (None, "K.layers.Activation('softmax')")}


def correct(rng: random.Random, number: int) -> str:
    """A correct submission with the seed's architecture, in one of many styles."""
    imports = rng.choice(list(IMPORTS))
    relu, relu_layer = RELU[rng.choice(list(RELU))]
    soft, soft_layer = SOFTMAX[rng.choice(list(SOFTMAX))]
    pool = rng.choice(["MaxPooling2D", "MaxPool2D"])
    tag = f"s{number}"
    layers = [f"K.layers.Conv2D(28, kernel_size=(3, 3), name='{tag}_conv')",
              f"K.layers.{pool}(pool_size=(2, 2))", "K.layers.Flatten()",
              f"K.layers.Dense(128{', activation=' + relu if relu else ''}, name='{tag}_hidden')"]
    layers += [relu_layer] if relu_layer else []
    layers += ["K.layers.Dropout(0.2)", f"K.layers.Dense(num_classes{', activation=' + soft if soft else ''})"]
    layers += [soft_layer] if soft_layer else []
    style = rng.choice(["list", "add", "functional"])
    if style == "list":
        body = ("    model = K.Sequential([\n        K.Input(shape=input_shape),\n"
                + "".join(f"        {layer},\n" for layer in layers) + f"    ], name='{tag}')\n    return model\n")
    elif style == "add":
        body = "    model = K.Sequential()\n    model.add(K.Input(shape=input_shape))\n" + "".join(
            f"    model.add({layer})\n" for layer in layers) + "    return model\n"
    else:
        body = "    inputs = K.Input(shape=input_shape)\n    x = inputs\n" + "".join(
            f"    x = {layer}(x)\n" for layer in layers) + f"    return K.Model(inputs, x, name='{tag}')\n"
    return (f'"""Digits, by student {number}."""\n\n{IMPORTS[imports]}\n\ndef reshape(images):\n'
            f"    {rng.choice(RESHAPE)}\n\n\ndef normalise(images):\n    {rng.choice(NORMALISE)}\n\n\n"
            f"def build_model(input_shape=(28, 28, 1), num_classes=10):\n{body}\n\n"
            f"def compile_model(model):\n    {rng.choice(COMPILE)}\n    return model\n\n\n"
            f"def predict(model, images):\n    {rng.choice(PREDICT)}\n")


def build_class(folder: Path, size: int, seed: int = 0) -> dict[str, str]:
    """Write `size` submissions into folder/<name>/digits.py; return each name's kind ('correct' or the mistake)."""
    rng = random.Random(seed)
    wrong_total = sum(copies for _, copies in MISTAKES)
    scale = size / (150 + wrong_total) if size != 150 + wrong_total else 1.0
    kinds = [kind for kind, copies in MISTAKES for _ in range(max(1, round(copies * scale)))]
    kinds += ["correct"] * (size - len(kinds))
    rng.shuffle(kinds)  # a class in name order is not sorted by mistake
    made = {}
    for number, kind in enumerate(kinds):
        name = f"student{number:03d}"
        (folder / name).mkdir(parents=True)
        if kind == "correct":
            text = correct(rng, number)
        else:
            text = f"# student {number}\n" + (ROOT / "tests" / "submissions" / f"{kind}.py").read_text()
        (folder / name / "digits.py").write_text(text)
        made[name] = kind
    return made


# -- measuring ----------------------------------------------------------------------------------------

class Peaks:
    """Samples the peak resident memory (VmHWM) of this process's children and grandchildren, by kind."""

    def __init__(self) -> None:
        self.peaks: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for pid in _descendants(os.getpid()):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                peak = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
                if "grader.sandbox.forkserver" not in command:
                    continue
                # The fork server's parent is the grader; it forks the session's worker, which keeps its session,
                # and the sandboxes, each in a session of its own (and what a sandbox starts runs the module too).
                parent = _parent(pid)
                if not _is_fork_server_child(pid):
                    kind = "zygote"
                elif not _is_fork_server_child(parent) and _session(pid) == _session(parent):
                    kind = "worker"
                else:
                    kind = "sandbox"
                if peak > self.peaks.get(pid, ("", 0))[1]:
                    self.peaks[pid] = (kind, peak)

    def by_kind(self) -> dict[str, list[int]]:
        kinds = collections.defaultdict(list)
        for kind, peak in self.peaks.values():
            kinds[kind].append(peak // 1024)
        return dict(kinds)


def _session(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, ValueError, IndexError):
        return -1


def _is_fork_server_child(pid: int) -> bool:
    """Whether `pid`'s parent runs the fork server's module too (then `pid` is a worker or a sandbox)."""
    try:
        parent = Path(f"/proc/{_parent(pid)}/cmdline").read_bytes()
    except OSError:
        return False
    return b"grader.sandbox.forkserver" in parent


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            queue += children
    return found


def grade_batch(paths: list[Path], out: Path, *, budget: str | None, data: str | None, jobs: int | None) -> dict:
    """Grade the class as `grader run` does (its library function), each submission's stages timed."""
    from grader import api
    from grader.assignment import budgets, course
    from grader.grading import batch

    task = budgets.select(course.load("digits"), budget)
    started = time.monotonic()
    graded = api._grade_batch(paths, task, out=out, data=data, keep_gpu=False, jobs=jobs, force=False, shard=None,
                              progress=False, budget=budget, trainings=out / ".training-cache", timings=True)
    seconds = time.monotonic() - started
    return {"seconds": seconds, "results": {path: results for path, (results, _) in graded},
            "workers": jobs or batch.default_workers()}


def grade_alone(path: Path, out: Path, *, budget: str | None, data: str | None) -> tuple[float, dict]:
    """One `grader run` of one submission, in its own process, training afresh."""
    command = [sys.executable, "-m", "grader", "run", str(path), "--assignment", "digits", "--out", str(out),
               "--no-cache"]
    command += ["--budget", budget] if budget else []
    command += ["--data", data] if data else []
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds, json.loads((out / "results.json").read_text())


def same(a: dict, b: dict) -> list[str]:
    """How two results of one submission differ: scores per check, accuracy to 4 decimals, predictions."""
    differences = []
    scores = lambda r: [(t["name"], t["score"]) for t in r["tests"]]  # noqa: E731
    if scores(a) != scores(b):
        differences.append(f"scores {scores(a)} != {scores(b)}")
    accuracy = [None if r["extra_data"].get("accuracy") is None else round(r["extra_data"]["accuracy"], 4) for r in (a, b)]
    if accuracy[0] != accuracy[1]:
        differences.append(f"accuracy {accuracy[0]} != {accuracy[1]}")
    if a["extra_data"].get("predictions") != b["extra_data"].get("predictions"):
        differences.append("predictions differ")
    return differences


def stage_means(results: list[dict]) -> list[tuple[str, float, int]]:
    """Mean seconds per submission of each stage (top-level and nested), in the order stages first appear."""
    totals, counts, order = collections.defaultdict(float), collections.Counter(), {}
    for result in results:
        for stage in (result["extra_data"].get("timings") or {}).get("stages", []):
            name = "  " * stage["depth"] + stage["stage"]
            order.setdefault(name, (stage["start"], len(order)))
            totals[name] += stage["seconds"]
            counts[name] += 1
    names = sorted(totals, key=lambda n: order[n][1])
    return [(name, totals[name] / max(1, len(results)), counts[name]) for name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", help="the spec's budget (default: its [training]); full needs --data")
    parser.add_argument("--data", help="a Keras mnist.npz or a folder of IDX files (default: the grader's)")
    parser.add_argument("--jobs", type=int, help="batch workers (default: the grader's default)")
    parser.add_argument("--size", type=int, default=200, help="submissions in the class (default 200)")
    parser.add_argument("--sample", type=int, default=6, help="submissions graded alone to estimate the sum (default 6)")
    parser.add_argument("--keep", type=Path, help="build and grade the class in this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grader-class-") as tmp:
        root = args.keep or Path(tmp)
        kinds = build_class(root / "class", args.size)
        paths = sorted((root / "class").iterdir())
        print(f"class of {len(paths)}: {sum(k == 'correct' for k in kinds.values())} correct in varied code, "
              f"{sum(k != 'correct' for k in kinds.values())} over {len(set(kinds.values()) - {'correct'})} other "
              f"architectures and mistakes; budget {args.budget or 'default'}", flush=True)
        with Peaks() as peaks:
            batch = grade_batch(paths, root / "batch", budget=args.budget, data=args.data, jobs=args.jobs)
        results = {path.name: r for path, r in batch["results"].items()}
        from grader.trusted import memo

        trained = [n for n, r in results.items() if memo.recorded(r) and not memo.recorded(r).get("reused")]
        reused = [n for n, r in results.items() if memo.recorded(r).get("reused")]
        print(f"batch of {len(paths)} with {batch['workers']} workers: {batch['seconds']:.1f} s wall", flush=True)
        print(f"trainings run: {len(trained)} (for {len(trained) + len(reused)} submissions that had a model to "
              f"train; {len(reused)} reused a memoized training)")
        kinds_of = peaks.by_kind()
        for kind in ("worker", "zygote"):
            print(f"peak resident memory per {kind}: {', '.join(f'{p} MB' for p in sorted(kinds_of.get(kind, [])))}")
        sandboxes = kinds_of.get("sandbox", [])
        if sandboxes:
            print(f"peak resident memory of a sandbox: {max(sandboxes)} MB (median {sorted(sandboxes)[len(sandboxes) // 2]} MB"
                  f" over {len(sandboxes)} sampled)")
        print("\nmean seconds per submission by stage (trained / reused / all):")
        split = {"trained": [results[n] for n in trained], "reused": [results[n] for n in reused],
                 "all": list(results.values())}
        means = {label: dict((n, s) for n, s, _ in stage_means(rs)) for label, rs in split.items()}
        for name, _, _ in stage_means(list(results.values())):
            cells = " ".join(f"{means[label].get(name, 0.0):8.3f}" for label in split)
            print(f"  {cells}  {name}")
        wall = [r["execution_time"] for r in results.values()]
        print(f"  execution_time (grade() alone) mean {sum(wall) / len(wall):.2f} s")

        # a stratified sample graded alone: correct ones, mistakes, and the other architectures
        by_kind = collections.defaultdict(list)
        for name, kind in kinds.items():
            by_kind["correct" if kind == "correct" else "mistake"].append(name)
        share = {group: len(names) for group, names in by_kind.items()}
        picks = {"correct": max(1, args.sample // 2), "mistake": max(1, args.sample - args.sample // 2)}
        rng = random.Random(1)
        singles: dict[str, list[float]] = collections.defaultdict(list)
        problems = []
        for group, count in picks.items():
            for name in rng.sample(by_kind[group], min(count, len(by_kind[group]))):
                seconds, alone = grade_alone(root / "class" / name, root / "single" / name, budget=args.budget,
                                             data=args.data)
                singles[group].append(seconds)
                problems += [f"{name} ({kinds[name]}): {d}" for d in same(alone, results[name])]
                print(f"alone: {name} ({kinds[name]}) {seconds:.1f} s", flush=True)
        estimate = sum(share[g] * sum(s) / len(s) for g, s in singles.items())
        print(f"\nsum of {len(paths)} single runs, estimated from {sum(len(s) for s in singles.values())}: "
              f"{estimate:.0f} s ({estimate / 60:.1f} min)")
        print(f"batch: {batch['seconds']:.0f} s ({batch['seconds'] / 60:.1f} min); ratio batch / singles: "
              f"{batch['seconds'] / estimate:.3f}x")
        print("results alone == results in the batch: " + ("yes, for every sampled submission" if not problems
                                                             else "NO:\n  " + "\n  ".join(problems)))


if __name__ == "__main__":
    main()

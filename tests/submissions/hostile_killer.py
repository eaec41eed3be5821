"""Test submission: a correct solution that tries to kill the grader, its batch worker and its zygote.

At import, and again inside predict, it sends SIGKILL to every process it finds in /proc, to its
parent and to every process it may signal (kill -1). Each attempt is printed on a `HOSTILE {json}`
line that the test reads back from results.json's output. If every kill fails, it scores like the
solution. Run as root outside a pid namespace (every isolation layer gone) it only reports what it
sees, so that a broken sandbox cannot take the test machine down with it.
"""

import json
import os
import signal

import numpy as np
from tensorflow import keras


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
    _kill_everything("predict")
    return np.argmax(model.predict(images, verbose=0), axis=1)


def _attempt(attack, action):
    try:
        outcome = "succeeded: " + repr(action())[:300]
    except BaseException as exc:  # noqa: BLE001 - any failure is the attack failing
        outcome = f"refused: {type(exc).__name__}: {exc}"[:300]
    print("HOSTILE " + json.dumps({"attack": attack, "outcome": outcome}), flush=True)


def _kill_everything(when):
    me = os.getpid()
    seen = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me)
    armed = os.getuid() != 0 or len(seen) < 20
    _attempt(f"{when}: look", lambda: {"seen": seen, "parent": os.getppid(), "uid": os.getuid(), "armed": armed})
    if not armed:
        return
    for pid in sorted({*seen, os.getppid()}):
        _attempt(f"{when}: kill {pid}", lambda pid=pid: os.kill(pid, signal.SIGKILL))
    _attempt(f"{when}: kill -1", lambda: os.kill(-1, signal.SIGKILL))


_kill_everything("import")

"""The bare floor of one grading: import Keras, load the digits, build, compile, train and evaluate. Nothing else.

    python benchmarks/floor.py DATA.npz [--plain]

DATA.npz holds the arrays already cut to the grading budget (x_train, y_train, x_test, y_test as
uint8) and the budget itself (epochs, batch_size, seed); `benchmarks/single.py` writes it before
it starts timing, so the floor pays no parsing. It imports nothing of the grader. It trains as the
grader does: the reference model, the same seed, op determinism, one intra-op thread and the cores
for inter-op work (grader/trusted/threads.py), the same batch size and epochs, then predicts the test images
and prints the accuracy, which equals the grade's.

By default it is the strictest floor: it hides from Keras the optional packages it would import
for features no grading uses (scikit-learn, pandas, matplotlib, IPython, SciPy: what a virtual
environment holding only TensorFlow and Keras would give) and leaves without the interpreter's
tear-down, as the `grader` command does. `--plain` is the natural script instead: everything
Keras finds installed is imported, and the interpreter shuts down as usual.
"""

import os
import sys
import time

started = time.monotonic()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PLAIN = "--plain" in sys.argv[1:]
if not PLAIN:
    for name in ("sklearn", "pandas", "matplotlib", "IPython", "scipy"):
        sys.modules.setdefault(name, None)  # an import of it raises ImportError, which Keras and TensorFlow expect

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

imported = time.monotonic()
path = next(a for a in sys.argv[1:] if not a.startswith("--"))
with np.load(path, allow_pickle=False) as data:
    arrays = {key: data[key] for key in data.files}
x_train = arrays["x_train"].reshape(-1, 28, 28, 1).astype("float32") / 255
x_test = arrays["x_test"].reshape(-1, 28, 28, 1).astype("float32") / 255
y_train, y_test = arrays["y_train"].astype(np.int64), arrays["y_test"].astype(np.int64)
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(len(os.sched_getaffinity(0)))
keras.utils.set_random_seed(int(arrays["seed"]))
tf.config.experimental.enable_op_determinism()
model = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Conv2D(28, kernel_size=(3, 3)),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=int(arrays["epochs"]), batch_size=int(arrays["batch_size"]), shuffle=True, verbose=0)
accuracy = float(np.mean(np.argmax(model.predict(x_test, batch_size=500, verbose=0), axis=1) == y_test))
ended = time.monotonic()
print(f"floor: accuracy {accuracy:.4f}; imports {imported - started:.2f} s, data and training {ended - imported:.2f} s",
      flush=True)
if not PLAIN:
    os._exit(0)

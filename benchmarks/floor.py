"""The bare floor for one grading: import TensorFlow, load the same data, build, compile, train, evaluate.

No sandbox, no checks, no report: what any grader of this exercise must at least spend.
    python benchmarks/floor.py
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
started = time.monotonic()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from grader import spec  # noqa: E402
from grader.data import load_dataset  # noqa: E402

task = spec.load("digits")
budget = task.training
data = load_dataset(None, task.data)
x_train = data.train_images[: budget.train_samples].reshape(-1, 28, 28, 1).astype("float32") / 255
y_train = data.train_labels[: budget.train_samples].astype(int)
x_test = data.test_images[: budget.test_samples].reshape(-1, 28, 28, 1).astype("float32") / 255
y_test = data.test_labels[: budget.test_samples].astype(int)
keras.utils.set_random_seed(budget.seed)
model = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Conv2D(28, kernel_size=(3, 3)),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation=tf.nn.relu),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10, activation=tf.nn.softmax),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=budget.epochs, batch_size=budget.batch_size, verbose=0)
accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
print(f"floor: accuracy {accuracy:.4f} in {time.monotonic() - started:.1f} s")

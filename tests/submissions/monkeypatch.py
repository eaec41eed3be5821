"""Test submission, hostile: patches numpy, Keras, json and pickle so that every comparison looks right.

normalise is wrong (no division by 255) and predict returns zeros; none of the patches may hide that.
"""

import json
import pickle

import keras
import numpy as np

np.mean = lambda *a, **k: 1.0
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.argmax = lambda a, axis=None, **k: np.zeros(len(a), dtype=int)
keras.Model.evaluate = lambda self, *a, **k: [0.0, 1.0]
keras.Model.fit = lambda self, *a, **k: None
json.dumps = lambda *a, **k: '{"score": 100}'
pickle.loads = lambda *a, **k: {"score": 100}


def reshape(images):
    return images.reshape(-1, 28, 28, 1)


def normalise(images):
    return images.astype("float32")


def build_model(input_shape=(28, 28, 1), num_classes=10):
    return keras.Sequential([
        keras.layers.Input(shape=input_shape),
        keras.layers.Conv2D(28, kernel_size=(3, 3)),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def compile_model(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def predict(model, images):
    return np.zeros(len(images), dtype=int)

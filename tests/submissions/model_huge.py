"""Test submission model_huge: the reference solution with one change, described in build_model's docstring."""

import numpy as np
import tensorflow as tf
from tensorflow import keras


def reshape(images):
    """Add a channel axis: (N, 28, 28) -> (N, 28, 28, 1)."""
    return images.reshape(images.shape[0], 28, 28, 1)


def normalise(images):
    """Scale pixels from 0..255 to float32 values in [0, 1]."""
    return images.astype("float32") / 255


def build_model(input_shape=(28, 28, 1), num_classes=10):
    """Hostile: a model larger than the grader agrees to train."""
    return keras.Sequential([
        keras.layers.Input(shape=input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(4000, activation="relu"),  # 3.1 million weights: over the limit of 3 million
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def compile_model(model):
    """Compile with Adam, sparse categorical cross-entropy and accuracy."""
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def predict(model, images):
    """The most likely digit for each image."""
    return np.argmax(model.predict(images, verbose=0), axis=1)

"""Test submission exhaust_pooling: the reference solution with one change, described in build_model's docstring."""

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
    """Hostile: forty stride-1 28x28 max-poolings. No weights at all, but 600 million operations per image."""
    model = keras.Sequential([keras.layers.Input(shape=input_shape), keras.layers.Conv2D(28, kernel_size=(3, 3))])
    for _ in range(40):
        model.add(keras.layers.MaxPooling2D(pool_size=(28, 28), strides=1, padding="same"))
    model.add(keras.layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(128, activation="relu"))
    model.add(keras.layers.Dropout(0.2))
    model.add(keras.layers.Dense(num_classes, activation="softmax"))
    return model


def compile_model(model):
    """Compile with Adam, sparse categorical cross-entropy and accuracy."""
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def predict(model, images):
    """The most likely digit for each image."""
    return np.argmax(model.predict(images, verbose=0), axis=1)

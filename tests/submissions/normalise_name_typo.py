"""Test submission normalise_name_typo: the reference solution with one change, described in normalise's docstring."""

import numpy as np
import tensorflow as tf
from tensorflow import keras


def reshape(images):
    """Add a channel axis: (N, 28, 28) -> (N, 28, 28, 1)."""
    return images.reshape(images.shape[0], 28, 28, 1)


def normalise(images):
    """Mistake: a misspelt name, which Python suggests the right spelling for."""
    return imagse.astype("float32") / 255


def build_model(input_shape=(28, 28, 1), num_classes=10):
    """The CNN: Conv2D -> MaxPooling2D -> Flatten -> Dense(128, relu) -> Dropout(0.2) -> Dense(softmax)."""
    model = keras.Sequential()
    model.add(keras.layers.Input(shape=input_shape))
    model.add(keras.layers.Conv2D(28, kernel_size=(3, 3)))
    model.add(keras.layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(128, activation=tf.nn.relu))
    model.add(keras.layers.Dropout(0.2))
    model.add(keras.layers.Dense(num_classes, activation=tf.nn.softmax))
    return model


def compile_model(model):
    """Compile with Adam, sparse categorical cross-entropy and accuracy."""
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def predict(model, images):
    """The most likely digit for each image."""
    return np.argmax(model.predict(images, verbose=0), axis=1)

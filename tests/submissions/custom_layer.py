"""Test submission, hostile: a custom layer class whose code would run wherever the model is rebuilt."""

import keras
import numpy as np


class Doubler(keras.layers.Layer):
    def call(self, x):
        open("pwned-by-custom-layer", "w").write("ran")  # its own folder: the only place the sandbox may write
        return x * 2


def reshape(images):
    return images.reshape(-1, 28, 28, 1)


def normalise(images):
    return images.astype("float32") / 255


def build_model(input_shape=(28, 28, 1), num_classes=10):
    return keras.Sequential([
        keras.layers.Input(shape=input_shape),
        Doubler(),
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
    return np.argmax(model.predict(images, verbose=0), axis=1)

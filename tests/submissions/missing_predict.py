"""Test submission: correct, but predict is missing (renamed)."""

import numpy as np
import tensorflow as tf
from tensorflow import keras


def reshape(images):
    return images.reshape(-1, 28, 28, 1)


def normalise(images):
    return images.astype("float32") / 255


def build_model(input_shape=(28, 28, 1), num_classes=10):
    return keras.Sequential([
        keras.layers.Input(shape=input_shape),
        keras.layers.Conv2D(28, kernel_size=(3, 3)),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation=tf.nn.relu),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(num_classes, activation=tf.nn.softmax),
    ])


def compile_model(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def predict_digits(model, images):
    return np.argmax(model.predict(images, verbose=0), axis=1)

"""Test submission: a correct solution in a third style (tf.keras, input_shape, Activation layers, loss function)."""

import numpy as np
import tensorflow as tf


def reshape(images):
    n = len(images)
    out = np.empty((n, 28, 28, 1), dtype=images.dtype)
    out[..., 0] = images
    return out


def normalise(images):
    return (images / np.float32(255)).astype(np.float32)


def build_model(input_shape=(28, 28, 1), num_classes=10):
    model = tf.keras.models.Sequential()
    model.add(tf.keras.layers.Conv2D(28, (3, 3), input_shape=input_shape))
    model.add(tf.keras.layers.MaxPool2D((2, 2)))
    model.add(tf.keras.layers.Flatten())
    model.add(tf.keras.layers.Dense(128))
    model.add(tf.keras.layers.Activation(tf.nn.relu))
    model.add(tf.keras.layers.Dropout(0.2))
    model.add(tf.keras.layers.Dense(num_classes))
    model.add(tf.keras.layers.Activation("softmax"))
    return model


def compile_model(model):
    model.compile(optimizer=tf.keras.optimizers.Adam(), loss=tf.keras.losses.sparse_categorical_crossentropy,
                  metrics=["acc"])
    return model


def predict(model, images):
    return tf.argmax(model.predict(images, verbose=0), axis=1).numpy().astype(np.int64)

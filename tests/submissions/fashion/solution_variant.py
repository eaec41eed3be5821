"""Fashion submission solution_variant: the functional API, Keras' own softmax, tuples (a valid variant)."""

import numpy as np
import keras


def class_names():
    return ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def normalise(images):
    return np.divide(images, 255, dtype=np.float32)


def build_model(input_shape=(28, 28), num_classes=10):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(128)(x)
    x = keras.layers.Activation("relu")(x)
    outputs = keras.layers.Dense(num_classes, activation=None)(x)
    return keras.Model(inputs, outputs)


def compile_model(model):
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


def probabilities(model, images):
    return keras.ops.convert_to_numpy(keras.ops.softmax(model(images), axis=-1))


def predict(model, images):
    return keras.ops.convert_to_numpy(keras.ops.argmax(model(images), axis=-1))

"""Test submission compile_tiny_learning_rate: the reference solution with one change, described in compile_model's docstring."""

import numpy as np
import tensorflow as tf
from tensorflow import keras


def reshape(images):
    """Give every image a channel axis: (N, 28, 28) -> (N, 28, 28, 1).

    Conv2D reads images as (height, width, channels), and a grey digit has one channel. The
    first axis counts the images, so let numpy work it out (-1) or read it from images.shape:
    the same function prepares 60,000 training images, 10,000 test images or a single digit.
    Return a new array and leave `images` as it was.
    """
    return images.reshape(-1, 28, 28, 1)


def normalise(images):
    """Scale pixels from whole numbers 0..255 to float32 values in [0, 1].

    Dividing by 255, the largest pixel value, maps the background to 0.0 and full ink to 1.0;
    small inputs of similar size let the network learn steadily. Convert to float32 first: it
    is what Keras computes with, and whole numbers cannot hold the fractions. Return a new
    array rather than changing `images`.
    """
    return images.astype("float32") / 255


def build_model(input_shape=(28, 28, 1), num_classes=10):
    """The CNN, not yet compiled: Conv2D -> MaxPooling2D -> Flatten -> Dense -> Dropout -> Dense.

    Conv2D(28, 3x3) finds small patterns such as strokes; MaxPooling2D(2x2) keeps the strongest
    response in each 2x2 block; Flatten lays the feature maps out as one vector; Dense(128, relu)
    combines the patterns; Dropout(0.2) switches off a random fifth of those neurons while
    training, so the network does not lean on any one of them; Dense(num_classes, softmax) gives
    one probability per digit. keras.Input(shape=input_shape) tells the model one image's shape.
    """
    model = keras.Sequential()
    model.add(keras.Input(shape=input_shape))
    model.add(keras.layers.Conv2D(28, kernel_size=(3, 3)))
    model.add(keras.layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(128, activation=tf.nn.relu))
    model.add(keras.layers.Dropout(0.2))
    model.add(keras.layers.Dense(num_classes, activation=tf.nn.softmax))
    return model


def compile_model(model):
    """Compile `model` with Adam, sparse categorical cross-entropy and accuracy, and return it.

    Adam decides how far to move each weight at every training step. Sparse categorical
    cross-entropy measures how little probability the model gave to the right digit, with the
    labels given as integers 0..9 ("sparse") rather than one-hot vectors. Accuracy, the share
    of digits read correctly, is reported while training.
    """
    """A learning rate a thousand times smaller than Adam's default: the model hardly moves in one epoch."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-6), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def predict(model, images):
    """The most likely digit of each image, as an int array of shape (N,).

    `images` are prepared like the training images, shape (N, 28, 28, 1). The model gives N rows
    of 10 probabilities; argmax along axis 1 picks, in each row, the position of the largest
    probability, which is the digit the model believes in most.
    """
    probabilities = model.predict(images, verbose=0)
    return np.argmax(probabilities, axis=1)

"""Handwritten digit recognition with a small convolutional network.

The five functions below prepare MNIST images, build and compile a Keras CNN, and read digits
with it. Check them with `grader check digits.py` (or `grader check digits.ipynb`).
"""

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
    raise NotImplementedError("add a channel axis of length 1 at the end, with images.reshape(...)")


def normalise(images):
    """Scale pixels from whole numbers 0..255 to float32 values in [0, 1].

    Dividing by 255, the largest pixel value, maps the background to 0.0 and full ink to 1.0;
    small inputs of similar size let the network learn steadily. Convert to float32 first: it
    is what Keras computes with, and whole numbers cannot hold the fractions. Return a new
    array rather than changing `images`.
    """
    raise NotImplementedError("convert the pixels to float32, then divide them by 255")


def build_model(input_shape=(28, 28, 1), num_classes=10):
    """The CNN, not yet compiled: Conv2D -> MaxPooling2D -> Flatten -> Dense -> Dropout -> Dense.

    Conv2D(28, 3x3) finds small patterns such as strokes; MaxPooling2D(2x2) keeps the strongest
    response in each 2x2 block; Flatten lays the feature maps out as one vector; Dense(128, relu)
    combines the patterns; Dropout(0.2) switches off a random fifth of those neurons while
    training, so the network does not lean on any one of them; Dense(num_classes, softmax) gives
    one probability per digit. keras.Input(shape=input_shape) tells the model one image's shape.
    """
    raise NotImplementedError("start a keras.Sequential() and add keras.Input and the six layers, in order")


def compile_model(model):
    """Compile `model` with Adam, sparse categorical cross-entropy and accuracy, and return it.

    Adam decides how far to move each weight at every training step. Sparse categorical
    cross-entropy measures how little probability the model gave to the right digit, with the
    labels given as integers 0..9 ("sparse") rather than one-hot vectors. Accuracy, the share
    of digits read correctly, is reported while training.
    """
    raise NotImplementedError("call model.compile(optimizer=..., loss=..., metrics=[...]), then return the model")


def predict(model, images):
    """The most likely digit of each image, as an int array of shape (N,).

    `images` are prepared like the training images, shape (N, 28, 28, 1). The model gives N rows
    of 10 probabilities; argmax along axis 1 picks, in each row, the position of the largest
    probability, which is the digit the model believes in most.
    """
    raise NotImplementedError("take the argmax of model.predict(images) over the digits, axis 1")

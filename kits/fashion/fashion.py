"""Classify images of clothing: TensorFlow's "Basic classification" tutorial as an exercise.

The six functions below name the ten Fashion-MNIST classes, prepare the images, build and compile
a small Keras network that outputs logits, and turn its outputs into probabilities and classes.
Check them with `grader check fashion.py` (or `grader check fashion.ipynb`).
"""

import numpy as np
import tensorflow as tf
from tensorflow import keras


def class_names():
    """The names of the ten classes, as a list of strings in the order of their labels 0..9.

    The data set stores each image's class as a number; class_names()[label] gives its name, so
    position 0 must be 'T-shirt/top' and position 9 'Ankle boot', spelled as in the tutorial.
    """
    raise NotImplementedError("return a list of the ten names, in label order: ['T-shirt/top', 'Trouser', ...]")


def normalise(images):
    """Scale pixels from whole numbers 0..255 to float32 values in [0, 1], keeping the shape (N, 28, 28).

    Dividing by 255, the largest pixel value, maps the background to 0.0 and the brightest pixels to
    1.0. Convert to float32 first: Keras computes in float32, and dividing whole numbers by 255.0
    would give float64. Return a new array rather than changing `images`.
    """
    raise NotImplementedError("convert the pixels to float32, then divide them by 255")


def build_model(input_shape=(28, 28), num_classes=10):
    """The network, not yet compiled: Flatten -> Dense(128, relu) -> Dense(num_classes), outputting logits.

    Flatten lays each image out as one vector; Dense(128, relu) combines the pixels; the last
    Dense(num_classes) has no activation, so it gives one unbounded score (a logit) per class.
    keras.Input(shape=input_shape) tells the model one image's shape.
    """
    raise NotImplementedError("a keras.Sequential of keras.Input, Flatten, Dense(128, relu) and Dense(num_classes) without activation")


def compile_model(model):
    """Compile `model` with Adam, sparse categorical cross-entropy from logits, and accuracy; return it.

    The model outputs logits (its last layer has no softmax), so the loss must be told:
    keras.losses.SparseCategoricalCrossentropy(from_logits=True). The labels are integers 0..9,
    hence "sparse". Accuracy is reported while training.
    """
    raise NotImplementedError("model.compile(optimizer=..., loss=keras.losses.SparseCategoricalCrossentropy(...), metrics=[...]), then return the model")


def probabilities(model, images):
    """The probability of each class for each image, shape (N, num_classes), each row summing to 1.

    `model` outputs logits; softmax over the last axis turns each image's logits into
    probabilities, as the tutorial's probability_model does. Only call the model: do not
    train it or change the images.
    """
    raise NotImplementedError("apply softmax (tf.nn.softmax) to the model's outputs for the images, over the last axis")


def predict(model, images):
    """The most likely class of each image, as an int array of shape (N,).

    The class with the largest logit is also the one with the largest probability, so
    np.argmax over the last axis (axis 1) of the model's outputs gives each image's label.
    """
    raise NotImplementedError("take the argmax of model.predict(images) over the classes, axis 1")

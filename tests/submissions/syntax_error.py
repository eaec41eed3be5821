"""Test submission: a syntax error on line 8 stops the whole file."""

import numpy as np


def reshape(images):
    return images.reshape(-1, 28, 28, 1)
def normalise(images)
    return images.astype("float32") / 255

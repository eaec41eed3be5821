"""Test submission: imports a module the grader does not have."""

import numpy as np
import fancy_nonexistent_helpers


def reshape(images):
    return images.reshape(-1, 28, 28, 1)

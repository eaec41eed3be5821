"""Test submission, hostile: exits as soon as it is imported."""

import sys

sys.exit(0)


def reshape(images):
    return images.reshape(-1, 28, 28, 1)

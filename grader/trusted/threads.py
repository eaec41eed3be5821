"""TensorFlow's thread pools in the trusted grading processes, sized once, before TensorFlow runs an op.

Training runs with one intra-op thread in every grading process. With op determinism on, the
intra-op thread count changes the trained weights (how reductions are split between threads): at
12,000 images, one thread gave test accuracy 0.8323 and two gave 0.8332. A fixed count makes a
grade the same on a 2-core laptop, a 64-core runner, alone or in a batch of many workers, and lets
a memoized training (grader.trusted.memo) stand for a fresh one. One thread costs nothing here: this
machine trained 12,000 images in 4.1 s with one thread and 4.3 s with two, since a small CNN's
batches of 32 give threads little to share. The inter-op pool, which does not change results,
gets the cores divided among the workers, so a batch does not run more threads than cores.
"""

from __future__ import annotations

import os
import sys

TRAINING_THREADS = 1
_CONFIGURED: list[int] = []


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def configure(workers: int = 1) -> None:
    """Size the pools for `workers` grading processes on this machine; the first call in a process wins.

    Called by the grader's own processes only (`grader run`, a batch's workers, Gradescope's
    autograder), never in a process of the user's such as a notebook's kernel. Before TensorFlow is
    imported it sets the variables TensorFlow reads when it starts; after, its threading options, which
    hold until its first op. Later TensorFlow keeps the pools it has, and `intra_op()` says which it
    uses (a memoized training's key records it).
    """
    if _CONFIGURED:
        return
    _CONFIGURED.append(workers)
    inter = max(1, cores() // max(1, workers))
    if "tensorflow" not in sys.modules:
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(TRAINING_THREADS)
        os.environ["TF_NUM_INTEROP_THREADS"] = str(inter)
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(TRAINING_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        pass  # TensorFlow already runs


def workers() -> int:
    """The grading processes this one's pools were sized for (1 if `configure` was not called)."""
    return _CONFIGURED[0] if _CONFIGURED else 1


def share() -> float:
    """The cores this grading process was given (all of them divided among the workers): what a sandbox it starts
    may use at most."""
    return max(1.0, cores() / max(1, _CONFIGURED[0] if _CONFIGURED else 1))


def intra_op() -> int:
    """The intra-op threads TensorFlow trains with in this process (its default, 0, means one per core)."""
    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads()
    if configured:
        return configured
    from_env = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
    return int(from_env) if from_env.isdigit() and int(from_env) > 0 else cores()

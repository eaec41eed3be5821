"""TensorFlow's thread pools in the grader's own processes (grader.trusted.threads)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT


def _python(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_NUM_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_training_gets_one_intra_op_thread_before_or_after_tensorflow_is_imported() -> None:
    before = _python("from grader.trusted import threads; threads.configure(workers=2); import tensorflow as tf; "
                     "import os; print(threads.intra_op(), os.environ['TF_NUM_INTEROP_THREADS'])")
    after = _python("import tensorflow as tf; from grader.trusted import threads; threads.configure(workers=2); "
                    "print(threads.intra_op(), tf.config.threading.get_inter_op_parallelism_threads())")
    cores = len(os.sched_getaffinity(0))
    assert before == after == f"1 {max(1, cores // 2)}"


def test_a_process_that_is_not_the_graders_keeps_its_pools() -> None:
    """notebook_check() grades inside the student's kernel: its TensorFlow is left as it is."""
    found = _python("from grader.grading import grade as grading; from grader.trusted import threads; import tensorflow as tf; "
                    "print(tf.config.threading.get_intra_op_parallelism_threads(), threads._CONFIGURED)")
    assert found == "0 []"

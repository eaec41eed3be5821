"""A batch of 20 submissions against 20 single `grader run` calls, measured in one run.

    python benchmarks/batch.py [--jobs N]

Grades the same 20 submissions (valid, faulty and hostile ones from tests/submissions) once as
separate `grader run` calls, one after another, and once as a single batch, then prints both
totals, their ratio (target: batch at most 0.6x) and the peak resident memory of the largest
process of the batch (a warm worker, its zygote or a sandbox).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADER_COURSE", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the example course

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = [
    "solution_functional", "solution_variant", "reshape_flat", "reshape_channels_first", "reshape_hardcoded",
    "normalise_no_divide", "normalise_twice", "normalise_float64", "model_dense64", "model_no_dropout",
    "model_lambda", "compile_categorical", "compile_mse", "compile_no_metric", "predict_probabilities",
    "predict_float", "predict_os_exit", "exit_at_import", "syntax_error", "monkeypatch",
]


def run(command: list[str], cwd: Path) -> float:
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, help="batch workers (default: the grader's default)")
    args = parser.parse_args()
    paths = [str(ROOT / "tests" / "submissions" / f"{name}.py") for name in SUBMISSIONS]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        singles = 0.0
        for i, path in enumerate(paths):
            singles += run([sys.executable, "-m", "grader", "run", path, "--assignment", "digits",
                            "--out", str(cwd / "single" / str(i))], cwd)
        print(f"20 single runs: {singles:.1f} s", flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        jobs = ["--jobs", str(args.jobs)] if args.jobs else []
        batch = run([sys.executable, "-m", "grader", "run", *paths, "--assignment", "digits", "--out", str(cwd / "batch"),
                     *jobs], cwd)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"one batch of 20: {batch:.1f} s")
    print(f"ratio batch / singles: {batch / singles:.2f}x (target <= 0.6x)")
    print(f"peak resident memory of the largest grading process: {peak / 1024:.0f} MB"
          + ("" if peak > before else " (no larger than in the single runs)"))


if __name__ == "__main__":
    main()

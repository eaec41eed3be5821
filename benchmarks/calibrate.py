"""Calibrate an assignment's accuracy threshold: train the reference model with several seeds.

    python benchmarks/calibrate.py --assignment NAME [--budget NAME] [--data PATH] [--seeds 0 1 2 3 4] [--train-samples N] [--epochs N]

Prints the reference's test accuracy per seed and the lowest; set the spec's min_accuracy a safe
margin under it and write the figures in the spec's comments. `grader validate NAME --seeds ...`
reports the same figures for the grading budget and the self-check's.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

os.environ.setdefault("GRADER_COURSE", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the example course
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from grader.assignment import budgets, course  # noqa: E402
from grader.assignment.data import load_dataset  # noqa: E402
from grader.authoring.validate import reference_accuracies  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", required=True, help="bundled name or path to an assignment.toml")
    parser.add_argument("--data",
                        help="a Keras mnist.npz or a folder of IDX files (default: the assignment's own data)")
    parser.add_argument("--budget", help="a budget the spec names in [training.budgets] (default: [training])")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="the seeds to train with (default 0 1 2 3 4)")
    parser.add_argument("--train-samples", type=int, help="training images (default: the budget's)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the budget's)")
    args = parser.parse_args()
    task = budgets.select(course.load(args.assignment), args.budget)
    budget = task.training
    if args.train_samples:
        budget = dataclasses.replace(budget, train_samples=args.train_samples)
    if args.epochs:
        budget = dataclasses.replace(budget, epochs=args.epochs)
    data = load_dataset(args.data, task.data)
    accuracies = []
    for seed in args.seeds:
        started = time.monotonic()
        accuracy = reference_accuracies(task, data, budget, (seed,))[seed]
        accuracies.append(accuracy)
        print(f"seed {seed}: accuracy {accuracy:.4f} ({time.monotonic() - started:.1f} s)")
    samples = min(budget.train_samples, len(data.train_images))
    print(f"{data.source}; budget {budget.epochs} epoch(s), {samples} images, batch {budget.batch_size}")
    print(f"lowest {min(accuracies):.4f}, mean {np.mean(accuracies):.4f}, highest {max(accuracies):.4f}")


if __name__ == "__main__":
    main()

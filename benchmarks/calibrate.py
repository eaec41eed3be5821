"""Calibrate an assignment's accuracy threshold: train the reference model with several seeds.

    python benchmarks/calibrate.py --assignment NAME [--seeds 0 1 2 3 4] [--train-samples N] [--epochs N]

Prints the reference's test accuracy per seed and the lowest; set the spec's min_accuracy a safe
margin under it and write the figures in the spec's comments.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from grader import architecture, compilation, spec, training  # noqa: E402
from grader.context import load_reference  # noqa: E402
from grader.data import load_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", required=True, help="bundled name or path to an assignment.toml")
    parser.add_argument("--data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--train-samples", type=int)
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    task = spec.load(args.assignment)
    budget = task.training
    if args.train_samples:
        budget = dataclasses.replace(budget, train_samples=args.train_samples)
    if args.epochs:
        budget = dataclasses.replace(budget, epochs=args.epochs)
    data = load_dataset(args.data, task.data)
    reference = load_reference(task.solution)
    model_check = next(c for c in task.checks if c.kind == "model")
    layers = architecture.expected_layers(model_check.params["layers"])
    # The reference settings, from_logits fitted to the expected model's output, as the training check does.
    logits = architecture.fold_activations(layers)[-1].args.get("activation", "linear") == "linear"
    settings = dataclasses.replace(compilation.reference(budget.optimizer, budget.loss, budget.metrics),
                                   from_logits=logits)

    def prep(images):
        for step in budget.prepare:
            images = getattr(reference, step)(images)
        return images

    x_train, y_train = prep(data.train_images[:budget.train_samples]), data.train_labels[:budget.train_samples].astype(int)
    x_test, y_test = prep(data.test_images[:budget.test_samples]), data.test_labels[:budget.test_samples].astype(int)
    accuracies = []
    for seed in args.seeds:
        trained = training.train(layers, settings, x_train, y_train, x_test, y_test,
                                 dataclasses.replace(budget, seed=seed), task.limits)
        accuracies.append(trained.accuracy)
        print(f"seed {seed}: accuracy {trained.accuracy:.4f} ({trained.seconds:.1f} s)")
    print(f"{data.source}; budget {budget.epochs} epoch(s), {len(x_train)} images, batch {budget.batch_size}")
    print(f"lowest {min(accuracies):.4f}, mean {np.mean(accuracies):.4f}, highest {max(accuracies):.4f}")


if __name__ == "__main__":
    main()

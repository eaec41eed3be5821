"""Named training budgets: [training.budgets.NAME] in the spec and `grader run --budget NAME`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conftest import ROOT, SOLUTION
from grader import cli
from grader.assignment import budgets, course, spec
from grader.assignment.data import Facts


def test_digits_names_the_seed_notebooks_budget_with_its_own_threshold(digits: spec.Assignment) -> None:
    full = budgets.select(digits, "full")
    t = full.training
    assert (t.train_samples, t.test_samples, t.epochs, t.batch_size) == (60000, 10000, 5, 32)
    assert t.prepare == digits.training.prepare and t.seed == digits.training.seed  # the rest is [training]'s
    assert full.check("accuracy").params["min_accuracy"] == 0.97 != digits.check("accuracy").params["min_accuracy"]
    assert budgets.select(digits, None) is digits and budgets.select(digits, "default") is digits
    assert budgets.names(digits) == ["default", "full"]


def test_an_unknown_budget_says_which_there_are(digits: spec.Assignment) -> None:
    with pytest.raises(budgets.BudgetError, match=r"no budget of that name; it has default \(1 epoch on 4,000 images\), "
                                                  r"full \(5 epochs on 60,000 images\)"):
        budgets.select(digits, "huge")


def _dataset(train: int, test: int) -> Facts:
    return Facts("bundled sample", "", "0" * 64, train, test)


def test_a_named_budget_needs_data_with_its_images(digits: spec.Assignment) -> None:
    full = budgets.select(digits, "full")
    budgets.check_data(full, _dataset(60000, 10000), "full")
    budgets.check_data(digits, _dataset(4000, 1000), None)  # the default takes what there is
    with pytest.raises(budgets.BudgetError) as refused:
        budgets.check_data(full, _dataset(4000, 1000), "full")
    message = str(refused.value)
    for words in ("60,000 images", "10,000", "has 4,000 training and 1,000 test images", "--data PATH",
                  "the Keras cache", "keras.datasets.mnist.load_data()", "default budget"):
        assert words in message, words


def test_grader_run_with_the_full_budget_on_the_bundled_sample_is_a_usage_error(tmp_path: Path, capsys,
                                                                                monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))  # no full MNIST in a Keras cache: the bundled sample
    status = cli.main(["run", str(SOLUTION), "--out", str(tmp_path / "out"), "--budget", "full"])
    err = capsys.readouterr().err
    assert status == 2 and "--budget full trains on 60,000 images" in err and "has 4,000 training" in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_budgets_in_a_spec_are_checked(tmp_path: Path) -> None:
    text = (ROOT / "assignments" / "digits" / "assignment.toml").read_text()
    cases = {
        "[training.budgets.default]\nepochs = 2\n": "'default' is [training] itself",
        "[training.budgets.big]\nepochs = -1\n": "epochs must be a number >= 0",
        "[training.budgets.big]\nmin_accuracy = 1.5\n": "min_accuracy must be a number in [0, 1]",
        "[training.budgets.big]\nlearning = 2\n": "unknown key(s) learning",
    }
    for extra, message in cases.items():
        path = tmp_path / "assignment.toml"
        path.write_text(text.replace("[[checks]]", extra + "\n[[checks]]", 1))
        with pytest.raises(spec.SpecError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            course.load(path)


def test_a_budget_changes_the_fingerprint_so_a_batch_grades_again(digits: spec.Assignment) -> None:
    from grader.grading import fingerprint

    full = budgets.select(digits, "full")
    assert fingerprint.configuration(full, "0" * 64) != fingerprint.configuration(digits, "0" * 64)
    assert dataclasses.replace(digits, budgets=()).training == digits.training

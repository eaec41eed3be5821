"""Tests for grader.grading.selfcheck and `grader check`: the public checks, quickly, with what to do next."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from grader.grading import selfcheck
from grader.cli import main
from grader.results import CheckResult, SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
STUDENT_MODULE = ROOT / "assignments" / "digits" / "digits.py"
LAYER_TABLE = "    expected  got\n  ! Dense(128)  Dense(64)   <- units differ"


def results(*checks: CheckResult, accuracy: float | None = 0.9) -> dict:
    extra = {"module": "work.py", "grader_faults": [], "accuracy": accuracy}
    return SubmissionResult("digits", "work", checks, 1.0, extra=extra).to_dict()


def test_quick_trains_on_fewer_images_and_keeps_everything_else(digits):
    quick = selfcheck.quick(digits)
    assert quick.training.train_samples == digits.training.quick_train_samples == 2000 < digits.training.train_samples
    assert quick.training.test_samples == digits.training.quick_test_samples == 1000  # of the public share
    assert replace(quick.training, train_samples=digits.training.train_samples,
                   test_samples=digits.training.test_samples) == digits.training
    assert quick.checks == digits.checks  # the minimum accuracy included
    assert selfcheck.quick(digits, 10**6).training.train_samples == digits.training.train_samples


def test_render_explains_failures_and_names_hidden_checks_only(digits):
    task = replace(digits, checks=tuple(replace(c, visibility="hidden") if c.name == "accuracy" else c
                                        for c in digits.checks))
    text = selfcheck.render(results(
        CheckResult.passed("reshape", 1, "fine"),
        CheckResult.failed("normalise", 1, "normalise returned float64; expected float32.", hint="Use astype."),
        CheckResult.failed("build_model", 2, "units should be 128, got 64.", hint="Compare the layers.",
                           details=LAYER_TABLE),
        CheckResult.failed("compile_model", 1, "units should be 128, got 64."),
        CheckResult.failed("accuracy", 3, "SECRET accuracy 0.12", hint="SECRET hint", visibility="hidden"),
        CheckResult.failed("predict", 2, "not implemented yet: predict() raised NotImplementedError.",
                           fault="not_implemented", details="Traceback SECRET-LOOKING frames"),
    ), task, selfcheck.quick(task))
    lines = text.splitlines()
    assert lines[0].startswith("Self-check of work.py for digits")
    assert any(line.split() == ["PASS", "reshape", "1/1"] for line in lines)
    assert "float64; expected float32." in text and "Try: Use astype." in text
    assert "! Dense(128)  Dense(64)   <- units differ" in text  # a wrong answer shows its details
    assert "compile_model    0/1  (the same problem as above)" in text
    assert "HIDDEN  accuracy" in text and "SECRET" not in text
    assert "Visible checks: 1/7 points. 1 hidden check(s), 3 points, graded when you hand in." in text
    assert "Next: fix normalise first: Use astype." in text
    assert "Quick budget" in text and "2,000" in text and "4,000" in text


def test_render_shows_what_visible_checks_printed_marked_and_never_a_hidden_ones(digits):
    task = replace(digits, checks=tuple(replace(c, visibility="hidden") if c.name == "predict" else c
                                        for c in digits.checks))
    said = lambda text, chars=None: {"printed": {"text": text, "chars": chars or len(text)}}  # noqa: E731
    text = selfcheck.render(results(
        CheckResult.passed("reshape", 1, "fine", extra=said("".join(f"line {i}\n" for i in range(20)), 5_000)),
        CheckResult.failed("normalise", 1, "normalise returned float64.", extra=said("\x1b]0;pwned\x07 " + "w" * 200)),
        CheckResult.failed("predict", 2, "wrong", visibility="hidden", extra=said("SECRET hidden inputs\n")),
    ), task, selfcheck.quick(task))
    lines = text.splitlines()
    at = lines.index("  PASS    reshape      1/1")
    assert lines[at + 1:at + 8] == ["          Your code printed:", *(f"          | line {i}" for i in range(5)),
                                    "          | ... (5,000 characters in all)"]
    assert "          | \\x1b]0;pwned\\x07 www" in text and "\x1b" not in text and "\x07" not in text
    assert all(len(line) <= selfcheck.WIDTH for line in lines)
    assert "SECRET" not in text and "HIDDEN  predict" in text


def test_render_says_when_the_grading_budget_was_used(digits):
    text = selfcheck.render(results(*(CheckResult.passed(c.name, c.points, "ok") for c in digits.checks)),
                            digits, digits)
    assert "Every visible check passed." in text and "Visible checks: 10/10 points." in text
    assert "Full budget" in text and "Quick budget" not in text


def test_render_of_one_problem_that_failed_everything(digits):
    message = "work.ipynb is a version 3 notebook; the grader reads nbformat 4."
    text = selfcheck.render(results(*(CheckResult.failed(c.name, c.points, message, hint="Hand in digits.py.",
                                                         fault="missing") for c in digits.checks), accuracy=None),
                            digits, selfcheck.quick(digits), name="work.ipynb")
    assert text.startswith("Self-check of work.ipynb for digits")
    assert text.count("version 3 notebook") == 1 and text.count("(the same problem as above)") == 5
    assert "Next: fix the problem above; every check failed because of it." in text
    assert "budget" not in text  # no model was trained, so there is no budget to speak of


def test_check_of_a_missing_path_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(selfcheck.NothingToCheck, match="nothing.py does not exist; give the path of your nothing.py"):
        selfcheck.check(tmp_path / "nothing.py")
    assert main(["check", str(tmp_path / "nothing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_check_is_documented_and_has_help(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["check", "--help"])
    assert caught.value.code == 0
    assert "--full" in capsys.readouterr().out
    docs = (ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    assert "grader check" in docs and "selfcheck import check" in docs and "2,000" in docs


@pytest.mark.slow
def test_cli_check_of_the_student_template_says_what_to_write(capsys):
    status = main(["check", str(STUDENT_MODULE)])
    out = capsys.readouterr().out
    assert status == 1
    for name in ("reshape", "normalise", "build_model", "compile_model", "predict"):
        assert f"not implemented yet: {name}() raised NotImplementedError" in out
    assert "Visible checks: 0/10 points." in out
    assert "Next: fix reshape first: Write the body of reshape() in place of the raise." in out
    assert "budget" not in out  # build_model is not written, so no model was trained


def test_the_quick_budget_comes_from_the_spec(fashion):
    quick = selfcheck.quick(fashion).training
    assert (quick.train_samples, quick.test_samples, quick.epochs) == (5000, 1000, 3)  # fashion's own quick budget
    assert replace(quick, train_samples=fashion.training.train_samples, test_samples=fashion.training.test_samples,
                   epochs=fashion.training.epochs) == fashion.training


def test_the_assignment_is_found_from_the_file_name_or_the_kernel(tmp_path):
    from grader.assignment import course, spec
    from grader.platforms import jupyter

    assert course.resolve(None, [ROOT / "assignments" / "fashion" / "fashion.ipynb"]).name == "fashion"
    assert course.resolve(None, [ROOT / "assignments" / "fashion"]).name == "fashion"
    other = tmp_path / "homework.py"
    other.write_text("")
    with pytest.raises(spec.SpecError, match="which assignment is .*homework.py.*Give --assignment NAME"):
        course.resolve(None, [other])  # never the course's default for a submission
    with pytest.raises(spec.SpecError, match="of different assignments"):
        course.resolve(None, [ROOT / "solutions" / "digits" / "digits.py", ROOT / "solutions" / "fashion" / "fashion.py"])
    fashion = course.load("fashion")
    assert jupyter.defining({name: print for name in fashion.functions}) == "fashion"
    assert jupyter.defining({"normalise": print}) is None


def test_render_of_top_level_code_says_it_once_with_the_fix_as_a_code_block(digits):
    from conftest import top_level_results

    text = selfcheck.render(top_level_results(), digits, selfcheck.quick(digits), name="digits.py")
    lines = text.splitlines()
    assert text.count("is top-level code") == 1 and text.count("(the same problem as above)") == 5
    start = lines.index(' ' * 14 + 'if __name__ == "__main__":')  # under "Try:", indented as code
    assert lines[start + 1] == " " * 18 + "(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()"
    assert lines[start + 2] == " " * 18 + "model.fit(normalise(reshape(x_train)), y_train, epochs=5)"
    assert lines[start + 3].strip() == 'File "digits.py", line 74, in <module>'
    assert text.count("Try:") == 1 and "Hint:" not in text
    assert "60000" not in text  # no check's own hint is attached to the import failure
    assert "Next: fix the problem above; every check failed because of it." in text

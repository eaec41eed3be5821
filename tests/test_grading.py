"""End to end: real submissions graded in the sandbox, each with its verdicts and its feedback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import SUBMISSIONS, assert_loses_exactly, by_name
from grader.assignment import course
from grader import printed

CHECKS = ("reshape", "normalise", "build_model", "compile_model", "accuracy", "predict")

# submission -> {failing check: words its feedback must contain}; every other check must pass.
CASES = {
    "solution_functional": {},
    "solution_variant": {},
    "reshape_flat": {"reshape": ["flattened", "(37, 784)"]},
    "reshape_channels_first": {"reshape": ["channels first", "(37, 1, 28, 28)"]},
    "reshape_hardcoded": {"reshape": ["ValueError", "hard-coded"]},
    "reshape_inplace": {"reshape": ["changed the array"]},
    "normalise_no_divide": {"normalise": ["255 times", "Divide the pixels by 255"]},
    "normalise_twice": {"normalise": ["1/255 of", "once"]},
    "normalise_float64": {"normalise": ["float64", "expected float32", "Convert to float32 (images.astype('float32') / 255)"]},
    "normalise_inplace_uint8": {"normalise": ["UFuncTypeError", "An in-place operation (/=) changes the uint8 array",
                                              "x = x.astype('float32') / value",
                                              'File "normalise_inplace_uint8.py", line 15, in normalise']},
    "normalise_name_typo": {"normalise": ["NameError: name 'imagse' is not defined. Did you mean: 'images'? (line 15",
                                          "did you mean 'images'?", 'File "normalise_name_typo.py", line 15, in normalise']},
    "predict_argmax_no_axis": {"predict": ["returned the single number", "np.argmax without an axis",
                                           "np.argmax(model.predict(images), axis=1)"]},
    "model_dense64": {"build_model": ["layer 4: Dense units is 64, expected 128.", "the model has 303,842 parameters; expected 607,394."]},
    "model_padding_same": {"build_model": ["layer 1: Conv2D padding is 'same', expected 'valid' (Keras' default).",
                                           "outputs (None, 28, 28, 28); expected (None, 26, 26, 28).",
                                           "the model has 704,162 parameters; expected 607,394.",
                                           "leave it out of your layer"]},
    "model_no_dropout": {"build_model": ["Dropout layer is missing"]},
    "model_no_softmax": {"build_model": ["activation is 'linear', expected 'softmax'"]},  # compile_model is judged on the expected model
    "model_lambda": {"build_model": ["Lambda"], "accuracy": ["Could not train"]},
    "model_huge": {"build_model": ["parameters"], "accuracy": ["Could not train"]},
    "model_returns_none": {"build_model": ["returned NoneType", "keras.Model"], "accuracy": ["Could not train"]},
    "custom_layer": {"build_model": ["Doubler", "not one of Keras' built-in layers"], "accuracy": ["Could not train"]},
    "compile_categorical": {"compile_model": ["categorical_crossentropy expects one-hot labels"]},
    "compile_mse": {"compile_model": ["mean_squared_error", "regression"]},
    "compile_no_metric": {"compile_model": ["no accuracy metric"]},
    "compile_sgd": {"compile_model": ["optimizer is SGD; expected Adam"]},
    "compile_not_compiled": {"compile_model": ["did not compile"]},
    "compile_tiny_learning_rate": {"accuracy": ["Likely causes, most likely first: (1) the learning rate is 1e-06, too "
                                                "small: the reference trains with 0.001 (Adam's default).",
                                                "the training stalled", "Use learning_rate=0.001 (Adam's default)"]},
    "compile_returns_none": {},  # compiled in place: full marks, with a note (below)
    "predict_probabilities": {"predict": ["returned the probabilities"]},
    "predict_axis0": {"predict": ["axis 0"]},
    "predict_float": {"predict": ["float32", "expected integers"]},
    "predict_ignores_model": {"predict": ["differ from the class with the highest probability"]},
    "predict_changes_weights": {"predict": ["changed the model's weights"]},
    "predict_os_exit": {"predict": ["exited with status 0"]},
    "missing_predict": {"predict": ["has no function predict()"]},
    "reshape_infinite_loop": {"reshape": ["did not finish within 10 seconds"]},
    "normalise_memory_hog": {"normalise": ["memory"]},
    "reshape_flood": {},  # 200 MB printed: past the limit it is dropped, never fatal
    "normalise_html_error": {"normalise": ["ValueError", "<script>alert('raised')</script>"]},
    "monkeypatch": {"normalise": ["255 times"], "predict": ["differ from the class"]},
}
ALL_FAIL = {
    "syntax_error": ["syntax error on line 8"],
    "import_error": ["fancy_nonexistent_helpers"],
    "exit_at_import": ["sys.exit(0)"],
    "top_level_download": ["Line 74 (`(x_train, y_train), (x_test, y_test) = keras.datasets.mnist",
                           "is top-level code", 'if __name__ == "__main__":\n        (x_train, y_train)'],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_submission_loses_exactly_the_points_of_its_mistakes(name: str, graded) -> None:
    results = graded(SUBMISSIONS / f"{name}.py")
    assert_loses_exactly(results, CHECKS, CASES[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ALL_FAIL))
def test_a_file_that_cannot_be_imported_fails_every_check_with_the_reason(name: str, graded) -> None:
    results = graded(SUBMISSIONS / f"{name}.py")
    assert results["score"] == 0
    for test in results["tests"]:
        assert test["status"] == "failed"
        for words in ALL_FAIL[name]:
            assert words in test["output"], (test["name"], test["output"])


@pytest.mark.slow
def test_the_notebooks_training_at_the_top_level_is_one_failure_naming_its_line_and_the_fix(graded, tmp_path) -> None:
    import json

    from grader.platforms import github
    from grader.views import report

    submission = SUBMISSIONS / "top_level_download.py"
    line = submission.read_text().splitlines().index(
        "(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()") + 1
    results = graded(submission)
    told = {(t["extra_data"]["feedback"], t["extra_data"]["hint"], t["extra_data"]["fix"], t["extra_data"]["line"])
            for t in results["tests"]}
    assert len(told) == 1  # every check, the accuracy one included, fails with the import and nothing of its own
    feedback, hint, fix, named = told.pop()
    assert named == line and feedback.startswith(f"Line {line} (`(x_train, y_train)")
    assert "no network, no writable home folder and a time limit" in feedback and "PermissionError" in feedback
    assert hint.endswith("where it runs when you run the file yourself but not when the grader imports it:")
    assert fix.splitlines() == ['if __name__ == "__main__":',
                                "    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()",
                                "    model = compile_model(build_model())",
                                "    model.fit(normalise(reshape(x_train)), y_train, epochs=5)"]
    assert f'File "top_level_download.py", line {line}, in <module>' in results["tests"][0]["output"]
    text = json.dumps(results)
    assert "/home/submission" not in text and "grader-sandbox" not in text and "<frozen" not in text
    assert len(report.page(results)["fixes"]) == 1
    (tmp_path / "digits.py").write_text(submission.read_text())
    annotations = github.annotations(results, task=course.load("digits"), submission=tmp_path, workspace=tmp_path)
    assert len(annotations) == 1 and annotations[0].startswith(f"::error file=digits.py,line={line},")


@pytest.mark.slow
def test_the_template_scores_zero_with_not_implemented_feedback(graded) -> None:
    from conftest import TEMPLATE

    results = graded(TEMPLATE)
    assert results["score"] == 0
    tests = by_name(results)
    for name in ("reshape", "normalise", "build_model", "compile_model", "predict"):
        assert "not implemented yet" in tests[name]["output"], tests[name]["output"]
        assert tests[name]["extra_data"]["fault"] == "not_implemented"
    assert "Could not train" in tests["accuracy"]["output"]


@pytest.mark.slow
def test_a_compile_function_without_return_keeps_its_marks_with_a_note(graded) -> None:
    compile_check = next(t for t in graded(SUBMISSIONS / "compile_returns_none.py")["tests"] if t["name"] == "compile_model")
    assert compile_check["status"] == "passed" and compile_check["extra_data"]["returned_none"] is True
    assert "`model = compile_model(model)` leaves model as None" in compile_check["output"]
    assert compile_check["extra_data"]["hint"] == "End compile_model with `return model`."


def test_the_syntax_error_names_its_line(graded) -> None:
    results = graded(SUBMISSIONS / "syntax_error.py")
    first = results["tests"][0]
    assert first["extra_data"]["line"] == 8
    assert first["extra_data"]["fault"] == "syntax"


@pytest.mark.slow
def test_printed_output_is_kept_and_cut(graded) -> None:
    results = graded(SUBMISSIONS / "reshape_flood.py")
    assert results["output"].startswith("flood flood") and "flood flood" in results["output"][-1000:]
    assert len(results["output"]) <= printed.KEEP + printed.MARKER_ROOM  # its head and its tail, with a marker
    extra = results["extra_data"]
    assert extra["output_over_limit"] > 190 * 1024 * 1024  # counted, not kept
    cut = int(re.search(r"\[\.\.\. ([\d,]+) characters dropped", results["output"]).group(1).replace(",", ""))
    assert extra["output_dropped"] == extra["output_over_limit"] + cut > 1_000_000  # the middle too


@pytest.mark.slow
def test_a_forged_results_file_changes_nothing(tmp_path: Path, fast_digits) -> None:
    out = tmp_path / "out"
    forged = '{"score": 1000, "tests": []}'
    source = (SUBMISSIONS / "normalise_no_divide.py").read_text()
    source += f"""
import os, threading, time
def _forge():
    for _ in range(50):
        for target in ({str(out / 'results.json')!r}, "results.json", "../results.json"):
            try:
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                open(target, "w").write({forged!r})
            except OSError:
                pass
        time.sleep(0.05)
_forge()
threading.Thread(target=_forge, daemon=True).start()
"""
    submission = tmp_path / "digits.py"
    submission.write_text(source)
    from conftest import grade_with

    result = grade_with(submission, fast_digits, protect=(out,), out=out)
    import json

    written = json.loads((out / "results.json").read_text())
    assert written["score"] == result["score"] == 9.0  # everything but normalise (1 point)
    assert by_name(written)["normalise"]["status"] == "failed"


@pytest.mark.slow
def test_the_trained_model_is_not_run_again_on_images_it_has_predicted(digits_session) -> None:
    """The predict check compares with the probabilities training computed for the same test images."""
    from conftest import SOLUTION

    score, max_score, failed, called = digits_session.call(_count_eager_calls, SOLUTION)
    assert score == max_score, failed
    assert called == 1  # the re-initialised model only: the trained one's outputs came from training


def _count_eager_calls(setup, submission) -> tuple:
    """In the session's worker: grade `submission`, counting the grader's own eager calls of a Keras model on images."""
    import keras
    import numpy as np

    from grader.grading.grade import grade

    called = []
    call = keras.Model.__call__

    def spy(self, *args, **kwargs):
        if args and isinstance(args[0], np.ndarray):
            called.append(self)
        return call(self, *args, **kwargs)

    keras.Model.__call__ = spy
    try:
        result = grade(submission, setup)
    finally:
        keras.Model.__call__ = call
    return result.score, result.max_score, [(c.name, c.feedback) for c in result.checks if c.status != "passed"], len(called)

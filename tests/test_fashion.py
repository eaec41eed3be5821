"""End to end: fashion submissions graded in the sandbox on Debian's Fashion-MNIST, each with its verdicts and
feedback. The tutorial's typical mistakes each lose exactly their points, with feedback that names them."""

from __future__ import annotations

import pytest

from conftest import SUBMISSIONS, assert_loses_exactly, by_name, grade_with

FASHION = SUBMISSIONS / "fashion"
CHECKS = ("class_names", "normalise", "build_model", "compile_model", "accuracy", "probabilities", "predict")

# submission -> {failing check: words its feedback or hint must contain}; every other check must pass.
CASES = {
    "solution_tutorial": {},
    "solution_variant": {},
    "print_flood": {},
    "model_softmax": {"build_model": ["Dense activation is 'softmax', expected 'linear'", "outputs logits",
                                      "from_logits=True"]},
    "model_no_flatten": {"build_model": ["Flatten layer is missing", "Flatten()", "784 pixels"],
                         "accuracy": ["(None, 28, 10)", "one output per class"]},
    "compile_no_from_logits": {"compile_model": ["outputs logits", "from_logits=True"]},
    "normalise_float64": {"normalise": ["float64", "expected float32", "255.0 gives float64"]},
    "probabilities_logits": {"probabilities": ["raw outputs (logits)", "Apply softmax"]},
    "probabilities_unnormalised": {"probabilities": ["rows that sum to", "sum to 1"]},
    "probabilities_axis0": {"probabilities": ["over the images (axis 0)", "axis=-1"]},
    "predict_probabilities": {"predict": ["returned the probabilities", "one class index per image"]},
    "names_order": {"class_names": ["wrong order", "position 2 holds 'Dress', expected 'Pullover'"]},
    "names_spelling": {"class_names": ["case, spaces or punctuation", "'Ankle Boot', expected 'Ankle boot'"]},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_mistake_loses_exactly_its_points_with_feedback_naming_it(name: str, graded_fashion) -> None:
    results = graded_fashion(FASHION / f"{name}.py")
    assert_loses_exactly(results, CHECKS, CASES[name])


@pytest.mark.slow
def test_a_model_with_softmax_is_trained_with_the_loss_fitted_to_it_and_the_report_says_so(graded_fashion) -> None:
    accuracy = by_name(graded_fashion(FASHION / "model_softmax.py"))["accuracy"]
    assert "compile_model()'s settings, with from_logits fitted to build_model()'s output" in accuracy["output"]
    assert accuracy["extra_data"]["compile_settings"].startswith("compile_model()'s settings")
    own = by_name(graded_fashion(FASHION / "solution_tutorial.py"))["accuracy"]["extra_data"]["compile_settings"]
    assert own == "compile_model()'s settings: optimizer=Adam, loss=sparse_categorical_crossentropy, " \
                  "from_logits=True, metrics=[accuracy]"


@pytest.mark.slow
def test_top_level_training_fails_every_check_naming_the_line_and_the_fix(graded_fashion) -> None:
    results = graded_fashion(FASHION / "top_level_training.py")
    assert results["score"] == 0
    source = (FASHION / "top_level_training.py").read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if "load_data()" in text)
    for test in results["tests"]:
        assert test["status"] == "failed"
        if test["extra_data"].get("fault") == "blocked":
            continue
        for words in (f"Line {line} (`(train_images, train_labels), (test_images, test_labels) = keras.data",
                      "top-level code", "runs when the grader imports top_level_training.py",
                      'if __name__ == "__main__":\n        (train_images, train_labels)'):
            assert words in test["output"], (test["name"], words, test["output"])


@pytest.mark.slow
def test_printing_past_the_limit_is_dropped_and_reported(graded_fashion, fashion_data) -> None:
    from grader.views import report

    results = graded_fashion(FASHION / "print_flood.py")
    assert results["score"] == results["extra_data"]["max_score"]
    assert results["extra_data"]["output_dropped"] > 190 * 1024 * 1024
    html = report.render(results)
    assert "more characters past the sandbox's output limit; they were discarded" in html


@pytest.mark.slow
def test_the_report_names_the_classes(graded_fashion, fashion_data) -> None:
    from grader.views import report

    results = graded_fashion(FASHION / "solution_variant.py")
    assert results["extra_data"]["class_names"][9] == "Ankle boot"
    section = report.render(results, fashion_data.test_images).split('id="predictions"')[1]
    import re

    assert re.search(r"<th[^>]*>Ankle boot</th>", section) and re.search(r"<th[^>]*>T-shirt/top</th>", section)


@pytest.mark.slow
def test_the_probabilities_are_checked_on_the_model_the_grader_trained(graded_fashion) -> None:
    test = by_name(graded_fashion(FASHION / "solution_tutorial.py"))["probabilities"]
    assert test["extra_data"]["models"] == ["trained", "re-initialised"]
    assert "could not be trained" not in test["output"]


@pytest.mark.slow
def test_top_level_code_that_outlasts_the_import_limit_is_named(fashion, fashion_data, tmp_path) -> None:
    import dataclasses

    from conftest import FASHION_DIR, fast

    reference = (fashion.solution).read_text()
    submission = tmp_path / "fashion.py"
    submission.write_text(reference + "\nimport time\n\nfor epoch in range(600):\n    time.sleep(0.1)\n")
    task = fast(fashion)
    task = dataclasses.replace(task, limits=dataclasses.replace(task.limits, import_seconds=5))
    results = grade_with(submission, task, data=FASHION_DIR)
    first = results["tests"][0]
    assert results["score"] == 0 and first["extra_data"]["fault"] == "timeout"
    line = reference.count("\n") + 4
    assert "did not finish within 5 seconds" in first["output"]
    assert f"Line {line} (`for epoch in range(600):`) of fashion.py is top-level code" in first["output"]
    assert '    if __name__ == "__main__":\n        for epoch in range(600):\n            time.sleep(0.1)' in first["output"]

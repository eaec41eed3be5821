"""notebook_check(): the live kernel's functions graded in the sandbox, the verdicts shown as HTML in the cell."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.assignment import course, spec
from grader.platforms import jupyter

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "digits" / "digits.py"
FAULTY = Path(__file__).resolve().parent / "submissions" / "normalise_no_divide.py"
TENSORFLOW = re.compile(r"absl|oneDNN|^[IWEF]\d{4} |tensorflow/core|node_def_util", re.MULTILINE)  # its log lines


def kernel_function(tmp_path: Path, source: str, name: str):
    """A function as a kernel defines it: compiled from a cell's file, in __main__."""
    cell = tmp_path / f"cell_{name}.py"
    cell.write_text(source)
    namespace = {"__name__": "__main__"}
    exec(compile(source, str(cell), "exec"), namespace)
    return namespace[name]


# --- The module made from the kernel -------------------------------------------------------------

def test_kernel_source_keeps_definitions_and_takes_the_live_functions_last(tmp_path):
    history = [
        "",  # In[0] is always empty
        "import numpy as np\nSCALE = 255.0\n%matplotlib inline\n",
        "def normalise(images):\n    return images\n",
        "def normalise(images)\n    return images / SCALE\n",  # a typo: this cell ran nothing
        "x = normalise(np.zeros(3))\nprint(x)\nmodel.fit(x)\n",
        "def helper(images):\n    return images.astype('float32')\n",
        "from grader.student import notebook_check; notebook_check()\n",
    ]
    live = kernel_function(tmp_path, "def normalise(images):\n    return helper(images) / SCALE\n", "normalise")
    source = jupyter.kernel_source(history, {"normalise": live, "np": object()}, ["reshape", "normalise"])
    namespace: dict = {}
    exec(compile(source, "made.py", "exec"), namespace)  # test-written code only
    import numpy as np

    out = namespace["normalise"](np.full(2, 255, dtype=np.uint8))
    assert out.dtype == np.float32 and out.tolist() == [1.0, 1.0]  # the live definition, with the history's helper
    assert "notebook_check()" not in source and "model.fit" not in source and "print(x)" not in source
    assert source.index("return images\n") < source.index(jupyter.HEADER) < source.index("helper(images) / SCALE")
    assert "reshape" not in source.split(jupyter.HEADER)[1]  # not defined in the kernel: nothing to take


def test_only_functions_defined_in_the_kernel_are_taken(tmp_path):
    import numpy as np

    assert jupyter.live_source(np.mean) is None  # imported from a module
    assert jupyter.live_source(len) is None and jupyter.live_source(3) is None and jupyter.live_source(None) is None
    exec_only = {"__name__": "__main__"}
    exec("def made():\n    return 1\n", exec_only)  # no source file anywhere
    assert jupyter.live_source(exec_only["made"]) is None
    method = kernel_function(tmp_path, "class Box:\n    def f(self):\n        return 1\n", "Box").f
    assert jupyter.live_source(method) == "def f(self):\n    return 1\n"  # dedented


def test_a_history_that_is_all_errors_still_makes_an_importable_module():
    source = jupyter.kernel_source(["", "def broken(:\n", "%%bash\necho hi\n", 42], {}, ["reshape"])
    exec(compile(source, "made.py", "exec"), {})


# --- The HTML ------------------------------------------------------------------------------------

def results(feedback: str = "normalise() returned values up to 255.0; expected float32 in [0, 1].") -> dict:
    def check(name, score, visibility="visible", fb="Correct.", output=None, fault=None):
        return {"name": name, "score": score, "max_score": 1.0, "status": "passed" if score else "failed",
                "visibility": visibility, "output": output or fb,
                "extra_data": {"feedback": fb, "hint": "Divide the pixels by 255." if not score else "", "fault": fault}}

    return {"score": 1.0, "tests": [
        check("reshape", 1.0),
        check("normalise", 0.0, fb=feedback, output=feedback + "\nHint: Divide\n\nTraceback line <b>1</b>"),
        check("accuracy", 0.0, fb=feedback),
        check("predict", 0.0, visibility="hidden", fb="SECRET hidden feedback")],
        "extra_data": {"accuracy": None, "grader_faults": []}}


def test_html_shows_each_verdict_and_what_to_fix_and_names_hidden_checks_only(digits):
    html = jupyter.render(results(), digits, digits)
    assert "SECRET" not in html
    rows = re.findall(r"<tr>\s*<td>(\w+)</td>\s*<td class=\"(\w+)\">(\w+)</td>", html)
    assert rows == [("reshape", "passed", "PASS"), ("normalise", "failed", "FAIL"), ("accuracy", "failed", "FAIL"),
                    ("predict", "hidden", "HIDDEN")]
    assert "expected float32 in [0, 1]." in html and "<em>Try:</em> Divide the pixels by 255." in html
    assert "The same problem as above." in html  # accuracy failed for the same reason
    assert "<pre>Traceback line &lt;b&gt;1&lt;/b&gt;</pre>" in html
    assert "Visible checks: 1/3 points. 1 hidden check(s), 1 points, graded when you hand in." in html
    assert "Next: fix the problem above; every check failed because of it." in html  # as `grader check` says


def test_html_escapes_everything_the_submission_said(digits):
    html = jupyter.render(results(feedback="<script>alert('x')</script> & <img src=x onerror=alert(1)>"), digits, digits)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;img" in html


def test_html_shows_what_each_visible_check_printed_escaped(digits):
    shown = results()
    said = {"text": "<b>shape</b> (2, 28, 28)\n\x1b[2J\n", "chars": 29}
    for test in shown["tests"]:
        test["extra_data"]["printed"] = said if test["name"] != "predict" else {"text": "SECRET input\n", "chars": 13}
    html = jupyter.render(shown, digits, digits)
    assert html.count("Your code printed:") == 3 and "SECRET" not in html  # reshape, normalise, accuracy
    assert "<pre>| &lt;b&gt;shape&lt;/b&gt; (2, 28, 28)\n| \\x1b[2J</pre>" in html and "\x1b" not in html


# --- Importing it --------------------------------------------------------------------------------

def test_import_grader_stays_light_and_the_notebook_imports_from_grader_student():
    code = ("import sys, grader\n"
            "light = not any(m in sys.modules for m in ('grader.platforms.jupyter', 'grader.grading.selfcheck', 'numpy', 'IPython'))\n"
            "from grader.student import load_data, notebook_check\n"
            "from grader.platforms import jupyter\n"
            "try:\n    from grader import notebook_check as old\nexcept ImportError as e:\n    missing = type(e).__name__\n"
            "print(light, notebook_check is jupyter.notebook_check, load_data is jupyter.load_data, missing)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True True True ImportError", done.stderr


def test_outside_a_notebook_it_says_what_to_use_instead():
    with pytest.raises(jupyter.NotInNotebook, match="`grader check` and your .py or .ipynb"):
        jupyter.notebook_check()


# --- End to end: a notebook run by a real kernel -------------------------------------------------

def hidden_course(tmp_path: Path, fast_course: Path) -> Path:
    """The fast course, with the predict check hidden from students."""
    root = tmp_path / "course"
    shutil.copytree(fast_course.parent.parent.parent, root)
    toml = root / "assignments" / "digits" / "assignment.toml"
    text = toml.read_text()
    toml.write_text(re.sub(r'(?m)^(name = "predict"\n)', r'\1visibility = "hidden"\n', text, count=1))
    assert course.load(toml).check("predict").visibility == "hidden"
    return toml


@pytest.mark.slow
def test_a_notebook_checks_its_live_functions_in_a_cell(tmp_path, fast_course, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    assignment = hidden_course(tmp_path, fast_course)
    solution = SOLUTION.read_text()
    header, _, rest = solution.partition("\ndef ")
    functions = ["def " + part for part in rest.split("\ndef ")]
    broken = FAULTY.read_text().split("def normalise", 1)[1].split("\ndef ", 1)[0]
    cells = [nbformat.v4.new_code_cell(header),
             *[nbformat.v4.new_code_cell(f) for f in functions],
             nbformat.v4.new_code_cell("def normalise(images):\n    return images.astype('float32') / 255.0\n"
                                       "print('first try')"),
             nbformat.v4.new_code_cell("def reshape(images)\n    pass", metadata={"tags": ["raises-exception"]}),
             nbformat.v4.new_code_cell("%%time\ndef normalise" + broken),  # the live one: forgets to divide
             nbformat.v4.new_code_cell("x = normalise(reshape(__import__('numpy').zeros((2, 28, 28))))\nprint(x.shape)"),
             nbformat.v4.new_code_cell(f"from grader.student import notebook_check; notebook_check({str(assignment)!r})")]
    book = nbformat.v4.new_notebook(cells=cells)
    folder = tmp_path / "student"  # no .ipynb or .py there: nothing saved to grade
    folder.mkdir()
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the kernel's TensorFlow logs everything, as by default
    monkeypatch.delenv("PYTEST_CURRENT_TEST")  # else ipykernel leaves fd 2 alone, where Jupyter shows it in the cell
    NotebookClient(book, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(folder)}}).execute()
    outputs = book.cells[-1].outputs
    streams = lambda cell: "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")  # noqa: E731
    assert TENSORFLOW.search(streams(book.cells[0])), "the kernel shows what fd 2 receives in the cell"
    assert not TENSORFLOW.search(streams(book.cells[-1])), streams(book.cells[-1])  # none of it from the check
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    (shown,) = [o for o in outputs if o.output_type == "display_data"]
    html, text = shown.data["text/html"], shown.data["text/plain"]
    verdicts = dict(re.findall(r"<tr>\s*<td>(\w+)</td>\s*<td class=\"\w+\">(\w+)</td>", html))
    assert verdicts == {"reshape": "PASS", "normalise": "FAIL", "build_model": "PASS", "compile_model": "PASS",
                        "accuracy": "PASS", "predict": "HIDDEN"}
    assert "Divide the pixels by 255" in html and "Next: fix normalise first" in html
    assert "Visible checks: 7/8 points. 1 hidden check(s), 2 points" in html
    assert "FAIL    normalise" in text  # the plain-text form for frontends without HTML
    assert list(folder.iterdir()) == []  # no file written beside the notebook


def test_docs_tell_students_and_instructors_about_notebook_check():
    line = "from grader.student import notebook_check; notebook_check()"
    assert line in (ROOT / "README.md").read_text()
    doc = (ROOT / "docs" / "notebooks.md").read_text()
    for term in (line, "full=True", "HIDDEN", "same sandbox as `grader check`", "grader/platforms/jupyter.py"):
        assert term in doc, term


def test_one_function_at_a_time_without_training_and_the_rest_not_written_yet(tmp_path, fast_course):
    reshape = "import numpy as np\n\ndef reshape(images):\n    return images.reshape(-1, 28, 28, 1)\n"
    namespace = {"reshape": kernel_function(tmp_path, reshape, "reshape"), "__name__": "__main__"}
    outcome, html = jupyter.check_kernel(["", reshape], namespace, functions=["reshape"], assignment=fast_course)
    assert [t["name"] for t in outcome.results["tests"]] == ["reshape"]  # its check only: nothing trained
    assert outcome.results["extra_data"]["accuracy"] is None
    verdicts = dict(re.findall(r"<tr>\s*<td>(\w+)</td>\s*<td class=\"\w+\">([\w ]+)</td>", html))
    assert verdicts == {"reshape": "PASS", "normalise": "NOT WRITTEN", "build_model": "NOT WRITTEN",
                        "compile_model": "NOT WRITTEN", "predict": "NOT WRITTEN"}
    assert jupyter.NOT_WRITTEN in html and "run its cell" in html
    assert "digits.py" not in html and "--" not in html  # the words of a notebook: cells, not files and flags
    with pytest.raises(jupyter.NotAFunction, match="'normalize' is not a function of digits; its functions are"):
        jupyter.check_kernel([""], namespace, functions=["normalize"], assignment=fast_course)
    nothing, page = jupyter.check_kernel([""], {}, functions=["predict"], assignment=fast_course)
    assert nothing is None and page.count("NOT WRITTEN") == 5 and "Next: write reshape" in page


def test_a_failure_with_a_fix_shows_it_as_code_once(digits):
    from conftest import TOP_LEVEL_FIX, top_level_results
    from grader.grading import selfcheck

    shown = jupyter.view(top_level_results(), digits, selfcheck.quick(digits))
    first, *later = [row for row in shown["rows"] if row["verdict"] == "failed"]
    assert first["fix"] == TOP_LEVEL_FIX and first["details"].startswith('  File "digits.py", line 74, in <module>')
    assert all(row["note"] == "The same problem as above." for row in later) and len(later) == 5
    assert shown["next"] == "Next: fix the problem above; every check failed because of it."
    assert TOP_LEVEL_FIX.replace('"', "&#34;") in jupyter.render(top_level_results(), digits, selfcheck.quick(digits))

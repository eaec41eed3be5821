"""Tests for grader.timings and `--timings`, and for what the grader's processes leave out to be fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SOLUTION, TEMPLATE
from grader import cli, optional, timings

OPTIONAL_SEEN = "import sys; print(sorted(m for m in ('sklearn', 'pandas', 'scipy', 'matplotlib', 'IPython') if m in sys.modules))"


def _python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, **kwargs)


# --- The recorder ------------------------------------------------------------------------------------------

def test_stages_nest_and_add_up_to_the_total() -> None:
    clock = timings.Timings(origin=time.monotonic() - 1)  # a second of start-up before the first stage
    with clock.stage("outer"):
        time.sleep(0.02)
        with clock.stage("inner"):
            time.sleep(0.02)
    clock.add("beside", clock.origin, clock.origin + 0.5, side="zygote")
    record = clock.to_dict()
    stages = {s["stage"]: s for s in record["stages"]}
    assert stages["inner"]["depth"] == 1 and stages["outer"]["depth"] == 0 and stages["beside"]["side"] == "zygote"
    assert stages["outer"]["seconds"] >= stages["inner"]["seconds"] + 0.015
    assert [s["stage"] for s in record["stages"]] == ["beside", "outer", "inner"]  # by start
    # The zygote's stage runs beside the grader's and is not part of the sum; nested ones are in their parent.
    assert record["total"] == pytest.approx(stages["outer"]["seconds"] + record["unaccounted"], abs=0.002)
    text = timings.table(record)
    assert "    inner" in text and "zygote" in text and f"total {record['total']:.2f} s" in text
    with pytest.raises(ValueError, match="side"):
        clock.add("nowhere", 0, 1, side="elsewhere")


def test_without_a_recorder_marking_a_stage_does_nothing(monkeypatch) -> None:
    monkeypatch.setattr(timings, "_CURRENT", [])
    with timings.stage("ignored"):
        pass
    timings.add("ignored too", 0.0, 1.0)
    assert timings.current() is None
    assert timings.ensure() is timings.current() is not None
    assert timings.current().origin == pytest.approx(time.monotonic(), abs=1.0)


def test_the_process_start_is_read_from_the_system() -> None:
    done = _python("import time; time.sleep(0.3); from grader import timings; "
                   "print(time.monotonic() - timings.process_start())")
    assert 0.3 <= float(done.stdout) < 5, done.stderr


# --- --timings on the command line ---------------------------------------------------------------------------

def test_timings_is_an_option_of_run_and_check_and_documented(capsys) -> None:
    for command in ("run", "check"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        assert "--timings" in capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    assert "grader run" in readme and "--timings" in readme and "benchmarks/single.py" in readme


def test_timings_of_several_submissions_is_a_usage_error(tmp_path: Path, capsys) -> None:
    status = cli.main(["run", str(SOLUTION), str(TEMPLATE), "--out", str(tmp_path), "--timings"])
    assert status == 2 and "--timings times the grading of one submission" in capsys.readouterr().err


@pytest.mark.slow
def test_grader_run_timings_cover_every_stage_and_sum_to_the_total(tmp_path: Path, fast_course: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "grader", "run", str(SOLUTION), "--assignment", str(fast_course),
                           "--out", str(tmp_path / "out"), "--timings"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((tmp_path / "out" / "results.json").read_text())["extra_data"]["timings"]
    names = [s["stage"] for s in record["stages"]]
    for wanted in ("start-up: the interpreter and the grader's modules",
                   "session: start the fork server, then its worker (the data)",
                   "zygote: imports (numpy, tensorflow, keras)", "data: load",
                   "imports: Keras and TensorFlow, the checks, the reference solution",
                   "sandbox: fork and confine (after the zygote is ready)", "check reshape (array)", "check build_model (model)",
                   "check accuracy (training)", "training: fit", "check predict (predict)", "report",
                   "report: figures (the training plot, the test images)", "report: HTML"):
        assert wanted in names, f"no stage {wanted!r} in {names}"
    top = [s for s in record["stages"] if s["side"] == "grader" and s["depth"] == 0]
    assert sum(s["seconds"] for s in top) + record["unaccounted"] == pytest.approx(record["total"], abs=0.01)
    assert 0 <= record["unaccounted"] < 0.1 * record["total"], record
    assert record["stages"][0]["start"] == 0.0 and record["total"] > 1
    # In time order, and each stage inside the run: nothing ends after the total was taken.
    assert all(s["start"] + s["seconds"] <= record["total"] + 0.01 for s in record["stages"])
    # The printed table also has the writing, and the summary on stdout is untouched.
    assert "writing results.json and report.html" in done.stderr and "total " in done.stderr
    assert "Score 10/10" in done.stdout and "took" not in done.stdout


# --- What the grader's processes do not import --------------------------------------------------------------

def test_hidden_modules_cannot_be_imported_inside_the_block_only(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "optional_pkg_for_test.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with optional.hidden(("optional_pkg_for_test", "json")):  # json is imported already: left alone
        with pytest.raises(ImportError):
            import optional_pkg_for_test  # noqa: F401
        import json as again  # noqa: F401
    import optional_pkg_for_test as found

    assert found.VALUE == 1


def test_keras_is_imported_without_the_optional_packages_and_still_trains() -> None:
    done = _python("from grader import optional; optional.import_keras(); " + OPTIONAL_SEEN + "\n"
                   "import keras, numpy as np\n"
                   "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation='softmax')])\n"
                   "m.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])\n"
                   "m.fit(np.zeros((8, 4), 'float32'), np.zeros(8, 'int64'), epochs=1, verbose=0)\n"
                   "import pandas; print('importable afterwards')")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "importable afterwards"]


def test_a_report_without_plots_does_not_import_matplotlib() -> None:
    done = _python("import numpy as np\nfrom grader.views import figures\n"
                   "figures.picture(np.zeros((28, 28), np.uint8))\n" + OPTIONAL_SEEN)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_program_exits_with_main_s_status_without_tearing_down(tmp_path: Path) -> None:
    for args, status in ((["--version"], 0), (["run", str(tmp_path / "none.py")], 2), (["nonsense"], 2)):
        done = subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
        assert done.returncode == status, (args, done.stdout, done.stderr)
    assert "grader" in subprocess.run([sys.executable, "-m", "grader", "--version"], capture_output=True,
                                      text=True, timeout=120).stdout


@pytest.mark.slow
def test_sandboxes_start_without_the_optional_packages_and_may_import_them(tmp_path: Path) -> None:
    from grader.sandbox.host import Sandbox
    from grader.assignment.spec import Limits
    from grader.sandbox.zygote import Zygote

    source = tmp_path / "mod.py"
    source.write_text("import sys\nimport numpy as np\nSEEN = [m for m in ('sklearn', 'pandas', 'scipy', "
                      "'matplotlib', 'IPython') if m in sys.modules]\n"
                      "def seen(x):\n    return np.array([len(SEEN)])\n"
                      "def later(x):\n    import pandas\n    return np.array([1])\n")
    zygote = Zygote(("numpy", "tensorflow", "keras"))
    try:
        sandbox = Sandbox(Limits(startup_seconds=120, import_seconds=30, call_seconds=60, memory_mb=3072), zygote).start()
        sandbox.wait_ready()
        target = sandbox.copy_in({source.name: source}, source.name)
        assert sandbox.request({"op": "load", "path": str(target), "functions": ["seen"]}, timeout=30, stage="load").header["ok"]
        x = {"x": np.zeros(1)}
        assert sandbox.request({"op": "call", "function": "seen", "args": ["x"]}, x, timeout=30, stage="seen").arrays["result"][0] == 0
        later = sandbox.request({"op": "call", "function": "later", "args": ["x"]}, x, timeout=60, stage="later")
        assert later.header["ok"], later.header  # hidden while the zygote imported Keras only
        sandbox.close()
    finally:
        zygote.close()


@pytest.mark.slow
def test_a_session_worker_imports_keras_without_the_optional_packages() -> None:
    from grader.assignment import course
    from grader.grading.session import Session

    with Session(course.load("digits")) as session:
        assert session.call(_optional_seen) == []


def _optional_seen(setup) -> list[str]:
    """In a session's worker: the optional packages Keras would import that are imported."""
    return sorted(m for m in ("sklearn", "pandas", "scipy", "matplotlib", "IPython") if m in sys.modules)


@pytest.mark.slow
def test_grader_check_prints_its_timings_too(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(TEMPLATE), "--timings"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Visible checks: 0/10 points." in done.stdout and "took" not in done.stdout
    for stage in ("start-up: the interpreter and the grader's modules", "zygote: imports", "check reshape (array)",
                  "check predict (predict)"):
        assert stage in done.stderr, stage

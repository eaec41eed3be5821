"""Student kits (grader release, grader.assignment.kit): a kit checks exactly as the course folder does, and holds
no answer to a hidden check and nothing of the reference's code."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, SUBMISSIONS, small_course
from grader.assignment import course, kit
from grader.authoring import release
from grader.cli import main

SAMPLES = {"digits": sorted(SUBMISSIONS.glob("*.py")), "fashion": sorted((SUBMISSIONS / "fashion").glob("*.py"))}
# Answers from a model of its own, unseeded: its mistakes differ from run to run, not its verdict.
UNSEEDED = {"predict_ignores_model.py"}


@pytest.fixture(scope="module")
def kits(tmp_path_factory) -> dict[str, tuple]:
    """For each example assignment at a small budget: the course's task, its kit's task (released into a folder of
    its own) and the data both check on."""
    made = {}
    for name in SAMPLES:
        folder = tmp_path_factory.mktemp(f"course-{name}")
        toml = small_course(folder, name)
        task = course.load(toml)
        out = tmp_path_factory.mktemp(f"kit-{name}")
        release.release(toml, out=out)
        made[name] = (task, kit.load(out))
    return made


def _session(task, cache: Path):
    """A self-check's session as `grader check` makes it, sharing a training cache."""
    from grader.grading.selfcheck import quick
    from grader.grading.session import Session

    budget = quick(task)
    share = (budget.training.train_samples, budget.training.test_samples)
    return Session(budget, kit=task.kit is not None, share=share, trainings=cache)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_gets_the_same_verdicts_and_feedback_from_the_kit_as_from_the_course(name, kits, tmp_path):
    task, kit_task = kits[name]
    differences = []
    with _session(task, tmp_path / "cache") as by_course, _session(kit_task, tmp_path / "cache") as by_kit:
        for submission in [task.template, task.solution, *SAMPLES[name]]:
            graded = by_course.grade(submission)
            checked = by_kit.grade(submission)
            assert [t["name"] for t in checked["tests"]] == [t["name"] for t in graded["tests"]], submission.name
            for by_course_test, by_kit_test in zip(graded["tests"], checked["tests"]):
                seen = [(t["status"], t["score"], _words(t["extra_data"].get("feedback")))
                        for t in (by_course_test, by_kit_test)]
                if submission.name in UNSEEDED:
                    seen = [verdict[:2] for verdict in seen]
                if seen[0] != seen[1]:
                    differences.append((submission.name, by_course_test["name"], *seen))
            if checked["extra_data"]["accuracy"] != graded["extra_data"]["accuracy"]:
                differences.append((submission.name, "accuracy", graded["extra_data"]["accuracy"],
                                    checked["extra_data"]["accuracy"]))
    assert differences == []


def _words(feedback: str | None) -> str | None:
    """Feedback without what differs between any two runs: the sandbox's folder name and durations."""
    if feedback is None:
        return None
    feedback = re.sub(r"grader-sandbox-\w+", "grader-sandbox-*", feedback)
    return re.sub(r"\d+(\.\d+)? s\b", "* s", feedback)


def test_a_kit_holds_the_template_the_public_spec_and_answers_but_no_code_and_no_test_split(kits):
    task, kit_task = kits["digits"]
    folder = kit_task.kit
    names = {p.name for p in folder.iterdir()}
    assert names == {"kit.json", "answers.json", "answers.npz", "digits.py", "digits.ipynb", "SHA256SUMS"}
    assert (folder / "digits.py").read_bytes() == task.template.read_bytes()
    sums = dict(line.split("  ")[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == names - {"SHA256SUMS"}
    spec = json.loads((folder / "kit.json").read_text())["spec"]
    assert "budgets" not in spec["training"] and "gradescope" not in spec
    answers = json.loads((folder / "answers.json").read_text())
    assert {entry["function"] for entry in answers["calls"].values()} == {"reshape", "normalise"}
    assert set(answers["compile"]) == {"compile_model"}
    images = kit.dataset(kit_task).train_images
    assert len(images) == 2000  # 1,000 to train on and 1,000 to test on, all of the training split
    solution = task.solution.read_text()
    for path in folder.iterdir():  # no line of the reference's bodies that the template lacks
        text = path.read_bytes().decode("utf-8", "replace")
        for line in _reference_only_lines(solution, task.template.read_text()):
            assert line not in text, (path.name, line)


def test_a_hidden_check_appears_by_name_and_points_only(tmp_path):
    toml = small_course(tmp_path / "course", "digits", hidden=("predict",))
    out = tmp_path / "kit"
    release.release(toml, out=out)
    kit_task = kit.load(out)
    assert [c.name for c in kit_task.checks] == ["reshape", "normalise", "build_model", "compile_model", "accuracy"]
    assert [(c.name, c.points, c.visibility) for c in kit_task.withheld] == [("predict", 2.0, "hidden")]
    table = json.loads((out / "kit.json").read_text())
    assert [c["name"] for c in table["spec"]["checks"]] == [c.name for c in kit_task.checks]
    assert '"kind": "predict"' not in (out / "kit.json").read_text()  # nothing of its parameters, only its name
    calls = json.loads((out / "answers.json").read_text())["calls"].values()
    # predict's probe (its 50 images, prepared) is never asked for: only the training's and the array checks' inputs
    with __import__("numpy").load(out / "answers.npz") as arrays:
        shapes = {arrays[n].shape[0] for n in arrays.files if n.split(".")[0] in {e.get("array") for e in calls}}
    assert 50 not in shapes


def test_a_hidden_check_whose_answers_the_public_ones_need_is_refused(tmp_path):
    toml = small_course(tmp_path / "course", "digits", hidden=("normalise",))
    with pytest.raises(release.ReleaseError, match="normalise is hidden, but the public checks prepare"):
        release.release(toml, out=tmp_path / "kit")
    toml = small_course(tmp_path / "other", "digits", hidden=("build_model",))
    with pytest.raises(release.ReleaseError, match="build on the hidden check build_model"):
        release.release(toml, out=tmp_path / "kit")
    assert not (tmp_path / "kit").exists()


def test_a_changed_kit_is_refused_with_what_to_do(kits, tmp_path):
    _, kit_task = kits["digits"]
    copy = tmp_path / "kit"
    shutil.copytree(kit_task.kit, copy)
    answers = json.loads((copy / "answers.json").read_text())
    answers["calls"] = {}
    (copy / "answers.json").write_text(json.dumps(answers))
    with pytest.raises(kit.KitError, match="answers.json was changed .* get the kit again"):
        kit.load(copy)
    (copy / "digits.py").write_text("def reshape(images):\n    return images\n")  # the student's own work: allowed
    shutil.copy(kit_task.kit / "answers.json", copy / "answers.json")
    assert kit.load(copy).name == "digits"


def test_the_kit_is_refused_for_grading_and_a_course_is_needed(kits, tmp_path, monkeypatch, capsys):
    _, kit_task = kits["digits"]
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(kit_task.kit / "digits.py"), "--assignment", str(kit_task.kit)]) == 2
    assert "is a student kit" in capsys.readouterr().err
    assert main(["run", str(kit_task.kit / "digits.py")]) == 2
    assert "no course folder here" in capsys.readouterr().err
    assert main(["check", str(kit_task.kit / "digits.py"), "--full"]) == 2
    assert "--full trains as the final grading does" in capsys.readouterr().err


def test_the_installed_kits_agree_with_the_example_course():
    """kits/ holds what `grader release` makes now from assignments/ and solutions/ (grader validate checks it too)."""
    for name in SAMPLES:
        task = course.load(name)
        assert release.compare(task, ROOT / "kits" / name) == [], name


def test_grader_kit_copies_an_installed_kit_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["kit", "digits", "--out", str(tmp_path / "work")]) == 0
    assert "grader check" in capsys.readouterr().out
    assert kit.load(tmp_path / "work").kit == tmp_path / "work"
    assert main(["kit", "digits", "--out", str(tmp_path / "work")]) == 2
    assert "already holds" in capsys.readouterr().err
    assert main(["kit", "nothing"]) == 2
    assert "digits, fashion" in capsys.readouterr().err


def test_release_and_kit_are_documented_and_have_help(capsys):
    for command in ("release", "kit"):
        with pytest.raises(SystemExit) as caught:
            main([command, "--help"])
        assert caught.value.code == 0 and "--out" in capsys.readouterr().out
    docs = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    assert "grader release" in docs and "SHA256SUMS" in docs
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "grader kit digits" in readme and "no answers" in readme


GENERIC = {"return model", "])", ")", "]"}  # lines any code has: the grader's own ends functions with `return model`


def _reference_only_lines(solution: str, template: str) -> list[str]:
    """The lines of the reference's function bodies that the template lacks, stripped, but for the GENERIC ones."""
    kept = {line.strip() for line in template.splitlines()}
    lines = []
    inside = False
    for line in solution.splitlines():
        if line.startswith("def "):
            inside = True
            continue
        if inside and line.strip() and not line.startswith((" ", "\t")):
            inside = False
        text = line.strip()
        if inside and text and text not in kept and not text.startswith(('"""', "#")) and text not in GENERIC:
            lines.append(text)
    return lines


@pytest.mark.slow
def test_a_notebook_in_its_kit_folder_checks_its_functions_from_the_kit(kits, tmp_path, monkeypatch):
    from grader.platforms import jupyter

    task, kit_task = kits["digits"]
    folder = tmp_path / "kit"
    shutil.copytree(kit_task.kit, folder)
    monkeypatch.chdir(folder)  # a kernel started in the kit's folder, far from any course
    monkeypatch.delenv("GRADER_COURSE", raising=False)
    namespace: dict = {}
    source = task.solution.read_text()
    exec(compile(source, "cell", "exec"), namespace)  # noqa: S102 - the reference, as a kernel that ran its cells
    outcome, html = jupyter.check_kernel([source], namespace)
    assert outcome.results["extra_data"]["data"]["path"] == str(folder)  # checked from the kit beside it
    assert outcome.passed and "Every visible check passed." in outcome.text and "PASS" in html

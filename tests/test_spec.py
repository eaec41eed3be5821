"""Reading assignment specs: the bundled digits spec and malformed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.assignment import course, spec


def test_the_digits_spec_describes_the_exercise(digits: spec.Assignment) -> None:
    assert digits.functions == ("reshape", "normalise", "build_model", "compile_model", "predict")
    assert [c.name for c in digits.checks] == ["reshape", "normalise", "build_model", "compile_model", "accuracy", "predict"]
    assert digits.max_score == 10
    assert digits.solution.is_file() and digits.template.name == "digits.py"
    assert digits.check("accuracy").params["min_accuracy"] < 0.888  # under the calibrated lowest reference accuracy
    assert [source.kind for source in digits.data.sources] == ["keras_cache", "package"]
    assert digits.data.sources[0].digests() == {"mnist.npz": digits.data.sources[0].sha256[0][1]}
    assert digits.data.sources[0].sha256[0][1].startswith("731c5ac6")


def test_a_spec_can_be_loaded_by_path(tmp_path: Path, digits: spec.Assignment) -> None:
    loaded = course.load(digits.directory / "assignment.toml")
    assert loaded.name == "digits" and loaded.checks == digits.checks
    assert course.load(digits.directory).name == "digits"


def test_an_unknown_assignment_names_the_bundled_ones() -> None:
    with pytest.raises(spec.SpecError, match="digits"):
        course.load("no-such-assignment")


@pytest.mark.parametrize("text, words", [
    ("[assignment]\nname = 1\n", "'name' is required"),
    ("[assignment\n", "cannot read"),
    ('[assignment]\nname = "x"\nmodule = "x.py"\n', "no [[checks]]"),
    ('[assignment]\nname = "x"\nmodule = "x.py"\n[[checks]]\nname = "a"\nkind = "magic"\n', "kind 'magic'"),
    ('[assignment]\nname = "x"\nmodule = "x.py"\n[limits]\nbogus = 1\n[[checks]]\nname = "a"\nkind = "array"\n', "bogus"),
    ('[assignment]\nname = "x"\nmodule = "x.py"\n[limits]\ncall_seconds = -1\n[[checks]]\nname = "a"\nkind = "array"\n', "call_seconds"),
    ('[assignment]\nname = "x"\nmodule = "x.py"\n[[checks]]\nname = "a"\nkind = "array"\nvisibility = "secret"\n', "visibility"),
    ('[assignment]\nname = "x"\nmodule = "x.py"\n[[checks]]\nname = "a"\nkind = "array"\n[[checks]]\nname = "a"\nkind = "array"\n', "unique"),
])
def test_malformed_specs_name_the_problem(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "assignment.toml"
    path.write_text(text)
    with pytest.raises(spec.SpecError) as error:
        course.load(path)
    assert words in str(error.value)
    assert str(path) in str(error.value)


def test_a_spec_must_say_what_its_images_and_labels_are(tmp_path: Path) -> None:
    path = tmp_path / "assignment.toml"
    path.write_text('[assignment]\nname = "x"\nmodule = "x.py"\n[[checks]]\nname = "a"\nkind = "array"\n')
    with pytest.raises(spec.SpecError, match=r"\[data\]: the \[data\] table of assignment.toml has no image_shape"):
        course.load(path)

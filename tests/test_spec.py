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
    ('[assignment]\nname = "x"\nmodule = "x.py"\n[limits]\nbogus = 1\n[[checks]]\nname = "a"\nkind = "array"\nfunction = "f"\n', "bogus"),
    ('[assignment]\nname = "x"\nmodule = "x.py"\n[limits]\ncall_seconds = -1\n[[checks]]\nname = "a"\nkind = "array"\nfunction = "f"\n', "call_seconds"),
    ('[assignment]\nname = "x"\nmodule = "x.py"\n[[checks]]\nname = "a"\nkind = "array"\nfunction = "f"\nvisibility = "secret"\n', "visibility"),
    ('[assignment]\nname = "x"\nmodule = "x.py"\n[[checks]]\nname = "a"\nkind = "array"\nfunction = "f"\n[[checks]]\nname = "a"\nkind = "array"\nfunction = "f"\n', "unique"),
])
def test_malformed_specs_name_the_problem(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "assignment.toml"
    path.write_text(text)
    with pytest.raises(spec.SpecError) as error:
        course.load(path)
    assert words in str(error.value)
    assert str(path) in str(error.value)


HEAD = '[assignment]\nname = "x"\nmodule = "x.py"\n[data]\nimage_shape = [28, 28]\nnum_classes = 10\n'
MODEL = '[[checks]]\nname = "m"\nkind = "model"\ninput_shape = [28, 28, 1]\n'


@pytest.mark.parametrize("text, words", [
    (HEAD + '[trainig]\nseed = 1\n', "unknown key 'trainig'; did you mean 'training'?"),
    (HEAD + '[training]\nbatch_sise = 32\n', "[training]: unknown key(s) batch_sise (did you mean 'batch_size'?)"),
    (HEAD + '[[checks]]\nname = "acc"\nkind = "training"\nmin_acuracy = 0.8\n',
     "unknown key 'min_acuracy'; did you mean 'min_accuracy'?"),
    (HEAD + '[[checks]]\nname = "acc"\nkind = "training"\n', "a training check needs 'min_accuracy'"),
    (HEAD + '[[checks]]\nname = "acc"\nkind = "training"\nmin_accuracy = 80\n', "min_accuracy must be a number in [0, 1]"),
    (HEAD + '[[checks]]\nname = "acc"\nkind = "trainig"\n', "did you mean 'training'?"),
    (HEAD + '[[checks]]\nname = "r"\nkind = "array"\nfunction = "r"\nprobe = "test_labels"\n',
     "probe must be one of train_images, test_images"),
    (HEAD + MODEL + 'layers = [{ class = "dense", units = 10 }]\n', "class 'dense' is not one (did you mean 'Dense'?)"),
    (HEAD + MODEL + 'layers = [{ class = "Dense", unit = 10 }]\n', "unknown key 'unit'; did you mean 'units'?"),
    (HEAD + MODEL + 'layers = [{ units = 10 }]\n', "each with a class"),
    (HEAD + MODEL + 'layers = [{ class = "Dense", units = 10, free = ["kernel_initialiser"] }]\n',
     "layer 1 (Dense) free: unknown key 'kernel_initialiser'; did you mean 'kernel_initializer'?"),
    (HEAD + MODEL + 'layers = [{ class = "Dropout", rate = 0.5, free = ["activation"] }]\n',
     "layer 1 (Dropout) free: unknown key 'activation'"),
    (HEAD + MODEL + 'layers = [{ class = "Dense", units = 10, free = "use_bias" }]\n',
     "free is 'use_bias', expected argument names"),
    (HEAD + MODEL + 'layers = [{ class = "Dense", units = 10, free = ["units"] }]\n',
     "'units' is both given (units = 10) and free, keep one of the two"),
    ('checks = 3\n' + HEAD, "checks must be an array of tables"),
])
def test_a_typo_in_a_spec_is_one_line_naming_the_key_and_the_nearest_known_one(tmp_path: Path, text: str,
                                                                              words: str) -> None:
    path = tmp_path / "assignment.toml"
    path.write_text(text)
    with pytest.raises(spec.SpecError) as error:
        course.load(path)
    assert words in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_layer_may_declare_arguments_free(tmp_path: Path) -> None:
    from grader.trusted import comparison

    path = tmp_path / "assignment.toml"
    path.write_text(HEAD + MODEL + 'layers = [{ class = "Dense", units = 10, free = ["kernel_initializer", "trainable"] }]\n')
    model = next(c for c in course.load(path).checks if c.kind == "model")
    (dense,) = comparison.expected_layers(model.params["layers"])
    assert dense.free == ("kernel_initializer", "trainable") and dense.args == {"units": 10}


def test_validate_reports_a_spec_typo_in_one_line_without_a_traceback(tmp_path: Path, capsys) -> None:
    from grader.cli import main

    path = tmp_path / "assignment.toml"
    path.write_text(HEAD + MODEL + 'layers = [{ class = "dense", units = 10 }]\n')
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grader: error: ") and "Traceback" not in err and err.count("\n") == 1


def test_a_spec_must_say_what_its_images_and_labels_are(tmp_path: Path) -> None:
    path = tmp_path / "assignment.toml"
    path.write_text('[assignment]\nname = "x"\nmodule = "x.py"\n[[checks]]\nname = "a"\nkind = "array"\nfunction = "f"\n')
    with pytest.raises(spec.SpecError, match=r"\[data\]: the \[data\] table of assignment.toml has no image_shape"):
        course.load(path)

"""Tests for grader.sandbox.mistakes: numpy's and Python's common errors get a hint that names the fix."""

from __future__ import annotations

from grader.sandbox import mistakes

IN_PLACE = "Cannot cast ufunc 'divide' output from dtype('float64') to dtype('uint8') with casting rule 'same_kind'"


def test_in_place_division_of_an_integer_array_is_told_to_make_a_new_float32_array() -> None:
    hint = mistakes.hint("UFuncTypeError", IN_PLACE)
    assert "in-place operation (/=) changes the uint8 array itself" in hint
    assert "`x = x.astype('float32') / value` rather than `x /= value`" in hint
    multiply = mistakes.hint("UFuncTypeError", IN_PLACE.replace("divide", "multiply").replace("uint8", "int64"))
    assert "(*=)" in multiply and "int64" in multiply and "x.astype('float32') * value" in multiply


def test_pythons_suggestion_is_kept_in_the_hint() -> None:
    hint = mistakes.hint("NameError", "name 'imagse' is not defined. Did you mean: 'images'?")
    assert hint.startswith("Python does not know the name 'imagse': did you mean 'images'?")
    assert "define or import it" in mistakes.hint("NameError", "name 'keras' is not defined")
    assert "'astype'" in mistakes.hint("AttributeError", "'numpy.ndarray' object has no attribute 'astyp'. "
                                                         "Did you mean: 'astype'?")


def test_an_axis_out_of_bounds_and_unknown_errors() -> None:
    assert "classes are axis 1" in mistakes.hint("AxisError", "axis 2 is out of bounds for array of dimension 2")
    assert mistakes.hint("ValueError", "cannot reshape array of size 10 into shape (3,)") == ""
    assert mistakes.hint("AttributeError", "'NoneType' object has no attribute 'shape'") == ""

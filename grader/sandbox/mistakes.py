"""Common mistakes recognised by the exception they raise, each with a hint that names the fix.

Python and numpy word their errors for the people who write numpy, not for a student: "Cannot cast ufunc
'divide' output from dtype('float64') to dtype('uint8') with casting rule 'same_kind'" means that an
integer array was divided in place. Only the exception's type name and message are read (plain data
from the sandbox); nothing here runs submitted code.
"""

from __future__ import annotations

import re

# numpy: an in-place operation (`x /= 255`, `x *= 0.5`) whose float result cannot go back into an integer array.
_IN_PLACE = re.compile(r"Cannot cast ufunc '(\w+)' output from dtype\('(float\w*|complex\w*)'\) to "
                       r"dtype\('((?:u?int|bool)\w*)'\)")
_OPERATORS = {"divide": "/=", "true_divide": "/=", "multiply": "*=", "subtract": "-=", "add": "+=", "power": "**="}
_DID_YOU_MEAN = re.compile(r"Did you mean: '([^']{1,80})'\?")
_UNDEFINED = re.compile(r"name '(\w{1,80})' is not defined")


def hint(kind: str, message: str) -> str:
    """What to do about an exception of type `kind` (its class name) with `message`, if it is a known mistake; else ""."""
    cast = _IN_PLACE.search(message)
    if cast:
        operator = _OPERATORS.get(cast.group(1), "")
        integer, result = cast.group(3), cast.group(2)
        example = (f": write `x = x.astype('float32') {operator[:-1]} value` rather than `x {operator} value`"
                   if operator else "")
        return (f"An in-place operation ({operator or 'such as /='}) changes the {integer} array itself, and {integer} "
                f"cannot hold its {result} result. Make a new float32 array instead{example}; that also leaves the "
                "array you were given unchanged.")
    if kind == "AxisError" and "out of bounds" in message:
        return ("The axis does not exist in this array: count the axes of its shape, starting from 0 (axis=-1 is the "
                "last one). For model.predict's output of shape (N, classes), the classes are axis 1.")
    if kind == "NameError":
        suggested, undefined = _DID_YOU_MEAN.search(message), _UNDEFINED.search(message)
        if suggested and undefined:
            return (f"Python does not know the name {undefined.group(1)!r}: did you mean {suggested.group(1)!r}? "
                    "Check the spelling on the line shown.")
        if undefined:
            return (f"Python does not know the name {undefined.group(1)!r}: check its spelling, and define or import "
                    "it before the line shown uses it (inside the function, if it is a variable of the function).")
    if kind == "AttributeError":
        suggested = _DID_YOU_MEAN.search(message)
        if suggested:
            return f"Did you mean {suggested.group(1)!r}? Check the spelling on the line shown."
    return ""

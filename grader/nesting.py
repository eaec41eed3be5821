"""How deeply JSON text nests, counted before it is parsed.

Python's JSON parser recurses once per level, so text nested a few hundred thousand levels deep
overflows its stack; every reader of JSON that submitted code could have written (the sandbox's
messages, a handed-in notebook) counts the levels first and refuses what is too deep.
"""

from __future__ import annotations

import functools
import re

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, counted without parsing it.

    Brackets inside strings are not counted: strings are blanked out first. On malformed text the
    count may be too high, never too low for the part a JSON parser would accept before failing.
    """
    import numpy as np

    outside = _STRING.sub(b'""', data)
    steps = _bracket_steps()[np.frombuffer(outside, dtype=np.uint8)]
    steps = steps[steps != 0]
    return int(np.cumsum(steps, dtype=np.int32).max()) if steps.size else 0


@functools.cache
def _bracket_steps():
    """+1 for each byte that opens an array or object, -1 for each that closes one, 0 for the others."""
    import numpy as np

    steps = np.zeros(256, dtype=np.int8)
    steps[[ord("["), ord("{")]], steps[[ord("]"), ord("}")]] = 1, -1
    return steps

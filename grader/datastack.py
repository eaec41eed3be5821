"""Room on the interpreter's frame stack, so that calls repeated at one depth do not each allocate and free a piece of it.

CPython 3.11 and 3.12 keep the frames of Python calls on a stack of chunks, one per thread, 16 KB each to start. A
call whose frame does not fit in the current chunk maps a new one, and its return unmaps it again: code that calls in
a loop at exactly that depth pays a mapping, an unmapping and the page faults of a fresh chunk on every call (CPython
issue gh-142183, fixed by keeping one chunk in later releases). Where the boundary falls depends on every frame below,
so any change of the grader could move it onto a hot path: importing TensorFlow in the fork server once crossed it
tens of thousands of times, 120,000 page faults and 0.7 s of system time instead of 54,000 and 0.25 s.

`roomy(fn, *args)` calls `fn` from a frame whose code declares a large evaluation stack that it never uses: that frame
takes a fresh chunk of 512 KB and fills just over half of it, and what `fn` calls runs in the rest, with no boundary
for about 250 KB of frames (a few thousand calls deep). Processes forked below it (the fork server's) inherit the room.
"""

from __future__ import annotations

import types
from typing import Any, Callable, TypeVar

T = TypeVar("T")

# Frame slots of the roomy frame: with the interpreter's minimum overhead of 1,000 slots (8 bytes each) they need just
# over 256 KB, so the chunk made for them is the next size up, 512 KB, and about 250 KB of it is left below.
SLOTS = 32_800


def _call(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*args)


_ROOMY = types.FunctionType(_call.__code__.replace(co_stacksize=SLOTS), _call.__globals__, "roomy_call")


def roomy(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, called with room on the frame stack below it (see the module's docstring)."""
    return _ROOMY(fn, args)

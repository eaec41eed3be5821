"""The grader's heap: no garbage collection while it imports, and what it imported kept out of later collections.

Importing TensorFlow and Keras makes about a million Python objects, and none of them is garbage.
Left alone, Python's collector walks them all several times while they are made (six full
collections, about 0.6 s, in one `grader run`), and again in every process forked afterwards, where
walking them also copies the pages a fork shares. So the grader's processes that import them (the fork
server, a session's workers) call `pause()` when they start and `settle()` once their imports are done: the imported objects move to a generation
no collection visits (`gc.freeze`), and collection resumes for everything made after. Forked
processes (the sandboxes, the training started ahead) inherit that. A process that did not call
`pause()`, such as a notebook's kernel running a self-check, is left as it is.
"""

from __future__ import annotations

import gc

_STATE = {"paused": False}


def pause() -> None:
    """Stop collecting garbage until `settle()`; for a process of the grader's own, at its start."""
    _STATE["paused"] = True
    gc.disable()


def settle() -> None:
    """Freeze what exists now out of every later collection and collect again, if `pause()` stopped collecting."""
    if _STATE["paused"]:
        _STATE["paused"] = False
        gc.freeze()
        gc.enable()

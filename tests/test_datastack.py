"""grader.datastack: calls repeated at one depth below `roomy` never cross a chunk of the interpreter's frame stack."""

from __future__ import annotations

import resource
import sys
import types

import pytest

from grader.datastack import roomy

REPEAT = 400


def _worst_depth() -> tuple[int, int]:
    """The depth, among the next few hundred frames, at which REPEAT calls of a leaf took the most page faults, and
    how many they took (a call that crosses into a fresh chunk of the frame stack faults its first page in). The
    leaf's frame (1.6 KB) is larger than its caller's, so that at some depth the caller fits in a chunk and the leaf
    does not."""

    def empty() -> None:
        return None

    leaf = types.FunctionType(empty.__code__.replace(co_stacksize=200), {})

    def faults_at(depth: int) -> int:
        if depth:
            return faults_at(depth - 1)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(REPEAT):
            leaf()
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    return max(((faults_at(depth), depth) for depth in range(300)), key=lambda found: found[0])[::-1]


def test_calls_repeated_at_any_depth_below_roomy_fault_no_pages() -> None:
    depth, faults = roomy(_worst_depth)
    assert faults < REPEAT // 10, f"{faults} page faults for {REPEAT} calls at depth {depth}"


@pytest.mark.skipif(not (3, 11) <= sys.version_info[:2] < (3, 13),
                    reason="the chunked frame stack that thrashes is CPython 3.11's and 3.12's")
def test_without_roomy_some_depth_maps_a_chunk_for_every_call() -> None:
    """What `roomy` is for: somewhere in 300 frames, a chunk's boundary, crossed by every call made there."""
    depth, faults = _worst_depth()
    assert faults >= REPEAT, f"only {faults} page faults for {REPEAT} calls at depth {depth}"


def test_roomy_passes_arguments_and_returns_the_result() -> None:
    assert roomy(divmod, 17, 5) == (3, 2)
    with pytest.raises(ZeroDivisionError):
        roomy(divmod, 1, 0)

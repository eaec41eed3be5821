"""The frame format between the grader and its sandbox."""

from __future__ import annotations

import os
import struct
import time

import numpy as np
import pytest

from grader import protocol


def _pipe_with(data: bytes) -> int:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r


def test_a_frame_round_trips_header_and_arrays() -> None:
    arrays = {"x": np.arange(12, dtype=np.uint8).reshape(3, 4), "y": np.ones(2, dtype=np.float32)}
    fd = _pipe_with(protocol.encode({"op": "call", "n": np.int64(3)}, arrays))
    header, got = protocol.receive(fd, deadline=time.monotonic() + 5)
    assert header == {"op": "call", "n": 3}
    assert got["x"].dtype == np.uint8 and np.array_equal(got["x"], arrays["x"])
    assert np.array_equal(got["y"], arrays["y"])


def test_object_arrays_are_refused_rather_than_unpickled() -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, result=np.array([{"a": 1}], dtype=object))
    payload = buffer.getvalue()
    head = b'{"ok": true}'
    fd = _pipe_with(struct.pack(">QQ", len(head), len(payload)) + head + payload)
    with pytest.raises(protocol.ProtocolError, match="payload"):
        protocol.receive(fd, deadline=time.monotonic() + 5)


def test_an_oversized_frame_is_refused_before_it_is_read() -> None:
    fd = _pipe_with(struct.pack(">QQ", 10, 1 << 40))
    with pytest.raises(protocol.ProtocolError, match="exceeds"):
        protocol.receive(fd, deadline=time.monotonic() + 5, max_bytes=1 << 20)


def test_garbage_header_is_a_protocol_error() -> None:
    head = b"not json"
    fd = _pipe_with(struct.pack(">QQ", len(head), 0) + head)
    with pytest.raises(protocol.ProtocolError, match="header"):
        protocol.receive(fd, deadline=time.monotonic() + 5)


def test_silence_past_the_deadline_is_a_timeout() -> None:
    r, w = os.pipe()
    started = time.monotonic()
    with pytest.raises(protocol.Timeout):
        protocol.receive(r, deadline=started + 0.3)
    assert 0.25 < time.monotonic() - started < 3
    os.close(w)


def test_a_closed_channel_is_reported_as_closed() -> None:
    fd = _pipe_with(b"\x00\x00")
    with pytest.raises(protocol.Closed):
        protocol.receive(fd, deadline=time.monotonic() + 5)

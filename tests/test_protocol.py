"""The frame format between the grader and its sandbox."""

from __future__ import annotations

import os
import struct
import time

import numpy as np
import pytest

from grader import nesting
from grader.sandbox import protocol


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


# -- bounds: everything in a frame is limited before it is parsed or allocated ------------------------

def _frame(head: bytes, payload: bytes = b"") -> int:
    """A readable fd holding one frame; a file, not a pipe, so that frames larger than a pipe's buffer fit."""
    import tempfile

    with tempfile.TemporaryFile() as file:
        file.write(struct.pack(">QQ", len(head), len(payload)) + head + payload)
        file.flush()
        fd = os.dup(file.fileno())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _npz(**arrays: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _deflated_npz(name: str, dtype: str, shape: tuple[int, ...], data_bytes: int) -> bytes:
    """An .npz whose one member declares `shape` but is deflated: its archive is tiny whatever it declares."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            chunk = bytes(1 << 20)
            for _ in range(data_bytes >> 20):
                member.write(chunk)
    return buffer.getvalue()


def test_a_deeply_nested_header_is_refused_before_parsing() -> None:
    head = b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(protocol.ProtocolError, match="200,001 levels deep"):
        protocol.receive(_frame(head), deadline=time.monotonic() + 5)
    unclosed = b"[" * 200_000
    with pytest.raises(protocol.ProtocolError, match="levels deep"):
        protocol.receive(_frame(unclosed), deadline=time.monotonic() + 5)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    head = json_bytes({"message": "[" * 5000 + '\\"{{{', "layers": [[{"x": ["]]]"]}]]})
    header, _ = protocol.receive(_frame(head), deadline=time.monotonic() + 5)
    assert header["layers"] == [[{"x": ["]]]"]}]]
    assert nesting.json_depth(head) == 5


def json_bytes(value) -> bytes:
    import json

    return json.dumps(value).encode()


def test_a_header_over_its_byte_limit_is_refused_before_it_is_read() -> None:
    fd = _pipe_with(struct.pack(">QQ", 17 << 20, 0))  # the 17 MB never arrive: refused from the lengths alone
    with pytest.raises(protocol.ProtocolError, match="header of 17,825,792 bytes exceeds"):
        protocol.receive(fd, deadline=time.monotonic() + 5)


def test_long_strings_in_the_header_are_cut_with_a_marker() -> None:
    head = json_bytes({"message": "x" * 1_000_000, "y" * 100_000: "short", "nested": [{"name": "n" * 70_000}]})
    header, _ = protocol.receive(_frame(head), deadline=time.monotonic() + 5)
    assert header["message"].startswith("x" * 1000) and header["message"].endswith("[cut: 1,000,000 characters]")
    assert len(header["message"]) < protocol.MAX_STRING + 100
    assert header["nested"][0]["name"].endswith("[cut: 70,000 characters]")
    assert all(len(k) < protocol.MAX_STRING + 100 for k in header)


def test_lone_surrogates_in_the_header_are_replaced_so_that_every_writer_can_encode_them() -> None:
    head = b'{"ok": false, "error": {"type": "RuntimeError", "message": "bad \\ud800 text"}, "\\udc80": ["\\ud83d\\ude00"]}'
    header, _ = protocol.receive(_frame(head), deadline=time.monotonic() + 5)
    assert header["error"]["message"] == "bad \ufffd text"
    assert header["\ufffd"] == ["\U0001f600"]  # a pair is one character, kept


def test_a_huge_integer_in_the_header_is_a_protocol_error_not_a_crash() -> None:
    with pytest.raises(protocol.ProtocolError, match="header"):
        protocol.receive(_frame(b'{"n": ' + b"9" * 100_000 + b"}"), deadline=time.monotonic() + 5)


def test_a_huge_array_deflated_into_a_small_archive_is_refused_from_its_header() -> None:
    payload = _deflated_npz("result", "<f8", (400_000_000,), 3 << 20)  # declares 3.2 GB
    assert len(payload) < 100_000
    with pytest.raises(protocol.ProtocolError, match="3,200,000,000 bytes of arrays"):
        protocol.receive(_frame(b"{}", payload), deadline=time.monotonic() + 5, max_bytes=256 << 20)


def test_the_arrays_total_size_is_bounded_once_unpacked() -> None:
    payload = _npz(a=np.zeros(1000, np.float64), b=np.zeros(1000, np.float64))
    header, arrays = protocol.receive(_frame(b"{}", payload), deadline=time.monotonic() + 5, max_array_bytes=16_000)
    assert arrays["a"].shape == (1000,) and arrays["b"].flags.writeable
    with pytest.raises(protocol.ProtocolError, match="16,000 bytes of arrays"):
        protocol.receive(_frame(b"{}", payload), deadline=time.monotonic() + 5, max_array_bytes=15_999)


@pytest.mark.parametrize("dtype", ["complex64", "U10", "S4", "V8", "datetime64[s]", [("a", "<i4"), ("b", "<f4")]])
def test_only_bool_integer_and_float_arrays_are_accepted(dtype) -> None:
    payload = _npz(result=np.zeros(3, dtype=dtype))
    with pytest.raises(protocol.ProtocolError, match="only bool, integer and float"):
        protocol.receive(_frame(b"{}", payload), deadline=time.monotonic() + 5)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint64", "float16", ">f4", "float64"])
def test_plain_numeric_arrays_travel_in_any_layout(dtype) -> None:
    array = np.asfortranarray(np.arange(24).reshape(2, 3, 4).astype(dtype))
    _, arrays = protocol.receive(_frame(b"{}", _npz(result=array, empty=np.zeros((0, 5), dtype))),
                                 deadline=time.monotonic() + 5)
    assert arrays["result"].dtype == np.dtype(dtype) and np.array_equal(arrays["result"], array)
    assert arrays["empty"].shape == (0, 5)


def test_the_number_of_arrays_is_bounded() -> None:
    payload = _npz(**{f"w{i}": np.zeros(1, np.uint8) for i in range(50)})
    assert len(protocol.receive(_frame(b"{}", payload), deadline=time.monotonic() + 5)[1]) == 50
    with pytest.raises(protocol.ProtocolError, match="50 arrays, more than the limit of 40"):
        protocol.receive(_frame(b"{}", payload), deadline=time.monotonic() + 5, max_arrays=40)


def test_a_payload_that_is_not_a_numpy_archive_is_refused() -> None:
    for payload in (b"garbage", b"x" * 100, _npz(a=np.zeros(2)) + b"trailing comment"):
        with pytest.raises(protocol.ProtocolError, match="payload"):
            protocol.receive(_frame(b"{}", payload), deadline=time.monotonic() + 5)

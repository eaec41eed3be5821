"""Framing of the messages between the grader and its sandbox: a JSON header plus numpy arrays.

A frame is `len(header) len(payload) header payload`, lengths as 8-byte big-endian integers; the
header is UTF-8 JSON, the payload an .npz archive. Nothing is ever unpickled: arrays are read with
`allow_pickle=False`, so a submission that writes to the channel can send wrong data, never code.
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
import time
from typing import Any

import numpy as np

_LENGTHS = struct.Struct(">QQ")
# Bound once, when the grader's side of the sandbox starts: submitted code that later replaces
# json.dumps or numpy.load on their modules does not reach these references.
_dumps, _loads = json.dumps, json.loads
_savez, _load, _asarray = np.savez, np.load, np.asarray


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed frame, or sent it too late."""


class Timeout(ProtocolError):
    """No complete frame arrived before the deadline."""


class Closed(ProtocolError):
    """The other side closed the channel (usually: the process died)."""


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """One frame holding `header` and `arrays`."""
    head = _dumps(header, default=_jsonable).encode("utf-8")
    payload = b""
    if arrays:
        buffer = io.BytesIO()
        _savez(buffer, **{k: _asarray(v) for k, v in arrays.items()})
        payload = buffer.getvalue()
    return _LENGTHS.pack(len(head), len(payload)) + head + payload


def send(fd: int, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write one frame to `fd`, blocking until it is all written."""
    view = memoryview(encode(header, arrays))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def receive(fd: int, *, deadline: float | None = None, max_bytes: int = 1 << 30) -> tuple[dict, dict[str, np.ndarray]]:
    """Read one frame from `fd`; `deadline` is a time.monotonic() value, None waits for ever."""
    lengths = _read_exactly(fd, _LENGTHS.size, deadline)
    head_len, payload_len = _LENGTHS.unpack(lengths)
    if head_len + payload_len > max_bytes:
        raise ProtocolError(f"a message of {head_len + payload_len:,} bytes exceeds the limit of {max_bytes:,}")
    try:
        header = _loads(_read_exactly(fd, head_len, deadline).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"malformed message header: {exc}") from exc
    if not isinstance(header, dict):
        raise ProtocolError("malformed message header: not a JSON object")
    arrays: dict[str, np.ndarray] = {}
    if payload_len:
        payload = _read_exactly(fd, payload_len, deadline)
        try:
            with _load(io.BytesIO(payload), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except Exception as exc:  # noqa: BLE001 - any failure to parse is the sender's fault
            raise ProtocolError(f"malformed message payload: {exc}") from exc
    return header, arrays


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("no answer before the deadline")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise Timeout("no answer before the deadline")
        chunk = os.read(fd, min(size - len(chunks), 1 << 20))
        if not chunk:
            raise Closed("the channel was closed")
        chunks += chunk
    return bytes(chunks)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    return repr(value)

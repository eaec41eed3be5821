"""Framing of the messages between the grader and its sandbox: a JSON header plus numpy arrays.

A frame is `len(header) len(payload) header payload`, lengths as 8-byte big-endian integers; the
header is UTF-8 JSON, the payload an .npz archive. Nothing is ever unpickled: arrays are read with
`allow_pickle=False`, so a submission that writes to the channel can send wrong data, never code.

Everything a frame holds is bounded before the grader parses or allocates it, because the other
side may be submitted code: the frame's length, the header's bytes and nesting depth (checked by a
scan before `json.loads`, so a deeply nested header is refused rather than overflowing the parser's
stack), every string in the header (cut, with a marker saying how long it was: a long message or a
long layer name is data, not an error; and made valid Unicode, since JSON's "\\ud800" decodes into
a lone surrogate that no writer could encode), the payload's number of arrays, and each array's
dtype and the arrays' total size, read from the .npy headers inside the archive before any array is
decompressed (a 3 GB array deflated to 3 MB is refused from its header).
"""

from __future__ import annotations

import io
import json
import math
import os
import select
import struct
import time
import zipfile
from typing import Any

import numpy as np

from grader import utf8
from grader.nesting import json_depth

_LENGTHS = struct.Struct(">QQ")
# Bound once, when the grader's side of the sandbox starts: submitted code that later replaces
# json.dumps or numpy.load on their modules does not reach these references.
_dumps, _loads = json.dumps, json.loads
_savez, _asarray = np.savez, np.asarray
_read_magic = np.lib.format.read_magic
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}

MAX_BYTES = 1 << 30            # a whole frame
MAX_HEADER_BYTES = 16 << 20    # the JSON header
MAX_DEPTH = 100                # nesting of JSON arrays and objects in the header
MAX_STRING = 64 << 10          # characters of any one string in the header; longer ones are cut
MAX_ARRAYS = 4096              # members of the .npz payload
ARRAY_KINDS = "biuf"           # bool, signed and unsigned integers, floats: nothing else travels
_EOCD = struct.Struct("<4sHHHHIIH")  # a zip's end-of-central-directory record
_NPY_HEADER_BYTES = 10_000


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


def receive(fd: int, *, deadline: float | None = None, max_bytes: int = MAX_BYTES,
            max_header_bytes: int = MAX_HEADER_BYTES, max_array_bytes: int | None = None,
            max_arrays: int = MAX_ARRAYS) -> tuple[dict, dict[str, np.ndarray]]:
    """Read one frame from `fd`; `deadline` is a time.monotonic() value, None waits for ever.

    `max_array_bytes` bounds the arrays' total size once decompressed (default: `max_bytes`).
    """
    lengths = _read_exactly(fd, _LENGTHS.size, deadline)
    head_len, payload_len = _LENGTHS.unpack(lengths)
    if head_len + payload_len > max_bytes:
        raise ProtocolError(f"a message of {head_len + payload_len:,} bytes exceeds the limit of {max_bytes:,}")
    if head_len > max_header_bytes:
        raise ProtocolError(f"a message header of {head_len:,} bytes exceeds the limit of {max_header_bytes:,}")
    header = parse_header(_read_exactly(fd, head_len, deadline))
    arrays: dict[str, np.ndarray] = {}
    if payload_len:
        limit = max_bytes if max_array_bytes is None else max_array_bytes
        arrays = parse_payload(_read_exactly(fd, payload_len, deadline), max_array_bytes=limit, max_arrays=max_arrays)
    return header, arrays


# -- the header ------------------------------------------------------------------------------------

def parse_header(data: bytes, *, max_depth: int = MAX_DEPTH, max_string: int = MAX_STRING) -> dict:
    """A frame's JSON header as a dict, refused if nested deeper than `max_depth`, its strings cut to `max_string`
    and made valid Unicode (lone surrogates replaced)."""
    depth = json_depth(data)
    if depth > max_depth:
        raise ProtocolError(f"malformed message header: JSON nested {depth:,} levels deep, more than the limit of {max_depth}")
    try:
        header = _loads(data.decode("utf-8"))
    except RecursionError as exc:  # the scan above should make this unreachable; kept as a second wall
        raise ProtocolError("malformed message header: JSON nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, an integer of more digits than Python converts
        raise ProtocolError(f"malformed message header: {str(exc)[:200]}") from exc
    if not isinstance(header, dict):
        raise ProtocolError("malformed message header: not a JSON object")
    return _cut_strings(header, max_string)


def cut(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its start and a marker saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut: {len(text):,} characters]"


def _cut_strings(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return cut(utf8.valid(value), limit)
    if isinstance(value, list):
        return [_cut_strings(v, limit) for v in value]
    if isinstance(value, dict):
        return {cut(utf8.valid(k), limit): _cut_strings(v, limit) for k, v in value.items()}
    return value


# -- the payload -----------------------------------------------------------------------------------

def parse_payload(payload: bytes, *, max_array_bytes: int, max_arrays: int = MAX_ARRAYS) -> dict[str, np.ndarray]:
    """The arrays of an .npz archive, each checked from its .npy header before anything is decompressed."""
    _check_directory(payload, max_arrays)
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        members = archive.infolist()
        if len(members) > max_arrays:
            raise ProtocolError(f"a message payload holds {len(members):,} arrays, more than the limit of {max_arrays:,}")
        headers = [_member_header(archive, member) for member in members]
        total = sum(_nbytes(shape, dtype) for _, shape, _, dtype in headers)
        if total > max_array_bytes:
            raise ProtocolError(f"a message payload holds {total:,} bytes of arrays once unpacked, more than the "
                                f"limit of {max_array_bytes:,}")
        return {name: _read_member(archive, member, header)
                for member, (name, *header) in zip(members, headers)}
    except ProtocolError:
        raise
    except Exception as exc:  # noqa: BLE001 - any other failure to read the archive is the sender's fault
        raise ProtocolError(f"malformed message payload: {str(exc)[:200]}") from exc


def _check_directory(payload: bytes, max_arrays: int) -> None:
    """Bound the archive's directory before zipfile reads it: numpy writes a plain zip, no comment, no zip64."""
    if len(payload) < _EOCD.size:
        raise ProtocolError("malformed message payload: too short to be an .npz archive")
    signature, _, _, _, count, size, _, comment = _EOCD.unpack(payload[-_EOCD.size:])
    if signature != b"PK\x05\x06" or comment or payload[-_EOCD.size - 20:-_EOCD.size].startswith(b"PK\x06\x07"):
        raise ProtocolError("malformed message payload: not an .npz archive as numpy.savez writes it")
    if count > max_arrays:
        raise ProtocolError(f"a message payload holds {count:,} arrays, more than the limit of {max_arrays:,}")
    if size > max_arrays * 1024:
        raise ProtocolError(f"malformed message payload: an archive directory of {size:,} bytes")


def _member_header(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> tuple[str, tuple[int, ...], bool, np.dtype]:
    """(name, shape, fortran_order, dtype) of one .npy member, read from its first bytes only."""
    if not member.filename.endswith(".npy"):
        raise ProtocolError(f"malformed message payload: member {cut(member.filename, 80)!r} is not an .npy array")
    name = member.filename[:-4]
    with archive.open(member) as stream:
        version = _read_magic(stream)
        reader = _HEADER_READERS.get(version)
        if reader is None:
            raise ProtocolError(f"malformed message payload: array {cut(name, 80)!r} has .npy format {version}")
        shape, fortran, dtype = reader(stream, max_header_size=_NPY_HEADER_BYTES)
    if dtype.kind not in ARRAY_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ProtocolError(f"array {cut(name, 80)!r} of the message payload has dtype {str(dtype)[:80]}; only bool, "
                            "integer and float arrays are accepted")
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise ProtocolError(f"malformed message payload: array {cut(name, 80)!r} has shape {str(shape)[:80]}")
    return name, tuple(shape), bool(fortran), dtype


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return math.prod(shape) * dtype.itemsize


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, header: tuple) -> np.ndarray:
    """One array, read into a buffer of exactly the size its header declared (already within the limit)."""
    shape, fortran, dtype = header
    buffer = bytearray(_nbytes(shape, dtype))
    with archive.open(member) as stream:
        version = _read_magic(stream)
        _HEADER_READERS[version](stream, max_header_size=_NPY_HEADER_BYTES)
        view, filled = memoryview(buffer), 0
        while filled < len(buffer):
            got = stream.readinto(view[filled:])
            if not got:
                raise ProtocolError(f"malformed message payload: array {cut(member.filename[:-4], 80)!r} is truncated")
            filled += got
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran else "C")


# -- the channel -----------------------------------------------------------------------------------

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


def as_sent(value: Any) -> Any:
    """`value` as it arrives on the other side in a header: JSON data, tuples as lists, numpy scalars as numbers."""
    return _loads(_dumps(value, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    return repr(value)

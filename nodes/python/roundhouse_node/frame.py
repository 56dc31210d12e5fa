"""The roundhouse.v1 frame codec (docs/protocol.md): a 16-byte big-endian header, then a payload."""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal, Union

PROTOCOL_VERSION: Final = 1
"""Wire version carried in byte 0 of every frame."""
SUBPROTOCOL: Final = "roundhouse.v1"
"""WebSocket subprotocol both sides must agree on during the upgrade."""
DEFAULT_STREAM_PATH: Final = "/_roundhouse/stream"
"""Path of the stream endpoint unless configured otherwise."""
HEADER_BYTES: Final = 16
"""Bytes in the fixed frame header."""
DEFAULT_MAX_PAYLOAD: Final = 1 << 20
"""Largest payload accepted unless both sides are configured otherwise: 1 MiB."""
MAX_ID: Final = (1 << 53) - 1
"""Largest frame id: ids must stay exact as a JavaScript number."""
MAX_CONTENT_TYPE: Final = 255
"""Longest content-type in bytes (its length is one byte on the wire)."""

KIND_INVOKE: Final = 1
KIND_ACK: Final = 2
KIND_RESULT: Final = 3
KIND_ERROR: Final = 4
KIND_PING: Final = 5
KIND_PONG: Final = 6
KIND_GOAWAY: Final = 7

FLAG_NAMED: Final = 0x0001
"""Invoke flag: the payload starts with the function's name."""
FLAG_RETRYABLE: Final = 0x0001
"""Ack flag: the accepted function is idempotent, so a loss after the ack may be retried."""

ERROR_FUNCTION_FAILED: Final = 1
"""Error code sent after the ack: the function ran, or started, and failed."""
ERROR_REJECTED: Final = 2
"""Error code sent instead of an ack: the node never ran the invocation."""

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 4000
CLOSE_UNSUPPORTED_DATA: Final = 4001
CLOSE_TOO_LARGE: Final = 4002
CLOSE_HEARTBEAT_TIMEOUT: Final = 4003
CLOSE_INTERNAL_ERROR: Final = 4004

FrameErrorCode = Literal[
    "truncated", "version", "kind", "flags", "id", "oversized", "length", "payload"
]
"""Which rule a frame broke; `oversized` maps to close code 4002, every other one to 4000."""


class FrameError(Exception):
    """A frame the protocol does not allow, read or about to be written."""

    def __init__(self, code: FrameErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: FrameErrorCode = code


@dataclass(slots=True)
class Invoke:
    """Asks the node to run a function (named, or the default one when `function` is None)."""

    id: int
    content_type: str
    body: bytes
    function: str | None = None


@dataclass(slots=True)
class Ack:
    """The node accepted invocation `id`; `retryable` marks an idempotent function."""

    id: int
    retryable: bool = False


@dataclass(slots=True)
class Result:
    """The function's answer to invocation `id`."""

    id: int
    status: int
    content_type: str
    body: bytes


@dataclass(slots=True)
class Error:
    """Invocation `id` failed after its ack (code 1) or was rejected instead of acked (code 2)."""

    id: int
    code: int
    message: str


@dataclass(slots=True)
class Ping:
    """Heartbeat request: `id` is the sender's sequence, `timestamp` its clock in ms."""

    id: int
    timestamp: float


@dataclass(slots=True)
class Pong:
    """Heartbeat answer echoing a ping's id and timestamp."""

    id: int
    timestamp: float


@dataclass(slots=True)
class Goaway:
    """The node drains: no new invocations on this stream; acked ones still finish."""

    reason: str = ""
    id: int = 0


Frame = Union[Invoke, Ack, Result, Error, Ping, Pong, Goaway]
"""Any v1 frame."""

_HEADER = struct.Struct(">BBHQI")
_INVOKE_HEAD = struct.Struct(">BBHQIB")
_RESULT_HEAD = struct.Struct(">BBHQIHB")
_ERROR_HEAD = struct.Struct(">BBHQIH")
_HEARTBEAT = struct.Struct(">BBHQId")
_U16 = struct.Struct(">H")
_F64 = struct.Struct(">d")

_DEFINED_FLAGS: Final = (0, FLAG_NAMED, FLAG_RETRYABLE, 0, 0, 0, 0, 0)
_ERROR_CODES: Final = frozenset((ERROR_FUNCTION_FAILED, ERROR_REJECTED))
_KIND_NAMES: Final = ("", "invoke", "ack", "result", "error", "ping", "pong", "goaway")

_printable_bytes = re.compile(rb"[\x20-\x7e]*").fullmatch
_printable_text = re.compile(r"[\x20-\x7e]{0,255}").fullmatch
_name_bytes = re.compile(rb"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}").fullmatch
_name_text = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}").fullmatch

# A stream repeats a handful of content types and names: each is checked once, then looked up.
_CACHE_LIMIT: Final = 256
_read_types: dict[bytes, str] = {}
_written_types: dict[str, bytes] = {}
_read_names: dict[bytes, str] = {}


def is_function_name(name: str) -> bool:
    """Whether `name` may travel as a function name (`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)."""
    return _name_text(name) is not None


def content_type_bytes(content_type: str) -> bytes:
    """The wire form of a content type; FrameError unless it is ≤255 bytes of printable ASCII."""
    cached = _written_types.get(content_type)
    if cached is not None:
        return cached
    if _printable_text(content_type) is None:
        raise FrameError("payload", "content-type is not at most 255 bytes of printable ASCII")
    encoded = content_type.encode("ascii")
    if len(_written_types) >= _CACHE_LIMIT:
        _written_types.clear()
    _written_types[content_type] = encoded
    return encoded


def _check_payload(size: int, max_payload: int) -> None:
    if size > max_payload:
        raise FrameError("oversized", f"payload of {size} bytes exceeds {max_payload}")


def _check_invocation_id(ident: int) -> None:
    if not 1 <= ident <= MAX_ID:
        raise FrameError("id", f"id {ident} is not in 1..2^53 - 1")


def encode_invoke(
    ident: int,
    content_type: str,
    body: bytes,
    function: str | None = None,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> bytes:
    """An invoke frame; FrameError for a field the protocol forbids."""
    _check_invocation_id(ident)
    ct = content_type_bytes(content_type)
    if function is None:
        size = 1 + len(ct) + len(body)
        _check_payload(size, max_payload)
        return _INVOKE_HEAD.pack(PROTOCOL_VERSION, KIND_INVOKE, 0, ident, size, len(ct)) + ct + body
    if _name_text(function) is None:
        raise FrameError("payload", f"function name {function!r} is not allowed")
    name = function.encode("ascii")
    size = 1 + len(name) + 1 + len(ct) + len(body)
    _check_payload(size, max_payload)
    head = _INVOKE_HEAD.pack(PROTOCOL_VERSION, KIND_INVOKE, FLAG_NAMED, ident, size, len(name))
    return b"".join((head, name, bytes((len(ct),)), ct, body))


def encode_ack(ident: int, retryable: bool = False) -> bytes:
    """An ack frame, with the retryable flag for an idempotent function."""
    _check_invocation_id(ident)
    return _HEADER.pack(PROTOCOL_VERSION, KIND_ACK, FLAG_RETRYABLE if retryable else 0, ident, 0)


def encode_result(
    ident: int, status: int, content_type: str, body: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD
) -> bytes:
    """A result frame; FrameError for a status outside 200..599, a bad content type or size."""
    _check_invocation_id(ident)
    if type(status) is not int or not 200 <= status <= 599:
        raise FrameError("payload", f"status {status!r} is outside 200..599")
    ct = content_type_bytes(content_type)
    size = 3 + len(ct) + len(body)
    _check_payload(size, max_payload)
    return (
        _RESULT_HEAD.pack(PROTOCOL_VERSION, KIND_RESULT, 0, ident, size, status, len(ct))
        + ct
        + body
    )


def encode_error(
    ident: int, code: int, message: str, max_payload: int = DEFAULT_MAX_PAYLOAD
) -> bytes:
    """An error frame (code 1 function failed, 2 rejected); the message is UTF-8."""
    _check_invocation_id(ident)
    if code not in _ERROR_CODES:
        raise FrameError("payload", f"unknown error code {code}")
    text = message.encode("utf-8", "replace")
    _check_payload(2 + len(text), max_payload)
    return _ERROR_HEAD.pack(PROTOCOL_VERSION, KIND_ERROR, 0, ident, 2 + len(text), code) + text


def _encode_heartbeat(kind: int, ident: int, timestamp: float) -> bytes:
    if not 0 <= ident <= MAX_ID:
        raise FrameError("id", f"id {ident} is not in 0..2^53 - 1")
    if not math.isfinite(timestamp):
        raise FrameError("payload", "heartbeat timestamp must be finite")
    return _HEARTBEAT.pack(PROTOCOL_VERSION, kind, 0, ident, 8, timestamp)


def encode_ping(ident: int, timestamp: float) -> bytes:
    """A ping frame carrying the sender's sequence number and clock in ms."""
    return _encode_heartbeat(KIND_PING, ident, timestamp)


def encode_pong(ident: int, timestamp: float) -> bytes:
    """A pong frame echoing a ping."""
    return _encode_heartbeat(KIND_PONG, ident, timestamp)


def encode_goaway(reason: str = "", max_payload: int = DEFAULT_MAX_PAYLOAD) -> bytes:
    """A goaway frame (id 0) with a UTF-8 reason."""
    text = reason.encode("utf-8", "replace")
    _check_payload(len(text), max_payload)
    return _HEADER.pack(PROTOCOL_VERSION, KIND_GOAWAY, 0, 0, len(text)) + text


def encode_frame(frame: Frame, max_payload: int = DEFAULT_MAX_PAYLOAD) -> bytes:
    """Encodes any frame into new bytes; FrameError for a field the protocol forbids."""
    if isinstance(frame, Invoke):
        return encode_invoke(frame.id, frame.content_type, frame.body, frame.function, max_payload)
    if isinstance(frame, Ack):
        return encode_ack(frame.id, frame.retryable)
    if isinstance(frame, Result):
        return encode_result(frame.id, frame.status, frame.content_type, frame.body, max_payload)
    if isinstance(frame, Error):
        return encode_error(frame.id, frame.code, frame.message, max_payload)
    if isinstance(frame, Ping):
        return encode_ping(frame.id, frame.timestamp)
    if isinstance(frame, Pong):
        return encode_pong(frame.id, frame.timestamp)
    if frame.id != 0:
        raise FrameError("id", "goaway id must be 0")
    return encode_goaway(frame.reason, max_payload)


def _text(raw: bytes) -> str:
    try:
        # Python's utf-8 codec is strict (no surrogates, no overlongs) and keeps a BOM.
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("payload", "text is not valid UTF-8") from None


def _content_type_at(message: bytes, start: int, end: int) -> tuple[str, int]:
    """The content type whose length byte is at `start`, and where the body begins."""
    if start >= end:
        raise FrameError("payload", "payload lacks a content-type length")
    body = start + 1 + message[start]
    if body > end:
        raise FrameError("payload", "content-type runs past the payload")
    raw = message[start + 1 : body]
    cached = _read_types.get(raw)
    if cached is not None:
        return cached, body
    if _printable_bytes(raw) is None:
        raise FrameError("payload", "content-type is not printable ASCII")
    text = raw.decode("ascii")
    if len(_read_types) >= _CACHE_LIMIT:
        _read_types.clear()
    _read_types[raw] = text
    return text, body


def _function_name_at(message: bytes, start: int, end: int) -> tuple[str, int]:
    """The function name whose length byte is at `start`, and where the typed body begins."""
    if start >= end:
        raise FrameError("payload", "payload lacks a function name length")
    after = start + 1 + message[start]
    if after > end:
        raise FrameError("payload", "function name runs past the payload")
    raw = message[start + 1 : after]
    cached = _read_names.get(raw)
    if cached is not None:
        return cached, after
    if _name_bytes(raw) is None:
        raise FrameError("payload", f"function name {raw!r} is not allowed")
    name = raw.decode("ascii")
    if len(_read_names) >= _CACHE_LIMIT:
        _read_names.clear()
    _read_names[raw] = name
    return name, after


def read_frame(
    message: bytes, offset: int = 0, max_payload: int = DEFAULT_MAX_PAYLOAD
) -> tuple[Frame, int]:
    """
    Decodes the frame at `offset` of a message that may hold several back to back, strictly,
    and returns it with the offset of the next one; FrameError if it is malformed.
    """
    available = len(message) - offset
    if available < HEADER_BYTES:
        raise FrameError("truncated", f"{available} bytes are too few for a frame header")
    version, kind, flags, ident, length = _HEADER.unpack_from(message, offset)
    if version != PROTOCOL_VERSION:
        raise FrameError("version", f"unsupported protocol version {version}")
    if not 1 <= kind <= 7:
        raise FrameError("kind", f"unknown frame kind {kind}")
    if flags & ~_DEFINED_FLAGS[kind]:
        raise FrameError("flags", f"flags 0x{flags:x} are not defined for {_KIND_NAMES[kind]}")
    if ident > MAX_ID:
        raise FrameError("id", "id exceeds 2^53 - 1")
    if length > max_payload:
        raise FrameError("oversized", f"payload of {length} bytes exceeds {max_payload}")
    if HEADER_BYTES + length > available:
        raise FrameError(
            "length",
            f"header declares {length} payload bytes, message has {available - HEADER_BYTES} left",
        )
    start = offset + HEADER_BYTES
    end = start + length
    if kind <= KIND_ERROR and ident == 0:
        raise FrameError("id", f"{_KIND_NAMES[kind]} id must be 1 or more")
    frame: Frame
    if kind == KIND_INVOKE:
        if flags:
            name, typed = _function_name_at(message, start, end)
            content_type, body = _content_type_at(message, typed, end)
            frame = Invoke(ident, content_type, message[body:end], name)
        else:
            content_type, body = _content_type_at(message, start, end)
            frame = Invoke(ident, content_type, message[body:end])
    elif kind == KIND_ACK:
        if length:
            raise FrameError("payload", "ack carries no payload")
        frame = Ack(ident, flags != 0)
    elif kind == KIND_RESULT:
        if length < 2:
            raise FrameError("payload", "result payload lacks a status")
        (status,) = _U16.unpack_from(message, start)
        if not 200 <= status <= 599:
            raise FrameError("payload", f"status {status} is outside 200..599")
        content_type, body = _content_type_at(message, start + 2, end)
        frame = Result(ident, status, content_type, message[body:end])
    elif kind == KIND_ERROR:
        if length < 2:
            raise FrameError("payload", "error payload lacks a code")
        (code,) = _U16.unpack_from(message, start)
        if code not in _ERROR_CODES:
            raise FrameError("payload", f"unknown error code {code}")
        frame = Error(ident, code, _text(message[start + 2 : end]))
    elif kind == KIND_GOAWAY:
        if ident != 0:
            raise FrameError("id", "goaway id must be 0")
        frame = Goaway(_text(message[start:end]))
    else:
        if length != 8:
            raise FrameError("payload", f"{_KIND_NAMES[kind]} payload must be 8 bytes")
        (timestamp,) = _F64.unpack_from(message, start)
        if not math.isfinite(timestamp):
            raise FrameError("payload", f"{_KIND_NAMES[kind]} timestamp is not finite")
        frame = Ping(ident, timestamp) if kind == KIND_PING else Pong(ident, timestamp)
    return frame, end


def iter_frames(message: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Iterator[Frame]:
    """
    The frames of one message in order; raises FrameError at the first bad one, after yielding
    those before it. An empty message is malformed: a message holds at least one frame.
    """
    offset = 0
    size = len(message)
    while True:
        frame, offset = read_frame(message, offset, max_payload)
        yield frame
        if offset >= size:
            return


def decode_frame(message: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Decodes a message that must hold exactly one frame."""
    frame, end = read_frame(message, 0, max_payload)
    if end != len(message):
        raise FrameError("length", f"{len(message) - end} bytes follow the frame")
    return frame

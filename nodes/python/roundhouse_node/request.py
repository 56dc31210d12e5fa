"""What a function gets (Request) and may return (Response), and how answers become frames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

TEXT_PLAIN = "text/plain; charset=utf-8"
OCTET_STREAM = "application/octet-stream"
APPLICATION_JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


class Request:
    """One invocation as a function sees it."""

    __slots__ = ("id", "function", "body", "content_type")

    def __init__(self, ident: int, function: str | None, body: bytes, content_type: str) -> None:
        self.id: int = ident
        """Invocation id, unique on its stream."""
        self.function: str | None = function
        """The function's name; None for the default function."""
        self.body: bytes = body
        """Request body as the gateway sent it."""
        self.content_type: str = content_type
        """Media type of the body; "" when unknown."""

    def text(self) -> str:
        """The body as UTF-8 text (invalid sequences replaced, as the reference node does)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError on invalid JSON."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        return (
            f"Request(id={self.id}, function={self.function!r}, "
            f"content_type={self.content_type!r}, body=<{len(self.body)} bytes>)"
        )


@dataclass(slots=True)
class Response:
    """A full answer: status 200..599, a body (str, bytes, None or JSON-able) and its type."""

    status: int = 200
    body: Any = None
    content_type: str | None = None
    """Defaults from the body: text, octet-stream, JSON, or "" for no body."""


def _json_bytes(value: Any) -> bytes:
    # Compact and unescaped, like JSON.stringify; NaN has no JSON form, so it fails the call.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def body_of(value: Any) -> tuple[str, bytes]:
    """The default content type and bytes of a returned body."""
    if value is None:
        return "", b""
    if isinstance(value, str):
        return TEXT_PLAIN, value.encode("utf-8")
    if isinstance(value, bytes):
        return OCTET_STREAM, value
    if isinstance(value, (bytearray, memoryview)):
        return OCTET_STREAM, bytes(value)
    return APPLICATION_JSON, _json_bytes(value)


def normalise(value: Any) -> tuple[int, str, bytes]:
    """Status, content type and bytes of whatever a function returned; raises if it cannot."""
    if isinstance(value, Response):
        status = value.status
        if type(status) is not int or not 200 <= status <= 599:
            raise ValueError(f"function returned status {status!r}, outside 200..599")
        content_type, body = body_of(value.body)
        return status, content_type if value.content_type is None else value.content_type, body
    content_type, body = body_of(value)
    return 200, content_type, body


def problem(status: int, kind: str, title: str, detail: str) -> bytes:
    """An RFC 9457 problem body in the gateway's key order."""
    return _json_bytes(
        {
            "type": f"urn:roundhouse:problem:{kind}",
            "title": title,
            "status": status,
            "detail": detail,
        }
    )

"""The node: serves registered functions over roundhouse.v1 streams (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import http
import inspect
import logging
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from types import CoroutineType
from typing import Any, Final, TypeVar, overload

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.legacy.protocol import broadcast
from websockets.legacy.server import WebSocketServer, WebSocketServerProtocol, serve

from .frame import (
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_LARGE,
    CLOSE_UNSUPPORTED_DATA,
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_STREAM_PATH,
    ERROR_FUNCTION_FAILED,
    ERROR_REJECTED,
    HEADER_BYTES,
    SUBPROTOCOL,
    FrameError,
    Invoke,
    Ping,
    Pong,
    encode_ack,
    encode_error,
    encode_goaway,
    encode_ping,
    encode_pong,
    encode_result,
    is_function_name,
    read_frame,
)
from .request import PROBLEM_JSON, Request, normalise, problem

Handler = Callable[[Request], Any]
"""A function: `async def f(request)` (or a plain `def`) returning what becomes the result."""
H = TypeVar("H", bound=Handler)

BATCH_TARGET_BYTES: Final = 64 * 1024
"""Size a coalesced message aims for: large enough to amortise a write, small enough for latency."""
MAX_ERROR_MESSAGE: Final = 4096
"""Longest error message sent, in characters, so that the error frame always fits."""

_log = logging.getLogger("roundhouse_node")
_HTTPResponse = tuple[http.HTTPStatus, list[tuple[str, str]], bytes]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A registered function and how the node treats it."""

    name: str | None
    """None for the default function."""
    handler: Handler
    idempotent: bool = False
    """Acks carry `retryable`: the gateway may run it again elsewhere after a lost stream."""
    max_body_bytes: int | None = None
    """Larger bodies are answered 413 without running the function."""
    timeout_s: float | None = None
    """After this long the task is cancelled and the answer is 504."""


@dataclass(slots=True)
class NodeStats:
    """Counters since the node started, and gauges."""

    connections: int = 0
    open: int = 0
    invocations: int = 0
    acked: int = 0
    rejected: int = 0
    results: int = 0
    errors: int = 0
    running: int = 0
    peak_running: int = 0
    waiting: int = 0
    cancelled: int = 0
    """Invocations whose task the node cancelled (stream lost, timeout, grace over)."""
    pings: int = 0
    goaways: int = 0
    protocol_errors: int = 0
    heartbeat_timeouts: int = 0


class _Invocation:
    """One invocation from its arrival until its single terminal frame (or its stream's end)."""

    __slots__ = ("stream", "frame", "spec", "task", "timer", "accepted", "started", "answered")

    def __init__(self, stream: _Stream, frame: Invoke, spec: FunctionSpec | None) -> None:
        self.stream = stream
        self.frame = frame
        self.spec = spec
        self.task: asyncio.Future[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.accepted = False
        # Whether its task has taken its first step: cancelling a task before that skips its body.
        self.started = False
        # Set once the terminal frame is queued or can never be sent: later outcomes are dropped.
        self.answered = False

    def time_out(self) -> None:
        self.stream.time_out(self)


def _reason(text: str) -> str:
    """A close reason within the 123 bytes a close frame allows."""
    raw = text.encode("utf-8", "replace")
    return text if len(raw) <= 120 else raw[:120].decode("utf-8", "ignore")


def _failure(ident: int, exc: BaseException, max_payload: int) -> bytes:
    """The error frame (code 1) for what a function raised, its message cut to fit the frame."""
    message = str(exc)[:MAX_ERROR_MESSAGE]
    room = max_payload - 2
    raw = message.encode("utf-8", "replace")
    if len(raw) > room:
        message = raw[: max(room, 0)].decode("utf-8", "ignore")
    return encode_error(ident, ERROR_FUNCTION_FAILED, message, max_payload)


class _Stream:
    """The node's side of one stream: acks in arrival order, runs functions concurrently."""

    def __init__(self, node: Node, ws: WebSocketServerProtocol) -> None:
        self.node = node
        self.ws = ws
        self.loop = asyncio.get_running_loop()
        self.max_payload = node.max_payload
        self.message_limit = HEADER_BYTES + node.max_payload
        self.batch_limit = min(BATCH_TARGET_BYTES, self.message_limit)
        # Waiting (unacked) and running invocations by id: ids must be unique among them.
        self.inflight: dict[int, _Invocation] = {}
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.flush_scheduled = False
        self.draining = False
        self.closing = False
        self.idle = asyncio.Event()
        self.last_rx = self.loop.time()
        self.ping_seq = 0
        self.next_ping = self.last_rx + (node.ping_interval_s or 0.0)
        self.timer: asyncio.TimerHandle | None = None
        self.closer: asyncio.Task[None] | None = None

    async def run(self) -> None:
        self._arm()
        recv = self.ws.recv
        try:
            while True:
                self.receive(await recv())
        except ConnectionClosed:
            pass
        finally:
            self.lost()

    # Receiving

    def receive(self, message: str | bytes) -> None:
        """A message holds one or more frames; a bad one closes the stream and ends the message."""
        if self.closing:
            return
        self.last_rx = self.loop.time()
        if type(message) is str:
            self.protocol_error(CLOSE_UNSUPPORTED_DATA, "text message on a binary stream")
            return
        assert isinstance(message, bytes)
        size = len(message)
        if size > self.message_limit:
            self.protocol_error(
                CLOSE_TOO_LARGE, f"message of {size} bytes exceeds {self.message_limit}"
            )
            return
        offset = 0
        max_payload = self.max_payload
        try:
            while True:
                frame, offset = read_frame(message, offset, max_payload)
                kind = type(frame)
                if kind is Invoke:
                    self.invoke(frame)  # type: ignore[arg-type]
                elif kind is Ping:
                    self.node._stats.pings += 1
                    self.send(encode_pong(frame.id, frame.timestamp))  # type: ignore[union-attr]
                elif kind is not Pong:
                    self.protocol_error(
                        CLOSE_PROTOCOL_ERROR, f"the gateway sent a {kind.__name__.lower()} frame"
                    )
                if offset >= size or self.closing:
                    return
        except FrameError as error:
            code = CLOSE_TOO_LARGE if error.code == "oversized" else CLOSE_PROTOCOL_ERROR
            self.protocol_error(code, f"malformed frame ({error.code}): {error}")
        except Exception:
            _log.exception("stream handler failed")
            self.close(CLOSE_INTERNAL_ERROR, "internal error")

    def invoke(self, frame: Invoke) -> None:
        node = self.node
        stats = node._stats
        stats.invocations += 1
        ident = frame.id
        if self.draining:
            stats.rejected += 1
            self.send(encode_error(ident, ERROR_REJECTED, "node is draining"))
            return
        if ident in self.inflight:
            self.protocol_error(CLOSE_PROTOCOL_ERROR, f"id {ident} is already in flight")
            return
        name = frame.function
        spec = node._default if name is None else node._functions.get(name)
        invocation = _Invocation(self, frame, spec)
        self.inflight[ident] = invocation
        if node._waiting or node._running >= node.concurrency:
            node._waiting.append(invocation)
            node._pump()
        else:
            self.accept(invocation)

    # Running

    def accept(self, invocation: _Invocation) -> None:
        """Acks, then starts the function: the ack promises the gateway it may run."""
        invocation.accepted = True
        frame = invocation.frame
        ident = frame.id
        spec = invocation.spec
        node = self.node
        node._stats.acked += 1
        if spec is None:
            self.send(encode_ack(ident))
            detail = (
                "no default function"
                if frame.function is None
                else f'no function named "{frame.function}"'
            )
            body = problem(404, "unknown-function", "Unknown function", detail)
            self.answer(invocation, encode_result(ident, 404, PROBLEM_JSON, body))
            return
        self.send(encode_ack(ident, spec.idempotent))
        body_bytes = frame.body
        limit = spec.max_body_bytes
        if limit is not None and len(body_bytes) > limit:
            detail = f"a body of {len(body_bytes)} bytes exceeds the function's limit of {limit}"
            body = problem(413, "payload-too-large", "Payload too large", detail)
            self.answer(invocation, encode_result(ident, 413, PROBLEM_JSON, body))
            return
        try:
            outcome = spec.handler(Request(ident, frame.function, body_bytes, frame.content_type))
        except Exception as exc:
            node._stats.errors += 1
            self.answer(invocation, _failure(ident, exc, self.max_payload))
            return
        if type(outcome) is not CoroutineType and not inspect.isawaitable(outcome):
            self.answer(invocation, self.result_frame(ident, outcome))
            return
        # One task per invocation that also answers it: cheaper than a done callback.
        invocation.task = self.loop.create_task(self.drive(invocation, outcome))
        node._running += 1
        if node._running > node._stats.peak_running:
            node._stats.peak_running = node._running
        if spec.timeout_s is not None:
            invocation.timer = self.loop.call_later(spec.timeout_s, invocation.time_out)

    def result_frame(self, ident: int, value: Any) -> bytes:
        stats = self.node._stats
        try:
            status, content_type, body = normalise(value)
            data = encode_result(ident, status, content_type, body, self.max_payload)
        except Exception as exc:
            stats.errors += 1
            return _failure(ident, exc, self.max_payload)
        stats.results += 1
        return data

    async def drive(self, invocation: _Invocation, outcome: Awaitable[Any]) -> None:
        """Runs the function and queues its answer, unless the invocation was answered already."""
        node = self.node
        try:
            if invocation.answered:
                # The stream ended before this task's first step: the function never starts.
                if type(outcome) is CoroutineType:
                    outcome.close()
                return
            invocation.started = True
            try:
                value = await outcome
            except asyncio.CancelledError:
                if not invocation.answered:
                    node._stats.errors += 1
                    self.answer(
                        invocation,
                        encode_error(invocation.frame.id, ERROR_FUNCTION_FAILED, "cancelled"),
                    )
                return
            except Exception as exc:
                if not invocation.answered:
                    node._stats.errors += 1
                    self.answer(invocation, _failure(invocation.frame.id, exc, self.max_payload))
                return
            if not invocation.answered:
                self.answer(invocation, self.result_frame(invocation.frame.id, value))
        finally:
            node._running -= 1
            if invocation.timer is not None:
                invocation.timer.cancel()
                invocation.timer = None
            if node._waiting:
                node._pump()

    def time_out(self, invocation: _Invocation) -> None:
        invocation.timer = None
        if invocation.answered or invocation.task is None:
            return
        spec = invocation.spec
        assert spec is not None and spec.timeout_s is not None
        detail = f"no answer within {round(spec.timeout_s * 1000)} ms"
        body = problem(504, "function-timeout", "Function timed out", detail)
        self.answer(invocation, encode_result(invocation.frame.id, 504, PROBLEM_JSON, body))
        self._cancel(invocation)

    def _cancel(self, invocation: _Invocation) -> None:
        """Fires the invocation's cancellation (its abort signal), counted once."""
        task = invocation.task
        if task is None or task.done():
            return
        self.node._stats.cancelled += 1
        if invocation.started:
            task.cancel()
        # Otherwise the task sees `answered` at its first step and skips the function.

    def answer(self, invocation: _Invocation, data: bytes) -> None:
        """Queues the invocation's terminal frame; it leaves the in-flight set."""
        invocation.answered = True
        ident = invocation.frame.id
        if self.inflight.get(ident) is invocation:
            del self.inflight[ident]
        self.send(data)
        if self.draining and not self.inflight:
            self.idle.set()

    # Sending

    def send(self, data: bytes) -> None:
        """Queues a frame; frames queued before the next event-loop turn leave in one message."""
        if self.closing:
            return
        size = len(data)
        if self.out and self.out_bytes + size > self.batch_limit:
            self.flush()
        self.out.append(data)
        self.out_bytes += size
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush_after_first_steps)

    def flush_after_first_steps(self) -> None:
        # Tasks created with the frames queued so far take their first step after this callback:
        # waiting one more turn lets fast results share the message with their acks, as the
        # reference node's do, halving the messages per invocation.
        self.loop.call_soon(self.scheduled_flush)

    def scheduled_flush(self) -> None:
        self.flush_scheduled = False
        self.flush()

    def flush(self) -> None:
        out = self.out
        if not out:
            return
        self.out = []
        self.out_bytes = 0
        broadcast((self.ws,), out[0] if len(out) == 1 else b"".join(out))

    # Heartbeat, drain and close

    def _arm(self) -> None:
        node = self.node
        if node.ping_interval_s is None and node.heartbeat_timeout_s is None:
            return
        at = self.next_ping if node.ping_interval_s is not None else float("inf")
        if node.heartbeat_timeout_s is not None:
            at = min(at, self.last_rx + node.heartbeat_timeout_s)
        self.timer = self.loop.call_at(at, self._tick)

    def _tick(self) -> None:
        self.timer = None
        if self.closing:
            return
        node = self.node
        now = self.loop.time()
        if node.heartbeat_timeout_s is not None and now >= self.last_rx + node.heartbeat_timeout_s:
            node._stats.heartbeat_timeouts += 1
            _log.warning("closing stream: no frame for %.1f s", now - self.last_rx)
            self.close(CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout")
            return
        if node.ping_interval_s is not None and now >= self.next_ping:
            self.ping_seq += 1
            self.send(encode_ping(self.ping_seq, time.time() * 1000.0))
            self.next_ping = now + node.ping_interval_s
        self._arm()

    def goaway(self, reason: str) -> None:
        """Stops taking invocations; rejects the unacked ones, lets the acked ones finish."""
        if self.draining or self.closing:
            return
        self.draining = True
        stats = self.node._stats
        stats.goaways += 1
        self.send(encode_goaway(reason, self.max_payload))
        for ident, invocation in list(self.inflight.items()):
            if not invocation.accepted:
                stats.rejected += 1
                self.answer(invocation, encode_error(ident, ERROR_REJECTED, "node is draining"))
        if not self.inflight:
            self.idle.set()

    def protocol_error(self, code: int, reason: str) -> None:
        self.node._stats.protocol_errors += 1
        _log.warning("closing stream: %s", reason)
        self.close(code, reason)

    def close(self, code: int, reason: str) -> None:
        """Closes after whatever is queued, so frames sent before the close still arrive."""
        if self.closing:
            return
        self.flush()
        self.closing = True
        self.closer = self.loop.create_task(self.ws.close(code, _reason(reason)))
        # After the first steps of tasks already created: a function acked before the bad frame
        # has started, as it would have with the reference node, before it is cancelled.
        self.loop.call_soon(self.lost)

    def lost(self) -> None:
        """The stream is over: running tasks are cancelled and their answers dropped."""
        self.closing = True
        self.out = []
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        node = self.node
        node._streams.discard(self)
        for invocation in self.inflight.values():
            invocation.answered = True
            if invocation.timer is not None:
                invocation.timer.cancel()
                invocation.timer = None
            self._cancel(invocation)
        self.inflight.clear()
        self.idle.set()


class Node:
    """
    A roundhouse node: register functions, then `run()` (blocking) or `await serve()`.

    At most `concurrency` functions run at once across all streams; further invocations wait
    unacked in arrival order. Frames are limited to `max_payload` bytes of payload, like the
    gateway's. On close the node drains for up to `grace_s`; it pings every `ping_interval_s`
    and closes a stream silent for `heartbeat_timeout_s` (None disables either).
    """

    def __init__(
        self,
        concurrency: int = 64,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        grace_s: float = 30.0,
        ping_interval_s: float | None = 5.0,
        heartbeat_timeout_s: float | None = 15.0,
        *,
        path: str = DEFAULT_STREAM_PATH,
        health_path: str = "/health",
        close_timeout_s: float = 5.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0 < max_payload < 1 << 32:
            raise ValueError("max_payload must be in 1..2^32 - 1")
        self.concurrency = concurrency
        self.max_payload = max_payload
        self.grace_s = grace_s
        self.ping_interval_s = ping_interval_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.path = path
        self.health_path = health_path
        self.close_timeout_s = close_timeout_s
        self._functions: dict[str, FunctionSpec] = {}
        self._default: FunctionSpec | None = None
        self._streams: set[_Stream] = set()
        self._waiting: deque[_Invocation] = deque()
        self._running = 0
        self._stats = NodeStats()
        self._draining = False
        self._server: WebSocketServer | None = None
        self._closing: asyncio.Task[None] | None = None

    # Registration

    def function(
        self,
        name: str,
        *,
        idempotent: bool = False,
        max_body_bytes: int | None = None,
        timeout_s: float | None = None,
    ) -> Callable[[H], H]:
        """Registers the decorated function under `name`."""

        def register(handler: H) -> H:
            self.add_function(
                name,
                handler,
                idempotent=idempotent,
                max_body_bytes=max_body_bytes,
                timeout_s=timeout_s,
            )
            return handler

        return register

    @overload
    def default(self, handler: H, /) -> H:
        ...

    @overload
    def default(
        self,
        handler: None = None,
        /,
        *,
        idempotent: bool = False,
        max_body_bytes: int | None = None,
        timeout_s: float | None = None,
    ) -> Callable[[H], H]:
        ...

    def default(
        self,
        handler: H | None = None,
        /,
        *,
        idempotent: bool = False,
        max_body_bytes: int | None = None,
        timeout_s: float | None = None,
    ) -> H | Callable[[H], H]:
        """Registers the default function: `@node.default` or `@node.default(idempotent=True)`."""

        def register(fn: H) -> H:
            self.add_function(
                None, fn, idempotent=idempotent, max_body_bytes=max_body_bytes, timeout_s=timeout_s
            )
            return fn

        return register if handler is None else register(handler)

    def add_function(
        self,
        name: str | None,
        handler: Handler,
        *,
        idempotent: bool = False,
        max_body_bytes: int | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """Registers `handler` under `name`, or as the default function when `name` is None."""
        if name is not None and not is_function_name(name):
            raise ValueError(
                f"function name {name!r} does not match ^[A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}$"
            )
        if (self._default if name is None else self._functions.get(name)) is not None:
            raise ValueError(
                f"{'the default function' if name is None else repr(name)} is already registered"
            )
        if max_body_bytes is not None and max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        spec = FunctionSpec(name, handler, idempotent, max_body_bytes, timeout_s)
        if name is None:
            self._default = spec
        else:
            self._functions[name] = spec

    # Serving

    @property
    def draining(self) -> bool:
        """Whether the node has started to drain (health answers 503)."""
        return self._draining

    @property
    def port(self) -> int:
        """The port the node listens on, once serve() has returned."""
        if self._server is None:
            raise RuntimeError("the node is not serving")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    def stats(self) -> NodeStats:
        """A snapshot of the node's counters."""
        return replace(
            self._stats,
            open=len(self._streams),
            running=self._running,
            waiting=sum(1 for invocation in self._waiting if not invocation.answered),
        )

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Starts listening (port 0 picks a free one) and returns the port."""
        if self._server is not None:
            raise RuntimeError("the node is already serving")
        self._server = await serve(
            self._handle,
            host,
            port,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            process_request=self._process_request,
            compression=None,
            # The protocol has its own ping frames; WebSocket-level ones would only add traffic.
            ping_interval=None,
            ping_timeout=None,
            close_timeout=self.close_timeout_s,
            # Room past the limit, so an oversized message is answered 4002 rather than 1009.
            max_size=2 * (HEADER_BYTES + self.max_payload),
        )
        return self.port

    async def close(self, grace_s: float | None = None) -> None:
        """Drains: goaway on every stream, waits for acked invocations (up to the grace), closes."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(
                self._drain(self.grace_s if grace_s is None else grace_s)
            )
        await asyncio.shield(self._closing)

    def run(self, port: int, host: str = "127.0.0.1") -> None:
        """Serves until SIGTERM or SIGINT, then drains and returns."""
        asyncio.run(self._run_until_signal(host, port))

    async def _run_until_signal(self, host: str, port: int) -> None:
        await self.serve(host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            await self.close()

    async def _drain(self, grace_s: float) -> None:
        self._draining = True
        streams = list(self._streams)
        for stream in streams:
            stream.goaway("node shutting down")
        waits = [asyncio.ensure_future(stream.idle.wait()) for stream in streams]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=grace_s)
            for wait in pending:
                wait.cancel()
        for stream in list(self._streams):
            stream.close(CLOSE_NORMAL, "drained")
        closers = [stream.closer for stream in streams if stream.closer is not None]
        if closers:
            await asyncio.wait(closers)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, ws: WebSocketServerProtocol) -> None:
        stream = _Stream(self, ws)
        self._streams.add(stream)
        self._stats.connections += 1
        if self._draining:
            stream.goaway("node shutting down")
        await stream.run()

    async def _process_request(self, path: str, headers: Headers) -> _HTTPResponse | None:
        route = path.split("?", 1)[0]
        if route == self.health_path:
            if self._draining:
                return (
                    http.HTTPStatus.SERVICE_UNAVAILABLE,
                    [("Content-Type", "text/plain")],
                    b"draining",
                )
            return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"ok"
        if route != self.path:
            return http.HTTPStatus.NOT_FOUND, [], b"not found\n"
        if SUBPROTOCOL not in _offered(headers.get_all("Sec-WebSocket-Protocol")):
            return (
                http.HTTPStatus.BAD_REQUEST,
                [],
                f"the {SUBPROTOCOL} subprotocol is required\n".encode(),
            )
        if self._draining:
            return http.HTTPStatus.SERVICE_UNAVAILABLE, [], b"draining\n"
        return None

    def _pump(self) -> None:
        """Starts waiting invocations, in arrival order, while slots are free."""
        waiting = self._waiting
        while waiting and self._running < self.concurrency:
            invocation = waiting.popleft()
            if not invocation.answered and not invocation.stream.closing:
                invocation.stream.accept(invocation)


def _offered(values: Iterable[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",")]


__all__ = ["FunctionSpec", "Handler", "Node", "NodeStats"]

"""The node end to end over loopback WebSockets, with a scripted gateway on the other side."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import sys
import unittest
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatusCode
from websockets.legacy.client import WebSocketClientProtocol, connect
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roundhouse_node import Node, Request, Response  # noqa: E402
from roundhouse_node.frame import (  # noqa: E402
    Ack,
    Error,
    Frame,
    Goaway,
    Ping,
    Pong,
    Result,
    encode_ack,
    encode_frame,
    encode_invoke,
    encode_ping,
    iter_frames,
)

# The node logs each stream it closes for a protocol error; here that is the point of the test.
logging.getLogger("roundhouse_node").setLevel(logging.ERROR)

# Every wait is bounded: a missing frame fails the test instead of hanging it.
WAIT_S = 5.0
MAX_PAYLOAD = 4096


def invoke(
    ident: int, function: str | None = None, body: bytes = b"", content_type: str = ""
) -> bytes:
    return encode_invoke(ident, content_type, body, function, MAX_PAYLOAD)


class Gateway:
    """The gateway's side of one stream, frame by frame."""

    def __init__(self, ws: WebSocketClientProtocol) -> None:
        self.ws = ws
        self.pending: list[Frame] = []
        self.messages = 0

    async def send(self, *frames: bytes) -> None:
        await self.ws.send(b"".join(frames))

    async def message(self) -> list[Frame]:
        """The frames of the next whole message."""
        data = await asyncio.wait_for(self.ws.recv(), WAIT_S)
        assert isinstance(data, bytes)
        self.messages += 1
        return list(iter_frames(data, MAX_PAYLOAD))

    async def frame(self) -> Frame:
        while not self.pending:
            self.pending.extend(await self.message())
        return self.pending.pop(0)

    async def frames(self, count: int) -> list[Frame]:
        return [await self.frame() for _ in range(count)]

    async def until_pong(self) -> list[Frame]:
        """Frames sent before the node answered a ping sent now: what it had queued by then."""
        await self.send(encode_ping(999, 1.0))
        seen: list[Frame] = []
        while True:
            frame = await self.frame()
            if isinstance(frame, Pong) and frame.id == 999:
                return seen
            seen.append(frame)

    async def close_code(self) -> int | None:
        """Reads until the node closes the stream; the close code it sent."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), WAIT_S)
        except ConnectionClosed:
            pass
        return self.ws.close_code


def problem_type(frame: Frame) -> str:
    assert isinstance(frame, Result)
    return str(json.loads(frame.body)["type"])


class NodeTestCase(unittest.IsolatedAsyncioTestCase):
    """A node with test functions on a free loopback port."""

    node_options: dict[str, Any] = {}

    async def asyncSetUp(self) -> None:
        self.node = Node(max_payload=MAX_PAYLOAD, **self.node_options)
        self.gate = asyncio.Event()
        self.started: list[int] = []
        self.cancelled = asyncio.Event()
        self.seq = 0
        node = self.node

        @node.default
        async def default(request: Request) -> Response:
            return Response(200, request.body, request.content_type)

        @node.function("echo")
        async def echo(request: Request) -> Response:
            return Response(200, request.body, request.content_type)

        @node.function("idem", idempotent=True)
        async def idem(request: Request) -> bytes:
            return request.body

        @node.function("small", max_body_bytes=16)
        async def small(request: Request) -> bytes:
            return request.body

        @node.function("slow", timeout_s=0.05)
        async def slow(request: Request) -> None:
            await self.block(request)

        @node.function("block")
        async def block(request: Request) -> str:
            await self.block(request)
            return f"released {request.id}"

        @node.function("seq")
        async def seq(request: Request) -> str:
            self.seq += 1
            return str(self.seq - 1)

        @node.function("text")
        async def text(request: Request) -> str:
            return request.text().upper()

        @node.function("json")
        async def as_json(request: Request) -> Any:
            return {"got": request.json(), "ct": request.content_type}

        @node.function("none")
        async def none(request: Request) -> None:
            return None

        @node.function("status")
        async def status(request: Request) -> Response:
            return Response(int(request.text()), "made")

        @node.function("fail")
        async def fail(request: Request) -> None:
            raise ValueError(request.text())

        @node.function("sync")
        def sync(request: Request) -> str:
            return "sync " + request.text()

        @node.function("big")
        async def big(request: Request) -> bytes:
            return b"x" * MAX_PAYLOAD

        self.port = await node.serve("127.0.0.1", 0)

    async def block(self, request: Request) -> None:
        self.started.append(request.id)
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def asyncTearDown(self) -> None:
        self.gate.set()
        await asyncio.wait_for(self.node.close(grace_s=1.0), WAIT_S)

    async def connect(self, subprotocols: list[str] | None = None) -> Gateway:
        ws = await asyncio.wait_for(
            connect(
                f"ws://127.0.0.1:{self.port}/_roundhouse/stream",
                subprotocols=[
                    Subprotocol(p)
                    for p in (["roundhouse.v1"] if subprotocols is None else subprotocols)
                ],
                compression=None,
                ping_interval=None,
                max_size=None,
            ),
            WAIT_S,
        )
        self.addAsyncCleanup(ws.close)
        return Gateway(ws)

    async def http_get(self, path: str) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: node\r\n\r\n".encode())
        response = await asyncio.wait_for(reader.read(), WAIT_S)
        writer.close()
        head, _, body = response.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), body


class Calls(NodeTestCase):
    async def test_named_and_default_calls_are_acked_then_answered(self) -> None:
        gw = await self.connect()
        self.assertEqual(gw.ws.subprotocol, "roundhouse.v1")
        await gw.send(invoke(1, None, b"hi", "text/plain"), invoke(2, "echo", b"yo", "a/b"))
        first = await gw.message()
        # Acks for invocations that arrived together leave together, ahead of any result.
        self.assertEqual(first[:2], [Ack(1), Ack(2)])
        rest = first[2:] + await gw.frames(2 - len(first[2:]))
        self.assertCountEqual(
            rest, [Result(1, 200, "text/plain", b"hi"), Result(2, 200, "a/b", b"yo")]
        )

    async def test_return_values_become_results_like_the_reference_node(self) -> None:
        gw = await self.connect()
        await gw.send(
            invoke(1, "text", b"abc"),
            invoke(2, "json", b'{"a":[1,"\xc3\xa9"]}', "application/json"),
            invoke(3, "none"),
            invoke(4, "status", b"201"),
            invoke(5, "idem", b"\x00\x01"),
            invoke(6, "sync", b"call"),
            invoke(7, "status", b"700"),
            invoke(8, "fail", b"out of widgets"),
            invoke(9, "big"),
        )
        frames = [f for f in await gw.frames(18) if not isinstance(f, Ack)]
        by_id = {f.id: f for f in frames}
        self.assertEqual(by_id[1], Result(1, 200, "text/plain; charset=utf-8", b"ABC"))
        self.assertEqual(
            by_id[2],
            Result(
                2, 200, "application/json", '{"got":{"a":[1,"é"]},"ct":"application/json"}'.encode()
            ),
        )
        self.assertEqual(by_id[3], Result(3, 200, "", b""))
        self.assertEqual(by_id[4], Result(4, 201, "text/plain; charset=utf-8", b"made"))
        self.assertEqual(by_id[5], Result(5, 200, "application/octet-stream", b"\x00\x01"))
        self.assertEqual(by_id[6], Result(6, 200, "text/plain; charset=utf-8", b"sync call"))
        self.assertIsInstance(by_id[7], Error)
        self.assertEqual(by_id[8], Error(8, 1, "out of widgets"))
        # A result over the limit becomes an error frame, after the ack.
        self.assertIsInstance(by_id[9], Error)
        self.assertEqual(len(frames), 9)

    async def test_unknown_function_is_acked_without_retryable_and_answered_404(self) -> None:
        gw = await self.connect()
        await gw.send(invoke(1, "resize"))
        self.assertEqual(await gw.frame(), Ack(1, False))
        result = await gw.frame()
        assert isinstance(result, Result)
        self.assertEqual((result.status, result.content_type), (404, "application/problem+json"))
        self.assertEqual(
            result.body,
            b'{"type":"urn:roundhouse:problem:unknown-function","title":"Unknown function",'
            b'"status":404,"detail":"no function named \\"resize\\""}',
        )

    async def test_idempotent_functions_ack_with_retryable(self) -> None:
        gw = await self.connect()
        await gw.send(invoke(1, "idem"), invoke(2, "echo"))
        acks = [f for f in await gw.frames(4) if isinstance(f, Ack)]
        self.assertEqual(acks, [Ack(1, True), Ack(2, False)])

    async def test_per_function_body_limit_answers_413_without_running(self) -> None:
        gw = await self.connect()
        await gw.send(invoke(1, "small", b"x" * 17), invoke(2, "small", b"y" * 16))
        frames = await gw.frames(4)
        by_id = {f.id: f for f in frames if not isinstance(f, Ack)}
        self.assertEqual(problem_type(by_id[1]), "urn:roundhouse:problem:payload-too-large")
        self.assertEqual(by_id[1].status, 413)  # type: ignore[union-attr]
        self.assertEqual(by_id[2], Result(2, 200, "application/octet-stream", b"y" * 16))

    async def test_per_function_timeout_cancels_and_answers_504(self) -> None:
        gw = await self.connect()
        await gw.send(invoke(1, "slow"))
        self.assertEqual(await gw.frame(), Ack(1))
        result = await gw.frame()
        self.assertEqual(problem_type(result), "urn:roundhouse:problem:function-timeout")
        self.assertEqual(result.status, 504)  # type: ignore[union-attr]
        await asyncio.wait_for(self.cancelled.wait(), WAIT_S)
        self.assertEqual(self.node.stats().cancelled, 1)

    async def test_invocations_start_in_arrival_order(self) -> None:
        gw = await self.connect()
        await gw.send(*(invoke(i, "seq") for i in range(1, 51)))
        frames = await gw.frames(100)
        self.assertEqual([f.id for f in frames if isinstance(f, Ack)], list(range(1, 51)))
        results = {f.id: f.body for f in frames if isinstance(f, Result)}
        self.assertEqual(results, {i: str(i - 1).encode() for i in range(1, 51)})

    async def test_pipelined_invocations_run_concurrently(self) -> None:
        gw = await self.connect()
        await gw.send(*(invoke(i, "block") for i in range(1, 11)))
        self.assertEqual(await gw.frames(10), [Ack(i) for i in range(1, 11)])
        self.assertEqual(self.node.stats().running, 10)
        self.gate.set()
        results = await gw.frames(10)
        self.assertCountEqual([f.id for f in results], range(1, 11))
        self.assertEqual(self.node.stats().peak_running, 10)

    async def test_ping_is_answered_with_pong(self) -> None:
        gw = await self.connect()
        await gw.send(encode_ping(42, 1234.5))
        self.assertEqual(await gw.frame(), Pong(42, 1234.5))


class ProtocolErrors(NodeTestCase):
    async def expect_close(self, code: int, *messages: bytes | str) -> Gateway:
        gw = await self.connect()
        for message in messages:
            await gw.ws.send(message)
        self.assertEqual(await gw.close_code(), code)
        return gw

    async def test_text_message_closes_4001(self) -> None:
        await self.expect_close(4001, "hello")

    async def test_malformed_frames_close_4000(self) -> None:
        header = struct.Struct(">BBHQI")
        cases = {
            "empty": b"",
            "short": b"\x01\x02",
            "version": header.pack(2, 5, 0, 1, 8) + bytes(8),
            "kind": header.pack(1, 9, 0, 1, 0),
            "flags": header.pack(1, 1, 2, 1, 1) + b"\x00",
            "id zero": header.pack(1, 1, 0, 0, 1) + b"\x00",
            "bad name": header.pack(1, 1, 1, 1, 3) + b"\x01-\x00",
            "past end": header.pack(1, 1, 0, 1, 9) + b"\x00",
        }
        for name, message in cases.items():
            with self.subTest(name):
                await self.expect_close(4000, message)

    async def test_gateway_only_kinds_from_the_gateway_close_4000(self) -> None:
        gateway_only: list[Frame] = [
            Ack(1),
            Result(1, 200, "", b""),
            Error(1, 2, "no"),
            Goaway("bye"),
        ]
        for frame in gateway_only:
            with self.subTest(frame=frame):
                await self.expect_close(4000, encode_frame(frame))

    async def test_oversized_payload_closes_4002(self) -> None:
        await self.expect_close(4002, invoke(1, None, b"x" * (MAX_PAYLOAD - 1)) + encode_ack(1))
        lying = struct.pack(">BBHQI", 1, 1, 0, 1, MAX_PAYLOAD + 1) + b"\x00"
        await self.expect_close(4002, lying)

    async def test_duplicate_in_flight_id_closes_4000(self) -> None:
        gw = await self.connect()
        await gw.send(invoke(1, "block"))
        self.assertEqual(await gw.frame(), Ack(1))
        await gw.send(invoke(1, "block"))
        self.assertEqual(await gw.close_code(), 4000)

    async def test_frames_before_a_bad_one_are_processed_and_none_after(self) -> None:
        gw = await self.connect()
        await gw.send(invoke(1, "block"), encode_ping(7, 2.0), encode_ack(5), invoke(2, "block"))
        self.assertEqual(await gw.frames(2), [Ack(1), Pong(7, 2.0)])
        self.assertEqual(await gw.close_code(), 4000)
        # The invocation acked before the bad frame started, and was cancelled with the stream.
        await asyncio.wait_for(self.cancelled.wait(), WAIT_S)
        self.assertEqual(self.started, [1])
        self.assertEqual(self.node.stats().invocations, 1)


class Heartbeat(NodeTestCase):
    node_options = {"ping_interval_s": 0.02, "heartbeat_timeout_s": 0.2}

    async def test_node_pings_and_closes_a_silent_stream_4003(self) -> None:
        gw = await self.connect()
        frame = await gw.frame()
        assert isinstance(frame, Ping)
        self.assertEqual(frame.id, 1)
        self.assertEqual(await gw.close_code(), 4003)
        self.assertEqual(self.node.stats().heartbeat_timeouts, 1)


class Lifecycle(NodeTestCase):
    node_options = {"concurrency": 2}

    async def test_a_dropped_stream_cancels_running_invocations(self) -> None:
        gw = await self.connect()
        await gw.send(invoke(1, "block"))
        self.assertEqual(await gw.frame(), Ack(1))
        gw.ws.transport.abort()
        await asyncio.wait_for(self.cancelled.wait(), WAIT_S)
        self.assertEqual(self.node.stats().cancelled, 1)

    async def test_backpressure_acks_only_while_slots_are_free_in_arrival_order(self) -> None:
        gw = await self.connect()
        await gw.send(*(invoke(i, "block") for i in range(1, 5)), invoke(5, "echo"))
        self.assertEqual(await gw.until_pong(), [Ack(1), Ack(2)])
        self.assertEqual(self.node.stats().waiting, 3)
        self.gate.set()
        frames = await gw.frames(8)
        self.assertEqual([f.id for f in frames if isinstance(f, Ack)], [3, 4, 5])
        self.assertCountEqual([f.id for f in frames if isinstance(f, Result)], range(1, 6))
        self.assertEqual(self.node.stats().peak_running, 2)

    async def test_goaway_rejects_new_work_finishes_acked_work_then_closes_1000(self) -> None:
        gw = await self.connect()
        self.assertEqual(await self.http_get("/health"), (200, b"ok"))
        await gw.send(invoke(1, "block"), invoke(2, "block"), invoke(3, "block"))
        self.assertEqual(await gw.until_pong(), [Ack(1), Ack(2)])
        closing = asyncio.ensure_future(self.node.close())
        # The waiting, never acked invocation is rejected along with the goaway.
        self.assertEqual(
            await gw.frames(2), [Goaway("node shutting down"), Error(3, 2, "node is draining")]
        )
        await gw.send(invoke(4, "echo"))
        self.assertEqual(await gw.frame(), Error(4, 2, "node is draining"))
        self.assertTrue(self.node.draining)
        self.gate.set()
        self.assertCountEqual(
            await gw.frames(2),
            [Result(i, 200, "text/plain; charset=utf-8", f"released {i}".encode()) for i in (1, 2)],
        )
        self.assertEqual(await gw.close_code(), 1000)
        await asyncio.wait_for(closing, WAIT_S)
        self.assertEqual(self.cancelled.is_set(), False)

    async def test_health_answers_503_while_draining(self) -> None:
        gw = await self.connect()
        await gw.send(invoke(1, "block"))
        self.assertEqual(await gw.frame(), Ack(1))
        closing = asyncio.ensure_future(self.node.close())
        self.assertIsInstance(await gw.frame(), Goaway)
        self.assertEqual((await self.http_get("/health"))[0], 503)
        self.gate.set()
        await asyncio.wait_for(closing, WAIT_S)

    async def test_drain_grace_over_closes_and_cancels(self) -> None:
        gw = await self.connect()
        await gw.send(invoke(1, "block"))
        self.assertEqual(await gw.frame(), Ack(1))
        await asyncio.wait_for(self.node.close(grace_s=0.05), WAIT_S)
        self.assertIsInstance(await gw.frame(), Goaway)
        self.assertEqual(await gw.close_code(), 1000)
        self.assertTrue(self.cancelled.is_set())


class Upgrade(NodeTestCase):
    async def test_other_subprotocols_are_refused_with_400(self) -> None:
        offers: list[list[str]] = [[], ["roundhouse.v2"]]
        for offered in offers:
            with self.subTest(offered=offered), self.assertRaises(InvalidStatusCode) as caught:
                await self.connect(offered)
            self.assertEqual(caught.exception.status_code, 400)

    async def test_other_paths_are_404_and_health_is_ok(self) -> None:
        self.assertEqual((await self.http_get("/elsewhere"))[0], 404)
        self.assertEqual(await self.http_get("/health?probe=1"), (200, b"ok"))


if __name__ == "__main__":
    unittest.main()

"""The frame codec against docs/protocol.md: round trips, the spec's example, malformed frames."""

from __future__ import annotations

import struct
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roundhouse_node.frame import (  # noqa: E402
    MAX_ID,
    Ack,
    Error,
    Frame,
    FrameError,
    Goaway,
    Invoke,
    Ping,
    Pong,
    Result,
    decode_frame,
    encode_ack,
    encode_error,
    encode_frame,
    encode_invoke,
    encode_result,
    iter_frames,
    read_frame,
)

HEADER = struct.Struct(">BBHQI")


def raw(kind: int, ident: int, payload: bytes = b"", flags: int = 0, version: int = 1) -> bytes:
    return HEADER.pack(version, kind, flags, ident, len(payload)) + payload


class RoundTrip(unittest.TestCase):
    def test_every_kind_survives_encode_then_decode(self) -> None:
        frames: list[Frame] = [
            Invoke(1, "text/plain", b"hello"),
            Invoke(MAX_ID, "", b"", "resize.v2-x_y"),
            Ack(7),
            Ack(7, True),
            Result(2, 201, "a/b", b"\x09\x08"),
            Result(3, 599, "", b""),
            Error(4, 1, "out of widgets \u00e9"),
            Error(5, 2, ""),
            Ping(0, 1.5),
            Pong(MAX_ID, -0.0),
            Goaway("draining"),
            Goaway(""),
        ]
        for frame in frames:
            with self.subTest(frame=frame):
                self.assertEqual(decode_frame(encode_frame(frame)), frame)

    def test_result_matches_the_protocol_example_byte_for_byte(self) -> None:
        expected = bytes.fromhex("0103000000000001000000050000000800c903612f620908")
        self.assertEqual(encode_result(2**32 + 5, 201, "a/b", b"\x09\x08"), expected)
        self.assertEqual(decode_frame(expected), Result(2**32 + 5, 201, "a/b", b"\x09\x08"))

    def test_flags_sit_in_bytes_2_and_3(self) -> None:
        named = encode_invoke(1, "", b"", "f")
        self.assertEqual(named[2:4], b"\x00\x01")
        self.assertEqual(named[16:19], b"\x01f\x00")
        self.assertEqual(encode_ack(1, True)[2:4], b"\x00\x01")
        self.assertEqual(encode_invoke(1, "", b"")[2:4], b"\x00\x00")

    def test_a_message_holds_frames_back_to_back(self) -> None:
        message = encode_ack(1) + encode_result(1, 200, "t", b"x") + encode_ack(2, True)
        self.assertEqual(
            list(iter_frames(message)), [Ack(1), Result(1, 200, "t", b"x"), Ack(2, True)]
        )

    def test_text_keeps_a_byte_order_mark(self) -> None:
        frame = decode_frame(raw(4, 1, b"\x00\x01\xef\xbb\xbfhi"))
        self.assertEqual(frame, Error(1, 1, "\ufeffhi"))


class Malformed(unittest.TestCase):
    def assert_malformed(self, message: bytes, code: str, max_payload: int = 1 << 20) -> None:
        with self.assertRaises(FrameError) as caught:
            read_frame(message, 0, max_payload)
        self.assertEqual(caught.exception.code, code)

    def test_header_rules(self) -> None:
        self.assert_malformed(b"", "truncated")
        self.assert_malformed(raw(2, 1)[:15], "truncated")
        self.assert_malformed(raw(2, 1, version=2), "version")
        self.assert_malformed(raw(0, 1), "kind")
        self.assert_malformed(raw(8, 1), "kind")
        self.assert_malformed(raw(1, 1, b"\x00", flags=0x0002), "flags")
        self.assert_malformed(raw(3, 1, b"\x00\xc8\x00", flags=0x0001), "flags")
        self.assert_malformed(raw(5, 1, struct.pack(">d", 1.0), flags=0x0001), "flags")
        self.assert_malformed(raw(2, MAX_ID + 1), "id")
        self.assert_malformed(raw(1, 0, b"\x00"), "id")
        self.assert_malformed(raw(2, 0), "id")
        self.assert_malformed(raw(7, 1), "id")
        self.assert_malformed(raw(2, 1, b"xx")[:-1], "length")
        self.assert_malformed(raw(1, 1, b"\x00" + b"x" * 10), "oversized", max_payload=10)

    def test_payload_rules(self) -> None:
        self.assert_malformed(raw(1, 1, b""), "payload")
        self.assert_malformed(raw(1, 1, b"\x05abc"), "payload")
        self.assert_malformed(raw(1, 1, b"\x01\x7f"), "payload")
        self.assert_malformed(raw(1, 1, b"\x01\x1f"), "payload")
        self.assert_malformed(raw(1, 1, b"", flags=1), "payload")
        self.assert_malformed(raw(1, 1, b"\x00\x00", flags=1), "payload")
        self.assert_malformed(raw(1, 1, b"\x02_a\x00", flags=1), "payload")
        self.assert_malformed(raw(1, 1, b"\x41" + b"a" * 65 + b"\x00", flags=1), "payload")
        self.assert_malformed(raw(1, 1, b"\x03a/b\x00", flags=1), "payload")
        self.assert_malformed(raw(1, 1, b"\x05abc", flags=1), "payload")
        self.assert_malformed(raw(2, 1, b"x"), "payload")
        self.assert_malformed(raw(3, 1, b"\x00"), "payload")
        self.assert_malformed(raw(3, 1, b"\x00\xc7\x00"), "payload")
        self.assert_malformed(raw(3, 1, b"\x02\x58\x00"), "payload")
        self.assert_malformed(raw(3, 1, b"\x00\xc8"), "payload")
        self.assert_malformed(raw(4, 1, b"\x00"), "payload")
        self.assert_malformed(raw(4, 1, b"\x00\x03"), "payload")
        self.assert_malformed(raw(4, 1, b"\x00\x01\xff"), "payload")
        self.assert_malformed(raw(4, 1, b"\x00\x01\xed\xa0\x80"), "payload")
        self.assert_malformed(raw(7, 0, b"\xc0\xaf"), "payload")
        self.assert_malformed(raw(5, 1, b"\x00" * 4), "payload")
        self.assert_malformed(raw(6, 1, struct.pack(">d", float("nan"))), "payload")
        self.assert_malformed(raw(5, 1, struct.pack(">d", float("inf"))), "payload")

    def test_a_name_of_64_bytes_is_allowed(self) -> None:
        name = "a" + "b" * 63
        self.assertEqual(decode_frame(encode_invoke(1, "", b"", name)), Invoke(1, "", b"", name))

    def test_frames_before_a_bad_one_come_out_first(self) -> None:
        seen: list[Frame] = []
        with self.assertRaises(FrameError):
            for frame in iter_frames(encode_ack(1) + raw(9, 1) + encode_ack(2)):
                seen.append(frame)
        self.assertEqual(seen, [Ack(1)])

    def test_an_empty_message_is_malformed(self) -> None:
        with self.assertRaises(FrameError):
            list(iter_frames(b""))

    def test_decode_frame_refuses_trailing_bytes(self) -> None:
        with self.assertRaises(FrameError):
            decode_frame(encode_ack(1) + b"\x00")

    def test_encoders_refuse_what_cannot_travel(self) -> None:
        bad: list[tuple[str, object]] = [
            ("id", lambda: encode_ack(0)),
            ("id", lambda: encode_ack(MAX_ID + 1)),
            ("payload", lambda: encode_result(1, 199, "", b"")),
            ("payload", lambda: encode_result(1, 600, "", b"")),
            ("payload", lambda: encode_result(1, 200, "caf\u00e9", b"")),
            ("payload", lambda: encode_result(1, 200, "x" * 256, b"")),
            ("payload", lambda: encode_invoke(1, "", b"", "-x")),
            ("payload", lambda: encode_error(1, 3, "")),
            ("oversized", lambda: encode_result(1, 200, "", b"x" * 8, max_payload=10)),
            ("oversized", lambda: encode_invoke(1, "", b"x" * 10, max_payload=10)),
            ("payload", lambda: encode_frame(Ping(1, float("nan")))),
            ("id", lambda: encode_frame(Goaway("x", 1))),
        ]
        for code, make in bad:
            with self.subTest(code=code), self.assertRaises(FrameError) as caught:
                make()  # type: ignore[operator]
            self.assertEqual(caught.exception.code, code)
        self.assertEqual(len(encode_result(1, 200, "", b"x" * 7, max_payload=10)), 26)


if __name__ == "__main__":
    unittest.main()

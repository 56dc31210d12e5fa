"""The functions docs/conformance.md asks of a node under test, on 127.0.0.1:$PORT.

Run from the repository root without installing: python3 nodes/python/examples/conformance_node.py
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

# Runs from a checkout: the library is the directory above this one.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    import websockets  # noqa: F401
except ImportError:
    # A `python3` earlier on PATH (e.g. a pyenv one) may lack Debian's python3-websockets,
    # which the system interpreter has; use that one rather than fail the suite.
    system = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system) and os.path.exists(system):
        os.execv(system, [system, *sys.argv])
    raise

from roundhouse_node import Node, Request, Response  # noqa: E402

node = Node()
seq_started = 0


def echoed(request: Request) -> Response:
    return Response(200, request.body, request.content_type)


@node.default
async def default(request: Request) -> Response:
    return echoed(request)


@node.function("echo")
async def echo(request: Request) -> Response:
    return echoed(request)


@node.function("idem", idempotent=True)
async def idem(request: Request) -> Response:
    return echoed(request)


@node.function("sleep")
async def sleep(request: Request) -> str:
    await asyncio.sleep(int(request.text().strip() or "0") / 1000)
    return "slept"


@node.function("fail")
async def fail(request: Request) -> None:
    raise RuntimeError(request.text())


@node.function("seq")
async def seq(request: Request) -> str:
    global seq_started
    before = seq_started
    seq_started += 1
    return str(before)


@node.function("aborted")
async def aborted(request: Request) -> str:
    return str(node.stats().cancelled)


@node.function("small", max_body_bytes=16)
async def small(request: Request) -> Response:
    return echoed(request)


@node.function("slow", timeout_s=0.1)
async def slow(request: Request) -> None:
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    node.run(port=int(os.environ["PORT"]), host="127.0.0.1")

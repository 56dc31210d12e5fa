"""roundhouse_node: serve functions to a Roundhouse gateway over the roundhouse.v1 stream."""

from .frame import (
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_STREAM_PATH,
    SUBPROTOCOL,
    FrameError,
)
from .node import FunctionSpec, Handler, Node, NodeStats
from .request import Request, Response

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "DEFAULT_STREAM_PATH",
    "SUBPROTOCOL",
    "FrameError",
    "FunctionSpec",
    "Handler",
    "Node",
    "NodeStats",
    "Request",
    "Response",
]
__version__ = "0.1.0"

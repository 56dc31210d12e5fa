"""The Python node `npm start` runs behind service `py`: two named functions on $PORT."""

import collections
import os
import sys
from typing import Any

# Runs from a checkout without installing the library.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from roundhouse_node import Node, Request  # noqa: E402

node = Node()


@node.function("upper")
async def upper(req: Request) -> str:
    return req.text().upper()


@node.function("words", idempotent=True)
async def words(req: Request) -> dict[str, Any]:
    counts = collections.Counter(req.json()["text"].split())
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    node.run(port=int(os.environ.get("PORT", "9201")))

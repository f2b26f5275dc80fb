"""The Mooncake trace (Kimi production, FAST'25): requests with block ids, no text.

``conversation_trace.jsonl`` gives each request a timestamp (ms from the trace start),
``input_length``, ``output_length`` and ``hash_ids``: one id per 512-token block, equal ids
meaning equal prefixes. No stream is known; ``racs.replay.pool`` replays it as one shared
automatic cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from racs.core.accounting import Tokens
from racs.core.errors import invalid
from racs.traffic.model import Block, Request

BLOCK_TOKENS = 512
EPOCH_MS = 1_767_225_600_000.0
"""Where the trace's relative clock is placed (2026-01-01T00:00:00Z) for pricing."""


def read_trace(
    path: str | Path, provider: str = "openai", model: str = "gpt-4.1"
) -> Iterator[Request]:
    """Requests of a Mooncake trace file, blocks from ``hash_ids`` (no text anywhere)."""
    with Path(path).open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ids = [str(h) for h in row["hash_ids"]]
                length = int(row["input_length"])
                output = int(row.get("output_length", 0))
                t = EPOCH_MS + float(row["timestamp"])
            except (ValueError, KeyError, TypeError) as exc:
                raise invalid(f"{path}:{line_no}: not a Mooncake trace line ({exc})") from None
            blocks = tuple(
                Block(h, min(BLOCK_TOKENS, length - i * BLOCK_TOKENS)) for i, h in enumerate(ids)
            )
            yield Request(
                timestamp_ms=t,
                provider=provider,
                model=model,
                tokens=Tokens(fresh=length, output=output),
                session="mooncake",
                stream="mooncake",
                source=f"{path}:{line_no}",
                blocks=blocks,
            )

"""Small constructed traffic with round prices, so periods and blocks check by hand."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from racs.core.accounting import Tokens
from racs.core.model import Pricing
from racs.core.prices import PriceBook
from racs.traffic.model import Request

SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"
CARD = {
    # USD per million tokens: 1M fresh sonnet tokens cost $3.00, 1M haiku output $5.00.
    SONNET: Pricing(input_per_mtok=3.0, cache_read_per_mtok=0.3, output_per_mtok=15.0),
    HAIKU: Pricing(input_per_mtok=1.0, cache_read_per_mtok=0.1, output_per_mtok=5.0),
}
CARD_JSON = {
    SONNET: {"inputPerMTok": 3.0, "cacheReadPerMTok": 0.3, "outputPerMTok": 15.0},
    HAIKU: {"inputPerMTok": 1.0, "cacheReadPerMTok": 0.1, "outputPerMTok": 5.0},
}


def ms(text: str) -> float:
    """An ISO time with offset as ms since the epoch."""
    return datetime.fromisoformat(text).timestamp() * 1000


def request(when: str | float, fresh: int = 0, model: str = SONNET, **more: int) -> Request:
    """One Claude request at ``when`` (ISO with offset, or ms) with ``fresh`` tokens."""
    t = ms(when) if isinstance(when, str) else when
    return Request(
        timestamp_ms=t,
        provider="anthropic",
        model=model,
        tokens=Tokens(fresh=fresh, **more),
        session="s",
        stream="s",
    )


@pytest.fixture
def card() -> PriceBook:
    """Round prices, no database."""
    return PriceBook(CARD, database=False)


def transcript_line(n: int, when: str, fresh: int, model: str = SONNET, session: str = "s") -> str:
    """One Claude Code assistant line (request ``n``) with ``fresh`` input tokens."""
    usage = {
        "input_tokens": fresh,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "output_tokens": 0,
    }
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": session,
            "timestamp": when,
            "requestId": f"req_{n}",
            "message": {"model": model, "id": f"msg_{n}", "usage": usage},
        }
    )


def write_transcript(folder: Path, lines: list[tuple[str, int]], model: str = SONNET) -> Path:
    """A session file of requests (time, fresh tokens) and a price card next to it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s.jsonl"
    path.write_text(
        "".join(transcript_line(i, w, f, model) + "\n" for i, (w, f) in enumerate(lines))
    )
    (folder.parent / "card.json").write_text(json.dumps(CARD_JSON))
    return path

"""Top findings quote replay's hindsight: what the best choice would have saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from racs.core.model import Pricing
from racs.core.prices import PriceBook
from racs.report.build import build_report
from racs.traffic.problems import Problems
from racs.traffic.sources import read

CARD = {
    "claude-sonnet-4-5": Pricing(
        input_per_mtok=3.0,
        cache_read_per_mtok=0.3,
        cache_write_5m_per_mtok=3.75,
        cache_write_1h_per_mtok=6.0,
    )
}


def _line(msg_id: str, stamp: str, written: int) -> str:
    usage = {
        "input_tokens": 1,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": written,
        "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 0,
    }
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": "s",
            "timestamp": stamp,
            "requestId": f"req_{msg_id}",
            "message": {"model": "claude-sonnet-4-5", "id": msg_id, "usage": usage},
        }
    )


def test_an_expiry_quotes_the_write_that_expired(tmp_path: Path) -> None:
    """100k written at 5m, written again 20 minutes later: an expiry of 100,000 tokens
    ($0.345 = 100,000 x (3.75 - 0.30) / 1e6). Replayed with a 1h first write: 0.60, then
    a read of 0.03 instead of 0.375 again: 0.63 against 0.75, saved $0.12."""
    f = tmp_path / "s.jsonl"
    f.write_text(
        _line("m1", "2026-02-10T10:00:00Z", 100_000)
        + "\n"
        + _line("m2", "2026-02-10T10:20:00Z", 100_000)
        + "\n"
    )
    problems = Problems()
    prices = PriceBook(CARD, database=False)
    report = build_report(read([f], problems), prices, problems, hindsight=True)
    [expiry] = [x for x in report.findings if x.cause == "expiry"]
    assert expiry.usd == pytest.approx(0.345)
    assert expiry.quote.startswith(
        "hindsight: a 1h write at the previous request would have saved $0.1200"
    )
    # The same $0.12 (the same choice) is the stream's mixed-tier finding, 1h before its
    # one pause: the expiry keeps none of it, so the stream's findings save it once.
    [mixed] = [x for x in report.findings if x.cause == "mixed_tier"]
    assert mixed.saved_usd == pytest.approx(0.12)
    assert expiry.saved_usd == 0
    plain = build_report(read([f], Problems()), prices, Problems())
    assert all(x.quote is None for x in plain.findings)

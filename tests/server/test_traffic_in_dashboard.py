"""Ingested traffic shows in the service: /stats and the ledger's runs (the dashboard's data)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import racs
from racs.ledger import create_ledger
from racs.traffic.ingest import ingest
from racs.traffic.problems import Problems
from racs.traffic.sources import read
from server.conftest import Served


def _line(msg_id: str, stamp: str, read_tokens: int, written: int) -> str:
    usage = {
        "input_tokens": 3,
        "cache_read_input_tokens": read_tokens,
        "cache_creation_input_tokens": written,
        "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 20,
    }
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": "s1",
            "timestamp": stamp,
            "requestId": f"req_{msg_id}",
            "message": {"model": "claude-sonnet-4-5", "id": msg_id, "usage": usage},
        }
    )


def test_ingested_requests_are_the_service_stats(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    """Two Claude Code requests ingested: /stats counts 2 calls, 4,000 read of 9,006 input."""
    transcript = tmp_path / "s1.jsonl"
    transcript.write_text(
        _line("m1", "2026-02-10T10:00:00Z", 0, 5_000)
        + "\n"
        + _line("m2", "2026-02-10T10:01:00Z", 4_000, 0)
        + "\n"
    )
    db = str(tmp_path / "ledger.db")
    done = ingest(read([transcript], Problems()), lambda clock: create_ledger(db, clock=clock))
    assert done.added == 2
    ledger = create_ledger(db)
    try:
        served = serve(engine=racs.create_racs(ledger=ledger), ledger=ledger)
        with served.client() as c:
            stats = c.get("/stats").json()
            runs = c.get("/ledger/runs?limit=8").json()["items"]
        assert stats["calls"] == 2
        assert stats["readTokens"] == 4_000
        assert stats["writeTokens"] == 5_000
        # 4,000 read of 5,003 + 4,003 = 9,006 all-in input tokens.
        assert stats["hitRatio"] == 4_000 / 9_006
        assert sorted(r["runId"][:8] for r in runs) == ["traffic-", "traffic-"]
    finally:
        ledger.close()

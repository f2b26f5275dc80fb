"""What the dashboard bounds so that a page answers quickly whatever the ledger's size."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import racs
from racs.core.accounting import Tokens
from racs.core.prices import PriceBook
from racs.ledger import create_ledger
from racs.ledger.viewstore import ViewStore
from racs.report.build import Filters, build_report
from racs.server.fold import Fold
from racs.server.views import SESSION_LIMIT
from racs.traffic import ledger as traffic_ledger
from racs.traffic.ingest import ingest
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from server.conftest import Served

T0 = 1_770_000_000_000


def _session(n: int) -> Iterator[Request]:
    """``n`` requests of one session, 30 s apart, each reading the prompt written before."""
    for i in range(n):
        read, written = (0, 20_000) if i == 0 else (20_000, 100)
        yield Request(
            timestamp_ms=float(T0 + i * 30_000),
            provider="anthropic",
            model="claude-sonnet-4-5",
            tokens=Tokens.all_in(read + written + 3, read, {"5m": written}, 50),
            session="long",
            stream="long",
            kind="main",
            request_id=f"req_{i}",
            project="/home/u/p",
            agent=None,
            source=f"/t/long.jsonl:{i + 1}",
        )


class TestSessionPage:
    def test_a_long_session_shows_its_first_requests_and_says_so(
        self, serve: Callable[..., Served], tmp_path: Path
    ) -> None:
        """A session longer than the page's cap draws and walks its first SESSION_LIMIT
        requests, flags the page as truncated, and still gives the command for all of it."""
        target = str(tmp_path / "l.db")
        ingest(_session(SESSION_LIMIT + 1), lambda clock: create_ledger(target, clock=clock))
        first = list(_session(SESSION_LIMIT))
        theirs = build_report(first, PriceBook(), Problems(), Filters(session="long"))
        ledger = create_ledger(target)
        # Folded beforehand: a backlog this size is otherwise folded in the background.
        store = ViewStore(target)
        Fold(store, PriceBook(), str(ledger.location)).catch_up()
        store.close()
        served = serve(engine=racs.create_racs(ledger=ledger), ledger=ledger)
        try:
            with served.client() as c:
                page = c.get("/traffic/session?id=long").json()
            assert page["truncated"] is True
            assert len(page["requests"]) == SESSION_LIMIT == 2_000
            assert page["requests"][-1]["t"] == T0 + (SESSION_LIMIT - 1) * 30_000
            assert page["total"]["requests"] == SESSION_LIMIT
            assert page["total"]["usd"]["total"] == pytest.approx(theirs.total.cost.total)
            assert page["command"].endswith("--session long")
            whole = build_report(traffic_ledger.read(target, Problems()), PriceBook(), Problems())
            assert whole.total.requests == SESSION_LIMIT + 1
        finally:
            ledger.close()

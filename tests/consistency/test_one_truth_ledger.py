"""The ledger gives the same answer as the traffic it was fed (issue 22), SQLite and PostgreSQL.

The same generated traffic as ``test_one_truth`` goes through ``racs ingest``'s writer into
a fresh ledger on each backend; then a report read back from the ledger, the ledger's own
usage statistics (``racs ledger stats``) and its per-key usage totals must give the tokens,
the dollars and the per-request causes the report over the traffic itself gives.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings

from consistency.test_one_truth import CARDS, _prices, traffic
from ledger.helpers import PG_URL, postgres_unavailable
from racs.core.accounting import Tokens, cost_of
from racs.ledger import Ledger, create_ledger
from racs.report.build import build_report
from racs.traffic import ledger as ledger_traffic
from racs.traffic.ingest import ingest
from racs.traffic.model import Request
from racs.traffic.problems import Problems


@contextmanager
def _sqlite(tmp: Path) -> Iterator[str]:
    yield str(tmp / f"{uuid.uuid4().hex}.db")


@contextmanager
def _postgres(_: Path) -> Iterator[str]:
    import psycopg

    schema = f"racs_truth_{uuid.uuid4().hex[:12]}"
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


BACKENDS: dict[str, Callable[[Path], Any]] = {"sqlite": _sqlite, "postgres": _postgres}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Callable[[Path], Any]:
    """A maker of fresh ledger targets on one backend (PostgreSQL must run under CI)."""
    if request.param == "postgres" and (reason := postgres_unavailable()) is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return BACKENDS[request.param]


def _causes(requests: Iterator[Request]) -> dict[str, str]:
    report = build_report(requests, _prices(), Problems())
    return {f.request.source: f.cause for f in report.findings if f.request is not None}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(case=traffic())
def test_the_ledger_tells_what_the_traffic_told(
    backend: Callable[[Path], Any], tmp_path: Path, case: tuple[list[Request], set[str]]
) -> None:
    requests, _ = case
    billed, usd = Tokens(), 0.0
    for r in requests:
        billed = billed + r.tokens
        rates = _prices().rates(r.provider, r.model)
        assert rates is not None
        usd += cost_of(r.tokens, rates).total
    direct = build_report(iter(requests), _prices(), Problems())

    with backend(tmp_path) as target:
        done = ingest(iter(requests), lambda clock: create_ledger(target, clock=clock), _prices())
        assert (done.added, done.already) == (len(requests), 0)

        # The report over the ledger: the same tokens, dollars and causes.
        problems = Problems()
        back = list(ledger_traffic.read(target, problems))
        assert not problems, problems.to_dict()
        report = build_report(iter(back), _prices(), Problems())
        assert report.total.tokens == billed
        assert report.total.cost.total == pytest.approx(usd, rel=1e-9, abs=1e-12)
        assert _causes(iter(back)) == _causes(iter(requests))
        assert report.total.cost.saved == pytest.approx(direct.total.cost.saved, abs=1e-12)

        # racs ledger stats and the per-key usage totals: the same tokens and dollars.
        ledger: Ledger = create_ledger(target)
        try:
            stats = ledger.get_usage_stats(pricing=CARDS)
            totals = ledger.cache_usage_totals()
        finally:
            ledger.close()
    assert stats.runs == len(requests)
    assert (stats.cache_read_tokens, stats.uncached_tokens) == (billed.read, billed.fresh)
    assert (stats.cache_write_tokens_5m, stats.cache_write_tokens_1h) == (
        billed.write_5m,
        billed.write_1h,
    )
    assert stats.output_tokens == billed.output
    assert stats.cost_usd == pytest.approx(usd, rel=1e-9, abs=1e-9)
    cost = direct.total.cost
    assert stats.saved_usd == pytest.approx(cost.saved, rel=1e-9, abs=1e-12)
    assert stats.cache_write_usd == pytest.approx(cost.write_premium, rel=1e-9, abs=1e-12)
    assert sum(t.calls for t in totals) == len(requests)
    assert sum(t.cache_read_tokens for t in totals) == billed.read
    assert sum(t.uncached_tokens for t in totals) == billed.fresh

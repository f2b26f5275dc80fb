"""One set of dollars: the engine, the engine over a ledger, and the ledger's run stats agree.

For any usage records and any pricing table, ``engine.stats()`` (in memory),
``engine.stats()`` backed by the ledger's ``cache.usage`` records, and
``ledger.get_usage_stats()`` over runs carrying the same tokens report the same saved and
write-premium USD, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import racs
from ledger.helpers import T0
from racs.ledger import Ledger

MODELS = (
    ("anthropic", "claude-sonnet-4-5"),  # in the price database
    ("anthropic", "claude-house-model"),  # known to no database: priced by a card or not at all
    ("openai", "gpt-5.6"),  # the 30-minute tier
)
_workspaces = itertools.count()

tokens = st.integers(min_value=0, max_value=2_000_000)
price = st.floats(min_value=0, max_value=50, allow_nan=False, allow_infinity=False)
card = st.fixed_dictionaries(
    {"inputPerMTok": price},
    optional={
        "cacheReadPerMTok": price,
        "cacheWrite5mPerMTok": price,
        "cacheWrite30mPerMTok": price,
        "cacheWrite1hPerMTok": price,
    },
)
record = st.tuples(st.sampled_from(MODELS), tokens, tokens, tokens, tokens, tokens)
pricing = st.dictionaries(st.sampled_from([m for _, m in MODELS]), card, max_size=3)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=st.lists(record, min_size=1, max_size=8), table=pricing)
def test_engine_and_ledger_agree(ledger: Ledger, records: list[tuple], table: dict) -> None:
    workspace = f"ws{next(_workspaces)}"
    note(f"records={records!r} table={table!r}")
    engine = racs.create_racs(pricing=table)
    backed = racs.create_racs(pricing=table, ledger=ledger)
    for (provider, model), fresh, read, w5m, w30m, w1h in records:
        usage = {
            "provider": provider,
            "model": model,
            "inputTokens": fresh + read + w5m + w30m + w1h,
            "cacheReadTokens": read,
            "cacheWriteTokens5m": w5m,
            "cacheWriteTokens30m": w30m,
            "cacheWriteTokens1h": w1h,
            "prefixKey": workspace,
            "timestamp": T0,
        }
        engine.record(usage)
        backed.record(usage)
        run = ledger.start_run(workspace_id=workspace, agent_id="a", provider=provider, model=model)
        ledger.complete_run(
            run,
            input_tokens=fresh + read + w5m + w30m + w1h,
            cache_read_tokens=read,
            cache_write_tokens_5m=w5m,
            cache_write_tokens_30m=w30m,
            cache_write_tokens_1h=w1h,
        )
    memory = engine.stats()
    over_ledger = backed.stats(prefix_key=workspace)
    runs = ledger.get_usage_stats(workspace, pricing=table)
    if memory.saved_usd is None:
        assert over_ledger.saved_usd is None and runs.saved_usd is None
        return
    assert over_ledger.saved_usd == pytest.approx(memory.saved_usd, rel=1e-9, abs=1e-9)
    assert runs.saved_usd == pytest.approx(memory.saved_usd, rel=1e-9, abs=1e-9)
    assert over_ledger.write_spend_usd == pytest.approx(memory.write_spend_usd, abs=1e-9)
    assert runs.cache_write_usd == pytest.approx(memory.write_spend_usd, rel=1e-9, abs=1e-9)
    assert runs.unpriced_models == memory.unpriced_models


def test_issue_cases_on_both_paths(ledger: Ledger) -> None:
    """The two cases of issue 12, each one value on both paths (2.70 and 7.50)."""
    for table, tokens_in, expected_saved, expected_premium in (
        ({"m": {"inputPerMTok": 3}}, {"cache_read_tokens": 1_000_000}, 2.7, 0.0),
        (
            {"m": {"inputPerMTok": 3, "cacheWrite5mPerMTok": 4.5, "cacheWrite1hPerMTok": 9}},
            {"cache_write_tokens_5m": 1_000_000, "cache_write_tokens_1h": 1_000_000},
            0.0,
            7.5,
        ),
    ):
        workspace = f"case{next(_workspaces)}"
        engine = racs.create_racs(pricing=table)
        engine.record(
            {
                "provider": "anthropic",
                "model": "m",
                "inputTokens": sum(tokens_in.values()),
                "cacheReadTokens": tokens_in.get("cache_read_tokens", 0),
                "cacheWriteTokens5m": tokens_in.get("cache_write_tokens_5m", 0),
                "cacheWriteTokens1h": tokens_in.get("cache_write_tokens_1h", 0),
            }
        )
        run = ledger.start_run(
            workspace_id=workspace, agent_id="a", provider="anthropic", model="m"
        )
        ledger.complete_run(run, input_tokens=sum(tokens_in.values()), **tokens_in)
        stats = ledger.get_usage_stats(workspace, pricing=table)
        assert engine.stats().saved_usd == pytest.approx(expected_saved)
        assert stats.saved_usd == pytest.approx(expected_saved)
        assert engine.stats().write_spend_usd == pytest.approx(expected_premium)
        assert stats.cache_write_usd == pytest.approx(expected_premium)

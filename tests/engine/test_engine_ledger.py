"""The engine backed by a durable ledger: every usage record kept, stats by window."""

from __future__ import annotations

from pathlib import Path

import pytest

import racs
from engine.helpers import FakeClock, plan_input, seg
from racs.ledger import create_ledger

PRICING = {
    "claude-sonnet-4-5": {"inputPerMTok": 3, "cacheReadPerMTok": 0.3, "cacheWrite5mPerMTok": 3.75}
}


def record(
    engine: racs.Racs, key: str | None, read: int, write: int, ts: int, **kw: object
) -> None:
    engine.record(
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "prefixKey": key,
            "inputTokens": 10_000,
            "cacheReadTokens": read,
            "cacheWriteTokens5m": write,
            "timestamp": ts,
            **kw,
        }
    )


class TestLedgerBackedStats:
    def test_usage_is_appended_and_survives_restarts(
        self, tmp_path: Path, clock: FakeClock
    ) -> None:
        """Each record() appends a cache.usage event; a new engine on the same ledger sees
        the same totals, with USD from its pricing."""
        path = tmp_path / "ledger.db"
        with create_ledger(path) as ledger:
            engine = racs.create_racs(ledger=ledger, pricing=PRICING, clock=clock)
            record(engine, "P", 0, 8000, 1000)
            record(engine, "P", 8000, 0, 2000)
            first = engine.stats()
            assert len(ledger.query_events(type="cache.usage")) == 2
        with create_ledger(path) as ledger:
            again = racs.create_racs(ledger=ledger, pricing=PRICING, clock=clock).stats()
        assert again == first
        assert (again.calls, again.read_tokens, again.write_tokens, again.uncached_tokens) == (
            2,
            8000,
            8000,
            4000,
        )
        assert again.saved_usd == pytest.approx(8000 / 1e6 * 2.7, abs=1e-12)
        assert again.net_usd == pytest.approx(8000 / 1e6 * 2.7 - 8000 / 1e6 * 0.75, abs=1e-12)

    def test_window_agent_and_model_filters(self, tmp_path: Path, clock: FakeClock) -> None:
        """stats(since=, until=, agent_id=, model=) read the ledger."""
        with create_ledger(tmp_path / "l.db") as ledger:
            engine = racs.create_racs(ledger=ledger, clock=clock)
            plan = engine.plan(plan_input([seg("s", tokens=2000)], agentId="alice"))
            record(engine, plan.prefix_key, 0, 2000, 1_000)  # agent filled in from the plan
            record(engine, None, 500, 0, 5_000, agentId="bob")
            record(engine, None, 700, 0, 9_000, model="claude-opus-4-1")
            assert engine.stats(since=0, until=4_000).calls == 1
            assert engine.stats(since=4_000).calls == 2
            assert engine.stats(agent_id="alice").prefixes[0].prefix_key == plan.prefix_key
            assert engine.stats(agent_id="bob").read_tokens == 500
            assert engine.stats(model="claude-opus-4-1").read_tokens == 700
            assert engine.stats(prefix_key=plan.prefix_key).calls == 1

    def test_nothing_is_evicted(self, tmp_path: Path) -> None:
        """In memory, aggregates past max_usage_keys are evicted (limit.reached 'ledger');
        with a ledger behind the engine every prefix stays."""
        memory = racs.create_racs(max_usage_keys=100)
        limits: list[str] = []
        memory.on(lambda e: limits.append(e.scope) if e.type == "limit.reached" else None)
        with create_ledger(tmp_path / "l.db") as ledger:
            durable = racs.create_racs(ledger=ledger, max_usage_keys=100)
            for i in range(300):
                record(memory, f"k{i:05d}", 1, 0, 1000 + i)
                record(durable, f"k{i:05d}", 1, 0, 1000 + i)
            stats = durable.stats()
        assert len(memory.stats().prefixes) == 100
        assert limits == ["ledger"] * 200
        assert len(stats.prefixes) == 300
        assert stats.calls == 300

    def test_time_window_without_ledger_is_refused(self) -> None:
        """Without a ledger there are no per-record timestamps to window on."""
        with pytest.raises(racs.RacsError) as err:
            racs.create_racs().stats(since=0)
        assert "ledger" in err.value.message

    def test_bad_usage_writes_nothing(self, tmp_path: Path) -> None:
        """Invalid usage is refused before the ledger sees it."""
        with create_ledger(tmp_path / "l.db") as ledger:
            engine = racs.create_racs(ledger=ledger)
            with pytest.raises(racs.RacsError):
                engine.record(
                    {"provider": "anthropic", "model": "m", "inputTokens": -1, "cacheReadTokens": 0}
                )
            assert ledger.query_events(type="cache.usage") == ()


class TestThirtyMinuteTier:
    def test_30m_writes_keep_their_tier_and_price(self, tmp_path: Path) -> None:
        """GPT-5.6 writes on the 30m tier: stored as such, priced with its own price.
        5,000 tokens x (2.50 - 2.00) / 1e6 = 0.0025 USD of write premium."""
        pricing = {
            "gpt-5.6": {"inputPerMTok": 2.0, "cacheReadPerMTok": 0.2, "cacheWrite30mPerMTok": 2.5}
        }
        with create_ledger(tmp_path / "l.db") as ledger:
            engine = racs.create_racs(ledger=ledger, pricing=pricing)
            engine.record(
                {
                    "provider": "openai",
                    "model": "gpt-5.6",
                    "inputTokens": 6000,
                    "cacheReadTokens": 0,
                    "cacheWriteTokens30m": 5000,
                    "timestamp": 1,
                }
            )
            stats = engine.stats()
            (total,) = ledger.cache_usage_totals()
        assert total.cache_write_tokens_30m == 5000 and total.cache_write_tokens_1h == 0
        assert (stats.write_tokens, stats.uncached_tokens) == (5000, 1000)
        assert stats.write_spend_usd == pytest.approx(0.0025, abs=1e-12)
        memory = racs.create_racs(pricing=pricing)
        memory.record(
            {
                "provider": "openai",
                "model": "gpt-5.6",
                "inputTokens": 6000,
                "cacheReadTokens": 0,
                "cacheWriteTokens30m": 5000,
            }
        )
        assert memory.stats().write_spend_usd == stats.write_spend_usd

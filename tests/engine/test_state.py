"""Engine state (engine.md section 6): accounting, drift, keep-warm, resources, telemetry."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import racs
from engine.helpers import FakeClock, plan_input, seg
from racs.core.model import ResourceDirective

PRICING = {
    "claude-sonnet-4-5": {
        "inputPerMTok": 3,
        "cacheReadPerMTok": 0.3,
        "cacheWrite5mPerMTok": 3.75,
        "cacheWrite1hPerMTok": 6,
    }
}


def usage(**kw: Any) -> dict[str, Any]:
    base = {"provider": "anthropic", "model": "claude-sonnet-4-5", "cacheReadTokens": 0}
    base.update(kw)
    return base


class TestAccounting:
    def test_scripted_stream_exact_dollars(self) -> None:
        """input 3, read 0.3, write-5m 3.75, write-1h 6 USD/MTok.

        call 1: in 10,000, write5m 8,000          -> uncached 2,000, spend 8000/1e6*0.75 = 0.006
        call 2: in 10,000, read 8,000             -> uncached 2,000, saved 8000/1e6*2.7 = 0.0216
        call 3: in 12,000, read 8,000, write1h 3,000 -> uncached 1,000, saved 0.0216,
                                                       spend 3000/1e6*3 = 0.009
        prefix P: read 16,000, writes 11,000, uncached 5,000 -> hit ratio 16/32 = 0.5
                  saved 0.0432, write spend 0.015, net 0.0282
        call 4 (no prefix, unpriced model): in 5,000, read 2,048 -> uncached 2,952
        totals: read 18,048, writes 11,000, uncached 7,952 -> 18048/37000
        """
        engine = racs.create_racs(pricing=PRICING)
        engine.record(usage(prefixKey="P", inputTokens=10_000, cacheWriteTokens5m=8_000))
        engine.record(usage(prefixKey="P", inputTokens=10_000, cacheReadTokens=8_000))
        engine.record(
            usage(
                prefixKey="P", inputTokens=12_000, cacheReadTokens=8_000, cacheWriteTokens1h=3_000
            )
        )
        engine.record(
            usage(provider="openai", model="gpt-x", inputTokens=5_000, cacheReadTokens=2_048)
        )
        stats = engine.stats()
        assert stats.calls == 4
        assert (stats.read_tokens, stats.write_tokens, stats.uncached_tokens) == (
            18_048,
            11_000,
            7_952,
        )
        assert stats.hit_ratio == pytest.approx(18_048 / 37_000, abs=1e-12)
        assert [p.prefix_key for p in stats.prefixes] == ["P", "openai:gpt-x"]
        p = stats.prefixes[0]
        assert (p.calls, p.read_tokens, p.write_tokens, p.uncached_tokens) == (
            3,
            16_000,
            11_000,
            5_000,
        )
        assert p.hit_ratio == 0.5
        assert p.saved_usd == pytest.approx(0.0432, abs=1e-9)
        assert p.write_spend_usd == pytest.approx(0.015, abs=1e-9)
        assert p.net_usd == pytest.approx(0.0282, abs=1e-9)
        assert stats.prefixes[1].saved_usd is None  # no pricing for gpt-x: tokens only
        assert stats.saved_usd == pytest.approx(0.0432, abs=1e-9)
        assert stats.net_usd == pytest.approx(0.0282, abs=1e-9)

    def test_filters(self) -> None:
        """stats() filters by prefix key and provider (and model/agent in memory)."""
        engine = racs.create_racs()
        engine.record(usage(prefixKey="A", inputTokens=10, cacheReadTokens=5))
        engine.record(usage(provider="openai", model="gpt-x", prefixKey="B", inputTokens=10))
        assert engine.stats(prefix_key="A").calls == 1
        assert [p.prefix_key for p in engine.stats(provider="openai").prefixes] == ["B"]
        assert engine.stats(model="gpt-x").calls == 1
        assert engine.stats(prefix_key="none").calls == 0
        assert engine.stats(prefix_key="none").hit_ratio == 0

    def test_inputs_smaller_than_cache_counts_clamp_uncached(self) -> None:
        """uncached = max(0, input - read - writes)."""
        engine = racs.create_racs()
        engine.record(usage(inputTokens=100, cacheReadTokens=80, cacheWriteTokens5m=50))
        stats = engine.stats()
        assert stats.uncached_tokens == 0
        assert stats.hit_ratio == pytest.approx(80 / 130)

    def test_resource_storage_counts_in_net_usd(self, clock: FakeClock) -> None:
        """Improvement: a create stores stable tokens for ttl hours at the storage price.
        3,000 tokens x (3600 s / 3600) x 1.00 USD = 0.003 USD; net = 0 - 0 - 0.003."""
        engine = racs.create_racs(clock=clock, pricing={"gemini-2.5-flash": {"inputPerMTok": 0.3}})
        plan = engine.plan(
            plan_input([seg("s", tokens=3000)], provider="google", model="gemini-2.5-flash")
        )
        assert plan.directives[0] == ResourceDirective("create", plan.prefix_key, 3600)
        p = engine.stats().prefixes[0]
        assert p.storage_spend_usd == pytest.approx(0.003, abs=1e-12)
        assert p.net_usd == pytest.approx(-0.003, abs=1e-12)


def agent_prompt(
    system: str, turn: str, history: list[str] | None = None, **kw: Any
) -> dict[str, Any]:
    segments = [
        seg("tools", "tools", "stable", 1500, content="tool defs"),
        seg("system", "system", "stable", 2000, content=system),
    ]
    for i, h in enumerate(history or []):
        segments.append(seg(f"h{i}", "history", "semi", 300, content=h))
    segments.append(seg("turn", "dynamic", "volatile", 50, content=turn))
    return plan_input(segments, agentId="agent-1", **kw)


class TestDrift:
    def test_volatile_changes_never_drift(self) -> None:
        """100 plans where only the volatile turn changes: zero reports."""
        engine = racs.create_racs()
        for i in range(100):
            engine.plan(agent_prompt("You are helpful.", f"question {i}"))
        assert engine.drifts() == ()

    def test_one_report_per_real_change(self) -> None:
        """Changing the system prompt twice gives exactly two reports, with sorted ids,
        the previous key, and invalidated tokens from the first changed position on."""
        engine = racs.create_racs()
        events: list[Any] = []
        engine.on(lambda e: events.append(e) if e.type == "prefix.drifted" else None)
        first = engine.plan(agent_prompt("v1", "q"))
        engine.plan(agent_prompt("v1", "q2"))
        second = engine.plan(agent_prompt("v2", "q3"))
        for i in range(10):
            engine.plan(agent_prompt("v2", f"q{i}"))
        engine.plan(agent_prompt("v3", "q"))
        reports = engine.drifts()
        assert len(reports) == 2
        assert reports[0].changed_segment_ids == ("system",)
        assert reports[0].previous_key == first.prefix_key
        assert reports[0].prefix_key == second.prefix_key
        assert reports[0].invalidated_tokens == 2000  # tools (position 0) still cached
        assert reports[0].agent_id == "agent-1"
        assert [e.report for e in events] == list(reports)

    def test_append_only_growth_is_not_drift(self) -> None:
        """Improvement (a): new history appended after an intact prefix is growth."""
        engine = racs.create_racs()
        history: list[str] = []
        for i in range(20):
            engine.plan(agent_prompt("sys", f"turn {i}", history))
            history.append(f"turn {i} and its answer")
        assert engine.drifts() == ()

    def test_changed_history_counts_only_what_follows(self) -> None:
        """Improvement (b): editing h1 of three history segments invalidates h1 and h2 only
        (2 x 300 tokens); added and removed ids are reported sorted."""
        engine = racs.create_racs()
        engine.plan(agent_prompt("sys", "t", ["a", "b", "c"]))
        engine.plan(agent_prompt("sys", "t", ["a", "B", "c"]))
        (report,) = engine.drifts()
        assert report.changed_segment_ids == ("h1",)
        assert report.invalidated_tokens == 600
        engine.plan(
            plan_input(
                [
                    seg("zz", tokens=10, content="new"),
                    seg("tools", "tools", "stable", 1500, content="tool defs"),
                ],
                agentId="agent-1",
            )
        )
        last = engine.drifts()[-1]
        assert last.changed_segment_ids == ("h0", "h1", "h2", "system", "zz")
        assert last.invalidated_tokens == 1500 + 2000 + 900

    def test_lineage_falls_back_to_provider_model(self) -> None:
        """Without agentId, lineages are provider:model."""
        engine = racs.create_racs()
        engine.plan(plan_input([seg("s", tokens=2000, content="a")]))
        engine.plan(plan_input([seg("s", tokens=2000, content="b")], model="claude-opus-4-1"))
        assert engine.drifts() == ()  # different lineages, first sightings
        engine.plan(plan_input([seg("s", tokens=2000, content="c")]))
        (report,) = engine.drifts()
        assert report.lineage == "anthropic:claude-sonnet-4-5"
        assert report.agent_id is None

    def test_ring_keeps_200_and_limit(self) -> None:
        """Reports are a ring of 200; drifts(limit) returns the newest, oldest first."""
        engine = racs.create_racs()
        for i in range(230):
            engine.plan(agent_prompt(f"v{i}", "q"))
        assert len(engine.drifts()) == 200
        last3 = engine.drifts(3)
        assert last3 == engine.drifts()[-3:]
        assert engine.drifts(0) == ()


class TestKeepWarm:
    def test_due_at_ninety_percent_and_never_once_expired(self, clock: FakeClock) -> None:
        """5m: refresh at +270 s; due until +300 s; dropped (never returned) after."""
        engine = racs.create_racs(clock=clock)
        t0 = clock.now
        plan = engine.plan(agent_prompt("s", "q"))
        assert engine.schedule(t0 + 269_999) == ()
        (entry,) = engine.schedule(t0 + 270_000)
        assert (entry.prefix_key, entry.ttl, entry.last_write_at, entry.refresh_at) == (
            plan.prefix_key,
            "5m",
            t0,
            t0 + 270_000,
        )
        assert engine.schedule(t0 + 299_999) != ()
        assert engine.schedule(t0 + 300_000) == ()
        assert engine.schedule(t0 + 280_000) == ()  # dropped for good

    def test_most_overdue_first_ties_by_key(self, clock: FakeClock) -> None:
        """Entries sort by refresh time, then prefix key."""
        engine = racs.create_racs(clock=clock)
        a = engine.plan(plan_input([seg("s", tokens=2000, content="a")], agentId="w")).prefix_key
        clock.advance(10)
        b = engine.plan(plan_input([seg("s", tokens=2000, content="b")], agentId="x")).prefix_key
        c = engine.plan(plan_input([seg("s", tokens=2000, content="c")], agentId="y")).prefix_key
        due = [e.prefix_key for e in engine.schedule(clock.now + 275_000)]
        assert due == [a, *sorted([b, c])]

    def test_mark_refreshed_slides_the_window(self, clock: FakeClock) -> None:
        """A touch at +280 s moves the next refresh to +280 + 270 s."""
        engine = racs.create_racs(clock=clock)
        t0 = clock.now
        key = engine.plan(agent_prompt("s", "q")).prefix_key
        assert engine.mark_refreshed(key, t0 + 280_000) is True
        assert engine.schedule(t0 + 549_999) == ()
        (entry,) = engine.schedule(t0 + 550_000)
        assert entry.last_write_at == t0 + 280_000
        assert engine.mark_refreshed("unknown") is False

    def test_refresh_due_telemetry(self, clock: FakeClock) -> None:
        """schedule() emits refresh.due per returned entry."""
        engine = racs.create_racs(clock=clock)
        seen: list[str] = []
        engine.on(lambda e: seen.append(e.type))
        engine.plan(agent_prompt("s", "q"))
        engine.schedule(clock.now + 280_000)
        assert seen == ["plan.created", "refresh.due"]

    def test_no_keep_warm_without_cache_directives(self) -> None:
        """Routing-key and passive plans are not scheduled."""
        engine = racs.create_racs(clock=lambda: 0)
        engine.plan(plan_input([seg("s", tokens=5000)], provider="openai", model="gpt-4.1"))
        engine.plan(plan_input([seg("s", tokens=5000)], provider="deepseek", model="d"))
        assert engine.schedule(10**12) == ()


class TestResources:
    def google(self) -> dict[str, Any]:
        return plan_input(
            [seg("s", tokens=3000), seg("t", "dynamic", "volatile", 5)],
            provider="google",
            model="gemini-2.5-flash",
            reuse={"intervalSeconds": 60},
        )

    def test_lifecycle(self, clock: FakeClock) -> None:
        """ttl 300 s: create at 0, reuse at 100 s, refresh at 270 s (last 10 percent),
        reuse at 400 s, delete on invalidate, create again; expired -> create."""
        engine = racs.create_racs(clock=clock)
        actions: list[tuple[str, float]] = []
        engine.on(
            lambda e: (
                actions.append((e.directive.action, e.directive.ttl_seconds))
                if e.type == "resource.action"
                else None
            )
        )

        def step(seconds_from_start: float) -> str:
            clock.now = 1_700_000_000_000 + int(seconds_from_start * 1000)
            directive = engine.plan(self.google()).directives[0]
            assert isinstance(directive, ResourceDirective)
            return directive.action

        assert [step(0), step(100), step(269), step(270), step(400)] == [
            "create",
            "reuse",
            "reuse",
            "refresh",
            "reuse",
        ]
        key = engine.plan(self.google()).prefix_key
        (entry,) = engine.schedule(1_700_000_000_000 + 545_000)  # due at 270 + 270 s
        assert entry.ttl == 300 and entry.last_write_at == 1_700_000_000_000 + 270_000
        assert engine.invalidate(prefix_key=key) == 1
        assert actions[-1] == ("delete", 300)
        assert step(410) == "create"
        assert step(410 + 301) == "create"  # the record expired: dropped and re-created
        assert [a for a, _ in actions].count("delete") == 1

    def test_invalidate_by_provider_counts_distinct_prefixes(self, clock: FakeClock) -> None:
        """invalidate(provider=) clears matching prefixes only, accounting stays."""
        engine = racs.create_racs(clock=clock)
        engine.plan(self.google())
        engine.plan(agent_prompt("s", "q"))
        engine.record(usage(inputTokens=10, cacheReadTokens=5))
        assert engine.invalidate(provider="google") == 1
        assert engine.invalidate(provider="google") == 0
        assert engine.invalidate() == 1
        assert engine.stats().calls == 1


class TestPrefixCap:
    def test_past_the_cap_is_planned_but_not_tracked(self, clock: FakeClock) -> None:
        """max_prefixes=2: a third live prefix is planned in full, gets no keep-warm,
        and limit.reached is emitted."""
        engine = racs.create_racs(clock=clock, max_prefixes=2)
        limits: list[str] = []
        engine.on(lambda e: limits.append(e.scope) if e.type == "limit.reached" else None)
        keys = [
            engine.plan(
                plan_input([seg("s", tokens=2000, content=str(i))], agentId=str(i))
            ).prefix_key
            for i in range(3)
        ]
        # the registry refuses the third prefix and the drift lineages (same cap) drop the
        # first: one overflow, one event (issue 26)
        assert limits == ["prefixes"]
        due = {e.prefix_key for e in engine.schedule(clock.now + 280_000)}
        assert due == set(keys[:2])

    def test_dead_prefixes_make_room(self, clock: FakeClock) -> None:
        """Once tracked caches have expired, new prefixes are admitted again."""
        engine = racs.create_racs(clock=clock, max_prefixes=1)
        limits: list[Any] = []
        engine.on(lambda e: limits.append(e) if e.type == "limit.reached" else None)
        engine.plan(plan_input([seg("s", tokens=2000, content="a")], agentId="a"))
        clock.advance(301)
        key = engine.plan(plan_input([seg("s", tokens=2000, content="b")], agentId="b")).prefix_key
        # only the drift lineage of "a" gives way (lineages share the cap); the registry admits
        assert [e.detail for e in limits if "registry" in e.detail] == []
        assert [e.prefix_key for e in engine.schedule(clock.now + 280_000)] == [key]


class TestLimitReached:
    """One ``limit.reached`` per overflow, naming the evicted key (issue 26; the seed's
    event carries ``scope``, ``detail`` and ``timestamp``)."""

    def _limits(self, engine: racs.Racs) -> list[Any]:
        limits: list[Any] = []
        engine.on(lambda e: limits.append(e) if e.type == "limit.reached" else None)
        return limits

    def test_a_full_registry_fires_once_naming_the_evicted_lineage(self, clock: FakeClock) -> None:
        """max_prefixes=1 and a live first prefix: the second plan overflows the registry
        and the drift lineages at once; one event names both keys."""
        engine = racs.create_racs(clock=clock, max_prefixes=1)
        limits = self._limits(engine)
        first = engine.plan(plan_input([seg("s", tokens=2000, content="a")], agentId="a"))
        second = engine.plan(plan_input([seg("s", tokens=2000, content="b")], agentId="b"))
        (event,) = limits
        assert (event.scope, event.timestamp) == ("prefixes", clock.now)
        assert event.detail == (
            f"prefix registry full (1); prefix {second.prefix_key} is planned but gets no "
            "keep-warm or resource bookkeeping; evicted prefix "
            f"{first.prefix_key} (the oldest drift lineage, 'a')"
        )

    def test_a_lineage_eviction_alone_names_its_prefix(self, clock: FakeClock) -> None:
        """Once the first cache expired the registry admits; only the lineage gives way."""
        engine = racs.create_racs(clock=clock, max_prefixes=1)
        limits = self._limits(engine)
        first = engine.plan(plan_input([seg("s", tokens=2000, content="a")], agentId="a"))
        clock.advance(301)
        engine.plan(plan_input([seg("s", tokens=2000, content="b")], agentId="b"))
        assert [(e.scope, e.detail) for e in limits] == [
            (
                "prefixes",
                f"drift lineage cap reached (1); evicted prefix {first.prefix_key} "
                "(the oldest drift lineage, 'a')",
            )
        ]

    def test_usage_aggregate_eviction_names_the_key(self, clock: FakeClock) -> None:
        """max_usage_keys=2: the third key evicts the least recently used, k0."""
        engine = racs.create_racs(clock=clock, max_usage_keys=2)
        limits = self._limits(engine)
        for key in ("k0", "k1", "k2"):
            engine.record(
                {
                    "provider": "anthropic",
                    "model": "m",
                    "prefixKey": key,
                    "inputTokens": 10,
                    "cacheReadTokens": 0,
                }
            )
        assert [(e.scope, e.detail) for e in limits] == [
            ("ledger", "usage aggregate cap reached; evicted the least recently used prefix k0")
        ]

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.integers(0, 5), min_size=1, max_size=25), st.integers(1, 3))
    def test_never_more_than_one_per_plan(self, agents: list[int], cap: int) -> None:
        """Whatever the sequence of lineages, a plan fires at most one limit.reached."""
        clock = FakeClock()
        engine = racs.create_racs(clock=clock, max_prefixes=cap)
        limits = self._limits(engine)
        for agent in agents:
            before = len(limits)
            engine.plan(plan_input([seg("s", tokens=2000, content=str(agent))], agentId=str(agent)))
            assert len(limits) - before <= 1
            clock.advance(30)


class TestTelemetry:
    def test_listeners_in_order_and_contained(self, caplog: pytest.LogCaptureFixture) -> None:
        """Listeners run synchronously in subscription order; a raising one is logged
        and never breaks the engine or the others."""
        engine = racs.create_racs()
        order: list[str] = []

        def bad(event: Any) -> None:
            order.append("bad")
            raise RuntimeError("boom")

        engine.on(lambda e: order.append("first"))
        engine.on(bad)
        engine.on(lambda e: order.append("last"))
        plan = engine.plan(agent_prompt("s", "q"))
        assert plan.plan_id == "rx-1-1cm0hgkbh4ono"
        assert order == ["first", "bad", "last"]
        assert "listener raised" in caplog.text

    def test_unsubscribe_is_idempotent(self) -> None:
        """Calling the unsubscribe twice is harmless and stops delivery."""
        engine = racs.create_racs()
        seen: list[str] = []
        off = engine.on(lambda e: seen.append(e.type))
        engine.record(usage(inputTokens=10, cacheReadTokens=1))
        off()
        off()
        engine.record(usage(inputTokens=10))
        assert seen == ["usage.recorded"]

    def test_usage_recorded_carries_hit_and_timestamp(self, clock: FakeClock) -> None:
        """usage.recorded: hit when read > 0; the timestamp defaults to the clock."""
        engine = racs.create_racs(clock=clock)
        events: list[Any] = []
        engine.on(events.append)
        engine.record(usage(inputTokens=10, cacheReadTokens=1))
        engine.record(usage(inputTokens=10, timestamp=5))
        assert [(e.hit, e.usage.timestamp) for e in events] == [(True, clock.now), (False, 5)]
        assert events[0].to_dict()["type"] == "usage.recorded"


class TestThreads:
    def test_many_threads_lose_nothing(self) -> None:
        """8 threads x 300 plan+record: unique plan ids, exact counts."""
        engine = racs.create_racs()
        ids: list[str] = []
        lock = threading.Lock()

        def work(n: int) -> None:
            local = []
            for i in range(300):
                plan = engine.plan(agent_prompt(f"sys {n % 3}", f"q {i}"))
                engine.record(usage(prefixKey=plan.prefix_key, inputTokens=100, cacheReadTokens=50))
                local.append(plan.plan_id)
            with lock:
                ids.extend(local)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == len(set(ids)) == 2400
        assert engine.plans_created == 2400
        stats = engine.stats()
        assert (stats.calls, stats.read_tokens) == (2400, 120_000)


class TestLifecycle:
    def test_closed_engine_refuses_use(self) -> None:
        """close() flushes and then plan() raises ERR_CLOSED; close is idempotent."""
        state = racs.memory_state()
        with racs.create_racs(state=state) as engine:
            engine.plan(agent_prompt("s", "q"))
        engine.close()
        assert state.snapshot is not None
        with pytest.raises(racs.RacsError) as err:
            engine.plan(agent_prompt("s", "q"))
        assert err.value.code == "ERR_CLOSED"

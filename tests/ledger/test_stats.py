"""Usage statistics and cache-usage totals, with the arithmetic spelled out."""

from __future__ import annotations

import math
import random

import pytest

from ledger.helpers import T0, FakeClock, start
from racs.ledger import CacheUsageTotal, Ledger, Percentiles, StatusCounts

HOUR = 3_600_000
PRICING = {
    "m_a": {
        "inputPerMTok": 3.0,
        "cacheReadPerMTok": 0.3,
        "cacheWrite5mPerMTok": 3.75,
        "cacheWrite1hPerMTok": 6.0,
    },
    # snake_case spelling, no write prices: writes cost the input price (no premium)
    "m_o": {"input_per_mtok": 2.5, "cache_read_per_mtok": 1.25},
}


def _at(clock: FakeClock, ms: int) -> None:
    clock.now = ms
    clock.step = 0


@pytest.fixture
def six_runs(ledger: Ledger, clock: FakeClock) -> None:
    """r1..r6 over five hours (see each line); uncached = max(0, in - read - w5m - w1h)."""
    _at(clock, T0 + HOUR // 2)  # r1: completed, uncached 1000-600-200 = 200
    r1 = start(ledger, workspace_id="ws_a", provider="anthropic", model="m_a")
    ledger.complete_run(
        r1,
        latency_ms=100,
        ttft_ms=10,
        input_tokens=1000,
        output_tokens=100,
        total_tokens=1100,
        cost_usd=0.01,
        cache_read_tokens=600,
        cache_write_tokens_5m=200,
        cache_write_tokens_1h=0,
    )
    _at(clock, T0 + 3 * HOUR // 2)  # r2: failed, uncached 500-0-0-400 = 100
    r2 = start(ledger, workspace_id="ws_a", provider="anthropic", model="m_a")
    ledger.complete_run(
        r2,
        status="failed",
        latency_ms=300,
        ttft_ms=30,
        input_tokens=500,
        output_tokens=50,
        total_tokens=550,
        cost_usd=0.005,
        cache_write_tokens_1h=400,
        error={"code": "E", "message": "m"},
    )
    _at(clock, T0 + 5 * HOUR // 2)  # r3: completed, uncached 2000-1500 = 500
    r3 = start(ledger, workspace_id="ws_a", provider="openai", model="m_o")
    ledger.complete_run(
        r3,
        latency_ms=200,
        ttft_ms=20,
        input_tokens=2000,
        output_tokens=200,
        total_tokens=2200,
        cost_usd=0.02,
        cache_read_tokens=1500,
    )
    _at(clock, T0 + 3 * HOUR)  # r4: cancelled, no metrics, another workspace
    r4 = start(ledger, workspace_id="ws_b", provider="openai", model="m_o")
    ledger.cancel_run(r4)
    _at(clock, T0 + 7 * HOUR // 2)  # r5: still running, auth risk, overridden
    start(
        ledger,
        workspace_id="ws_a",
        provider="anthropic",
        model="m_a",
        auth_type="consumer",
        execution_mode="background",
        policy_override=True,
    )
    _at(clock, T0 + 5 * HOUR - 1)  # r6: read > input, so uncached max(0, 100-200) = 0
    r6 = start(ledger, workspace_id="ws_a", provider="anthropic", model="m_a")
    ledger.complete_run(
        r6,
        latency_ms=400,
        ttft_ms=40,
        input_tokens=100,
        output_tokens=10,
        total_tokens=110,
        cost_usd=0.001,
        cache_read_tokens=200,
    )


class TestUsageStats:
    """get_usage_stats over runs, by status, tokens, spend, risk, latency and cache."""

    def test_totals(self, ledger: Ledger, six_runs: None) -> None:
        """Every total of the six runs."""
        stats = ledger.get_usage_stats()
        assert stats.runs == 6
        assert stats.runs_by_status == StatusCounts(started=1, completed=3, failed=1, cancelled=1)
        assert stats.input_tokens == 1000 + 500 + 2000 + 100
        assert stats.output_tokens == 100 + 50 + 200 + 10
        assert stats.total_tokens == 1100 + 550 + 2200 + 110
        assert stats.cost_usd == pytest.approx(0.036, abs=1e-12)
        assert (stats.auth_risk_runs, stats.policy_override_runs) == (1, 1)
        assert stats.cache_read_tokens == 600 + 1500 + 200
        assert (stats.cache_write_tokens_5m, stats.cache_write_tokens_1h) == (200, 400)
        assert stats.uncached_tokens == 200 + 100 + 500 + 0
        # read / (read + writes + uncached) = 2300 / (2300 + 600 + 800)
        assert stats.cache_hit_ratio == pytest.approx(2300 / 3700, abs=1e-12)
        assert stats.saved_usd is None and stats.net_usd is None

    def test_percentiles_are_nearest_rank(self, ledger: Ledger, six_runs: None) -> None:
        """latency [100, 200, 300, 400]: p50 = rank ceil(2) = 200, p95 = rank ceil(3.8) = 400."""
        stats = ledger.get_usage_stats()
        assert stats.latency_ms == Percentiles(count=4, p50=200.0, p95=400.0)
        assert stats.ttft_ms == Percentiles(count=4, p50=20.0, p95=40.0)

    def test_pricing_gives_saved_and_net_usd(self, ledger: Ledger, six_runs: None) -> None:
        """saved = read/1e6*(input - read price); writes cost max(0, tokens/1e6*(w - input))."""
        stats = ledger.get_usage_stats(pricing=PRICING)
        # m_a: read 800 -> 800/1e6*2.7 = 0.00216; w5m 200/1e6*0.75 = 0.00015;
        #      w1h 400/1e6*3.0 = 0.0012. m_o: read 1500/1e6*1.25 = 0.001875, no writes.
        assert stats.saved_usd == pytest.approx(0.00216 + 0.001875, abs=1e-9)
        assert stats.cache_write_usd == pytest.approx(0.00015 + 0.0012, abs=1e-9)
        assert stats.net_usd == pytest.approx(0.004035 - 0.00135, abs=1e-9)
        by_model = {(b.provider, b.model): b for b in stats.by_model}
        assert by_model["anthropic", "m_a"].net_usd == pytest.approx(0.00081, abs=1e-9)
        assert by_model["openai", "m_o"].saved_usd == pytest.approx(0.001875, abs=1e-9)

    def test_unpriced_models_add_nothing(self, ledger: Ledger, six_runs: None) -> None:
        """A model missing from the pricing table contributes 0 USD."""
        stats = ledger.get_usage_stats(pricing={"m_o": PRICING["m_o"]})
        assert stats.saved_usd == pytest.approx(0.001875, abs=1e-9)
        assert stats.cache_write_usd == 0.0

    def test_breakdowns(self, ledger: Ledger, six_runs: None) -> None:
        """By provider (sorted) and by provider and model."""
        stats = ledger.get_usage_stats()
        anthropic, openai = stats.by_provider
        assert (anthropic.provider, anthropic.model, anthropic.runs) == ("anthropic", None, 4)
        assert anthropic.runs_by_status == StatusCounts(1, 2, 1, 0)
        assert anthropic.input_tokens == 1600
        assert (openai.provider, openai.runs, openai.runs_by_status.cancelled) == ("openai", 2, 1)
        # openai: read 1500 / (1500 + 0 + 500 uncached)
        assert openai.cache_hit_ratio == pytest.approx(0.75, abs=1e-12)
        assert [(b.provider, b.model, b.runs) for b in stats.by_model] == [
            ("anthropic", "m_a", 4),
            ("openai", "m_o", 2),
        ]

    def test_workspace(self, ledger: Ledger, six_runs: None) -> None:
        """Only ws_a's five runs (r4 is in ws_b)."""
        stats = ledger.get_usage_stats("ws_a")
        assert stats.runs == 5
        assert stats.runs_by_status.cancelled == 0
        assert stats.workspace_id == "ws_a"
        assert ledger.get_usage_stats("nobody").runs == 0

    def test_window_with_partial_hours(self, ledger: Ledger, six_runs: None) -> None:
        """[1.25h, 3.25h] holds r2 (1.5h), r3 (2.5h) and r4 (3h): edges read from runs."""
        stats = ledger.get_usage_stats(since=T0 + 5 * HOUR // 4, until=T0 + 13 * HOUR // 4)
        assert stats.runs == 3
        assert stats.runs_by_status == StatusCounts(0, 1, 1, 1)
        assert stats.input_tokens == 2500
        assert stats.uncached_tokens == 600
        assert stats.latency_ms == Percentiles(count=2, p50=200.0, p95=300.0)

    def test_window_inside_one_hour(self, ledger: Ledger, six_runs: None) -> None:
        """A window without a whole hour: only r5 at 3.5h."""
        stats = ledger.get_usage_stats(since=T0 + 3 * HOUR + 1, until=T0 + 4 * HOUR - 2)
        assert stats.runs == 1 and stats.auth_risk_runs == 1

    def test_window_bounds_are_inclusive(self, ledger: Ledger, six_runs: None) -> None:
        """since and until both include a run started exactly on them (r4 at 3h, r6 at 5h-1)."""
        assert ledger.get_usage_stats(since=T0 + 3 * HOUR, until=T0 + 3 * HOUR).runs == 1
        assert ledger.get_usage_stats(since=T0 + 5 * HOUR - 1).runs == 1
        assert ledger.get_usage_stats(until="2024-01-01").runs == 6

    def test_empty(self, ledger: Ledger) -> None:
        """No runs: zeros, hit ratio 0, no percentiles; to_dict writes None."""
        stats = ledger.get_usage_stats(pricing=PRICING)
        assert (stats.runs, stats.cache_hit_ratio, stats.saved_usd) == (0, 0.0, 0.0)
        assert stats.latency_ms == Percentiles()
        assert stats.to_dict()["latency_ms"] == {"count": 0, "p50": None, "p95": None}

    def test_percentiles_match_a_sort(self, ledger: Ledger, clock: FakeClock) -> None:
        """400 random latencies across buckets, hours and 8 days: each filter and window
        (whole days from the histogram, partial days at the edges) equals sorting by hand."""
        rnd = random.Random(5)
        runs = []
        step = 29 * 60_000
        for i in range(400):
            _at(clock, T0 + i * step)
            workspace = f"ws_{i % 3}"
            latency = round(rnd.lognormvariate(6, 1.2), 3)
            ttft = float(rnd.randint(0, 50))  # many ties, including zero
            run_id = start(ledger, workspace_id=workspace)
            ledger.complete_run(run_id, latency_ms=latency, ttft_ms=ttft)
            runs.append((T0 + i * step, workspace, latency, ttft))

        def nearest_rank(values: list[float], p: int) -> float:
            ordered = sorted(values)
            return ordered[math.ceil(p * len(ordered) / 100) - 1]

        since, until = T0 + 37 * step + 5, T0 + 301 * step
        day = 86_400_000
        for ws, lo, hi in [
            (None, None, None),
            ("ws_1", None, None),
            (None, since, until),
            ("ws_2", since, until),
            (None, since, None),
            ("ws_0", None, until),
            (None, T0 + day + 5, T0 + day + 9 * HOUR),  # inside one day: edges only
            (None, T0 + 2 * day, T0 + 4 * day - 1),  # whole days only
        ]:
            chosen = [
                r
                for r in runs
                if (ws is None or r[1] == ws)
                and (lo is None or r[0] >= lo)
                and (hi is None or r[0] <= hi)
            ]
            stats = ledger.get_usage_stats(ws, lo, hi)
            for metric, column in ((stats.latency_ms, 2), (stats.ttft_ms, 3)):
                values = [r[column] for r in chosen]
                assert metric == Percentiles(
                    len(values), nearest_rank(values, 50), nearest_rank(values, 95)
                )


@pytest.fixture
def usage(ledger: Ledger, clock: FakeClock) -> None:
    """Five usage records: two under prefix pk1, one per other group."""
    _at(clock, T0)
    ledger.record_cache_usage(
        provider="anthropic",
        model="m_a",
        input_tokens=1000,
        cache_read_tokens=800,
        cache_write_tokens_5m=100,
        prefix_key="pk1",
        agent_id="ag1",
        workspace_id="ws_a",
    )
    ledger.record_cache_usage(
        provider="anthropic",
        model="m_a",
        input_tokens=1000,
        cache_read_tokens=0,
        cache_write_tokens_5m=900,
        prefix_key="pk1",
        agent_id="ag1",
        workspace_id="ws_a",
    )
    ledger.record_cache_usage(
        provider="anthropic", model="m_a", input_tokens=500, cache_read_tokens=100, agent_id="ag1"
    )
    ledger.record_cache_usage(
        provider="openai",
        model="m_o",
        input_tokens=200,
        cache_read_tokens=0,
        prefix_key="pk0",
        agent_id="ag2",
    )
    ledger.record_cache_usage(
        provider="openai",
        model="m_o",
        input_tokens=100,
        cache_read_tokens=150,
        timestamp=T0 + 10 * HOUR,
    )


class TestCacheUsageTotals:
    """Per group key (prefix key, else provider:model) sums of usage records."""

    def test_groups_sorted_by_key(self, ledger: Ledger, usage: None) -> None:
        """Four groups; uncached is max(0, input - read - writes) per record, then summed."""
        assert ledger.cache_usage_totals() == [
            CacheUsageTotal(
                "anthropic:m_a",
                "anthropic",
                "m_a",
                calls=1,
                hits=1,
                input_tokens=500,
                cache_read_tokens=100,
                cache_write_tokens_5m=0,
                cache_write_tokens_1h=0,
                uncached_tokens=400,
            ),
            CacheUsageTotal("openai:m_o", "openai", "m_o", 1, 1, 100, 150, 0, 0, 0),
            CacheUsageTotal("pk0", "openai", "m_o", 1, 0, 200, 0, 0, 0, 200),
            # 1000-800-100 = 100 and 1000-0-900 = 100
            CacheUsageTotal("pk1", "anthropic", "m_a", 2, 1, 2000, 800, 1000, 0, 200),
        ]

    def test_filters(self, ledger: Ledger, usage: None) -> None:
        """Each filter selects its records; the window uses the usage timestamp."""

        def keys(**filters: object) -> list[str]:
            return [t.group_key for t in ledger.cache_usage_totals(**filters)]  # type: ignore[arg-type]

        assert keys(prefix_key="pk1") == ["pk1"]
        assert keys(agent_id="ag1") == ["anthropic:m_a", "pk1"]
        assert keys(model="m_o") == ["openai:m_o", "pk0"]
        assert keys(provider="anthropic") == ["anthropic:m_a", "pk1"]
        assert keys(workspace_id="ws_a") == ["pk1"]
        assert keys(since=T0 + HOUR) == ["openai:m_o"]
        assert keys(until=T0 + HOUR) == ["anthropic:m_a", "pk0", "pk1"]

    def test_usage_rows_follow_the_runs(self, ledger: Ledger) -> None:
        """A usage record naming a run is stored with it and counted like the others."""
        run_id = start(ledger)
        ledger.record_cache_usage(
            provider="anthropic", model="m", input_tokens=10, cache_read_tokens=10, run_id=run_id
        )
        (total,) = ledger.cache_usage_totals()
        assert (total.calls, total.hits, total.uncached_tokens) == (1, 1, 0)

    def test_windows_match_summing_by_hand(self, ledger: Ledger, clock: FakeClock) -> None:
        """300 records 7 minutes apart: whole hours from the roll-up plus partial edges
        equal summing the matching records one by one, under every filter."""
        rnd = random.Random(11)
        records = []
        for i in range(300):
            _at(clock, T0 + i * 7 * 60_000)
            fields = {
                "provider": ("anthropic", "openai")[i % 2],
                "model": f"m{i % 3}",
                "input_tokens": rnd.randint(0, 5000),
                "cache_read_tokens": rnd.choice([0, rnd.randint(0, 4000)]),
                "cache_write_tokens_5m": rnd.randint(0, 800),
                "cache_write_tokens_1h": rnd.randint(0, 300),
                "prefix_key": (None, "pk_a", "pk_b")[i % 3 if i % 5 else 0],
                "agent_id": (None, "ag1", "ag2")[i % 3],
                "workspace_id": ("ws1", None)[i % 2],
            }
            ledger.record_cache_usage(**fields)  # type: ignore[arg-type]
            records.append((T0 + i * 7 * 60_000, fields))

        def by_hand(lo: int | None, hi: int | None, **filters: str) -> list[CacheUsageTotal]:
            groups: dict[tuple[str, str, str], list[int]] = {}
            for ts, r in records:
                if (lo is not None and ts < lo) or (hi is not None and ts > hi):
                    continue
                if any(r[name] != value for name, value in filters.items()):
                    continue
                key = (
                    r["prefix_key"] or f"{r['provider']}:{r['model']}",
                    r["provider"],
                    r["model"],
                )
                writes = r["cache_write_tokens_5m"] + r["cache_write_tokens_1h"]
                row = (
                    1,
                    1 if r["cache_read_tokens"] > 0 else 0,
                    r["input_tokens"],
                    r["cache_read_tokens"],
                    r["cache_write_tokens_5m"],
                    r["cache_write_tokens_1h"],
                    max(0, r["input_tokens"] - r["cache_read_tokens"] - writes),
                )
                acc = groups.setdefault(key, [0] * 7)
                for i, value in enumerate(row):
                    acc[i] += value
            return [CacheUsageTotal(*k, *v) for k, v in sorted(groups.items())]

        since, until = T0 + 95 * 60_000 + 17, T0 + 29 * HOUR + 5
        for lo, hi in [
            (None, None),
            (since, None),
            (None, until),
            (since, until),
            (T0 + HOUR + 1, T0 + 2 * HOUR - 1),
        ]:
            for filters in (
                {},
                {"agent_id": "ag1"},
                {"prefix_key": "pk_a"},
                {"provider": "openai", "model": "m1"},
                {"workspace_id": "ws1"},
            ):
                got = ledger.cache_usage_totals(since=lo, until=hi, **filters)
                assert got == by_hand(lo, hi, **filters), (lo, hi, filters)

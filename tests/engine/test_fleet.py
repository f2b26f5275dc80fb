"""Many hosts, one engine state: the shared Redis backend (issue 19), on the real Redis.

Engines in one process stand for hosts where the order of events matters; separate
processes race where atomicity matters (claims, increments, leases).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import racs
from engine.helpers import FakeClock, plan_input, require_service, seg
from engine.tcp_proxy import TcpProxy
from racs.core.model import ResourceDirective

REDIS_URL = os.environ.get("RACS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HOST_SCRIPT = Path(__file__).with_name("fleet_host.py")
T0 = 1_700_000_000_000


@pytest.fixture
def client() -> Any:
    import redis

    c = redis.Redis.from_url(REDIS_URL)
    try:
        c.ping()
    except Exception as exc:  # connection refused and friends
        require_service("Redis", exc)
    return c


@pytest.fixture
def prefix(client: Any) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"racs-test-{uuid.uuid4().hex[:12]}:"
    yield name
    keys = list(client.scan_iter(match=name + "*", count=1000))
    if keys:
        client.delete(*keys)


def host(prefix: str, clock: Any = None, **options: Any) -> racs.Racs:
    """One host: an engine on the shared state under ``prefix``."""
    state = racs.redis_state(REDIS_URL, prefix=prefix, **options)
    return racs.create_racs(state=state, clock=clock)


def gemini(content: str = "g", interval: float | None = None) -> dict[str, Any]:
    extra = {} if interval is None else {"reuse": {"intervalSeconds": interval}}
    return plan_input(
        [seg("s", tokens=3000, content=content), seg("t", "dynamic", "volatile", 5)],
        provider="google",
        model="gemini-2.5-flash",
        **extra,
    )


def claude(system: str, agent: str = "agent-1") -> dict[str, Any]:
    return plan_input(
        [seg("s", tokens=2000, content=system), seg("t", "dynamic", "volatile", 5, content="q")],
        agentId=agent,
    )


def action(plan: racs.CachePlan) -> str:
    directive = plan.directives[0]
    assert isinstance(directive, ResourceDirective)
    return directive.action


def usage(key: str, read: int, write: int = 0, uncached: int = 0) -> dict[str, Any]:
    return {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "prefixKey": key,
        "inputTokens": read + write + uncached,
        "cacheReadTokens": read,
        "cacheWriteTokens5m": write,
    }


def race(client: Any, prefix: str, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start one host process per job, release them together, return their outputs."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HOST_SCRIPT),
                json.dumps({"url": REDIS_URL, "prefix": prefix, **job}),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    try:
        wait_for(lambda: int(client.get(prefix + "test:ready") or 0) == len(jobs), "hosts ready")
        client.rpush(prefix + "test:go", *["go"] * len(jobs))
        outputs = []
        for p in procs:
            out, _ = p.communicate(timeout=120)
            assert p.returncode == 0
            outputs.append(json.loads(out.strip().splitlines()[-1]))
        return outputs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def wait_for(condition: Any, what: str, limit: float = 60.0) -> None:
    """Poll ``condition`` (a bounded loop: a functional wait, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


class TestClaims:
    def test_one_create_per_resource_prefix(self, prefix: str, clock: FakeClock) -> None:
        """Host A creates; B and C reuse the same prefix instead of paying for a second
        cache; the storage spend is booked once (3,000 tokens x 1 h x 1.00 USD = 0.003)."""
        pricing = {"gemini-2.5-flash": {"inputPerMTok": 0.3}}
        a, b, c = (
            racs.create_racs(
                state=racs.redis_state(REDIS_URL, prefix=prefix), clock=clock, pricing=pricing
            )
            for _ in range(3)
        )
        assert [action(e.plan(gemini())) for e in (a, b, c)] == ["create", "reuse", "reuse"]
        stats = c.stats()
        assert stats.storage_spend_usd == pytest.approx(0.003, abs=1e-12)

    def test_exactly_one_refresh_and_recreate_after_expiry(
        self, prefix: str, clock: FakeClock
    ) -> None:
        """ttl 300 s (interval 60 s): in the last 10 percent one host refreshes and the
        other reuses; once the record expired, one host creates again."""
        a, b = host(prefix, clock), host(prefix, clock)
        assert action(a.plan(gemini(interval=60))) == "create"
        clock.advance(270)
        assert [action(e.plan(gemini(interval=60))) for e in (b, a)] == ["refresh", "reuse"]
        clock.advance(300)  # 570 s: the refresh at 270 s lasts until 570 s
        assert [action(e.plan(gemini(interval=60))) for e in (a, b)] == ["create", "reuse"]

    def test_an_unnamed_create_claim_lapses(self, prefix: str, clock: FakeClock) -> None:
        """With create_claim_seconds=10, a create whose host never published the cache
        name passes to another host after 10 s; a published name keeps it."""
        state_a = racs.redis_state(REDIS_URL, prefix=prefix, create_claim_seconds=10)
        state_b = racs.redis_state(REDIS_URL, prefix=prefix, create_claim_seconds=10)
        a = racs.create_racs(state=state_a, clock=clock)
        b = racs.create_racs(state=state_b, clock=clock)
        plan = a.plan(gemini())
        assert action(plan) == "create"
        clock.advance(9.999)
        assert action(b.plan(gemini())) == "reuse"
        clock.advance(0.001)
        assert action(b.plan(gemini())) == "create"  # a never confirmed: b takes over
        assert state_b.publish_resource_name(plan.prefix_key, "cachedContents/abc") is True
        clock.advance(60)
        assert action(a.plan(gemini())) == "reuse"
        directive = a.plan(gemini()).directives[0]
        assert state_a.resource_name(directive) == "cachedContents/abc"

    def test_plan_ids_never_repeat_across_hosts_and_restarts(self, prefix: str) -> None:
        """Plan numbers come from one counter: 3 on A, 2 on B, then a restarted host
        continues at 6 (seed 7 numbering, as a single engine would)."""
        a, b = host(prefix), host(prefix)
        ids = [a.plan(claude("s")).plan_id for _ in range(3)]
        ids += [b.plan(claude("s")).plan_id for _ in range(2)]
        restarted = host(prefix)
        ids.append(restarted.plan(claude("s")).plan_id)
        assert [i.split("-")[1] for i in ids] == ["1", "2", "3", "4", "5", "6"]
        assert ids[0] == "rx-1-1cm0hgkbh4ono"  # engine.md's seed-7 vector


class TestSharedMemories:
    def test_usage_adds_up_across_hosts(self, prefix: str) -> None:
        """The kv-snapshot flaw of issue 19: two hosts record one call each and a third
        host sees 2 calls, not 1. Read 2 x 8,000 = 16,000 tokens."""
        a, b = host(prefix), host(prefix)
        a.record(usage("P", read=8000, uncached=10))
        b.record(usage("P", read=8000, uncached=10))
        a.close()
        b.close()
        stats = host(prefix).stats()
        assert (stats.calls, stats.hits, stats.read_tokens, stats.uncached_tokens) == (
            2,
            2,
            16_000,
            20,
        )

    def test_fleet_stats_match_one_engine(self, prefix: str) -> None:
        """The same records spread over two hosts give what one local engine reports:
        tokens and calls exactly, dollars to 1e-12, the unpriced model named."""
        pricing = {"claude-sonnet-4-5": {"inputPerMTok": 3, "cacheReadPerMTok": 0.3}}
        records = [usage("P", read=8000, write=2000, uncached=100) for _ in range(3)]
        records += [{**usage("Q", read=500), "model": "no-price-model"}]
        local = racs.create_racs(pricing=pricing)
        hosts = [
            racs.create_racs(state=racs.redis_state(REDIS_URL, prefix=prefix), pricing=pricing)
            for _ in range(2)
        ]
        for i, record in enumerate(records):
            local.record(record)
            hosts[i % 2].record(record)
        want, got = local.stats(), hosts[0].stats()
        assert got.unpriced_models == want.unpriced_models == ("no-price-model",)
        for a, b in zip([want, *want.prefixes], [got, *got.prefixes], strict=True):
            assert (b.calls, b.hits, b.read_tokens, b.write_tokens, b.uncached_tokens) == (
                a.calls,
                a.hits,
                a.read_tokens,
                a.write_tokens,
                a.uncached_tokens,
            )
            assert (b.saved_usd is None) == (a.saved_usd is None)
            if a.saved_usd is not None:
                assert b.saved_usd == pytest.approx(a.saved_usd, abs=1e-12)
                assert b.net_usd == pytest.approx(a.net_usd, abs=1e-12)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(
            st.tuples(
                st.integers(0, 2),  # which of three hosts records it
                st.sampled_from(["A", "B", "C"]),  # prefix key
                st.integers(0, 10**6),  # read
                st.integers(0, 10**6),  # written 5m
                st.integers(0, 10**6),  # uncached
            ),
            max_size=30,
        )
    )
    def test_any_split_adds_up_exactly(self, client: Any, records: list[Any]) -> None:
        """Invariant: however records are spread over hosts, the fleet's calls, hits and
        token totals per prefix equal one engine's that saw them all."""
        prefix = f"racs-test-{uuid.uuid4().hex[:12]}:"
        try:
            local = racs.create_racs()
            hosts = [host(prefix) for _ in range(3)]
            for which, key, read, write, uncached in records:
                local.record(usage(key, read, write, uncached))
                hosts[which].record(usage(key, read, write, uncached))

            def table(stats: racs.LedgerStats) -> list[tuple[Any, ...]]:
                return [
                    (
                        p.prefix_key,
                        p.calls,
                        p.hits,
                        p.read_tokens,
                        p.write_tokens,
                        p.uncached_tokens,
                    )
                    for p in stats.prefixes
                ]

            assert table(host(prefix).stats()) == table(local.stats())
        finally:
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)

    def test_drift_lineage_spans_hosts(self, prefix: str) -> None:
        """Agent lineage planned v1 on A then v2 on B: one report (2,000 tokens lost),
        visible from either host."""
        a, b = host(prefix), host(prefix)
        first = a.plan(claude("v1"))
        second = b.plan(claude("v2"))
        b.plan(claude("v2"))
        (report,) = a.drifts()
        assert (report.previous_key, report.prefix_key) == (first.prefix_key, second.prefix_key)
        assert report.invalidated_tokens == 2000
        assert b.drifts() == (report,)

    def test_keep_warm_touch_goes_to_one_host(self, prefix: str, clock: FakeClock) -> None:
        """A 5m entry is due at +270 s: A gets the touch, B does not, A asking again still
        holds it; after A's touch neither has anything due until +270 s later."""
        a, b = host(prefix, clock), host(prefix, clock)
        key = a.plan(claude("s")).prefix_key
        assert [e.prefix_key for e in a.schedule(T0 + 270_000)] == [key]
        assert b.schedule(T0 + 270_000) == ()
        assert [e.prefix_key for e in a.schedule(T0 + 271_000)] == [key]
        assert a.mark_refreshed(key, T0 + 275_000) is True
        assert a.schedule(T0 + 544_999) == () and b.schedule(T0 + 544_999) == ()
        (entry,) = b.schedule(T0 + 545_000)
        assert entry.last_write_at == T0 + 275_000

    def test_invalidate_reaches_every_host(self, prefix: str, clock: FakeClock) -> None:
        """A invalidates the Gemini prefix B mirrored: one delete event, B forgets its
        copy on its next plan (the generation check), and the next plan creates."""
        a, b = host(prefix, clock), host(prefix, clock)
        deletes: list[Any] = []
        a.on(lambda e: deletes.append(e) if e.type == "resource.action" else None)
        key = a.plan(gemini()).prefix_key
        assert action(b.plan(gemini())) == "reuse"
        assert [r["resourceKey"] for r in b.snapshot()["data"]["resources"]] == [key]
        assert a.invalidate(provider="google") == 1
        assert [(e.directive.action, e.directive.resource_key) for e in deletes[1:]] == [
            ("delete", key)
        ]
        b.plan(claude("unrelated"))
        assert b.snapshot()["data"]["resources"] == []
        assert action(b.plan(gemini())) == "create"

    def test_threads_of_two_hosts_lose_nothing(self, prefix: str) -> None:
        """2 hosts x 4 threads x 50 plan+record: 400 distinct plan ids numbered 1..400 and
        exactly 400 calls, 400 x 50 = 20,000 read tokens and 8 x (0 + ... + 49) = 9,800
        uncached on the fleet."""
        hosts = [host(prefix), host(prefix)]
        ids: list[str] = []
        lock = threading.Lock()

        def work(n: int) -> None:
            engine = hosts[n % 2]
            local = []
            for i in range(50):
                plan = engine.plan(claude(f"sys {n % 3}", f"agent-{n}"))
                engine.record(usage(plan.prefix_key, read=50, uncached=i))
                local.append(plan.plan_id)
            with lock:
                ids.extend(local)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(int(i.split("-")[1]) for i in ids) == list(range(1, 401))
        stats = hosts[0].stats()
        assert (stats.calls, stats.read_tokens, stats.uncached_tokens) == (400, 20_000, 9_800)

    def test_lineage_fields_for_learned_cadences(self, prefix: str) -> None:
        """A generic per-lineage hash: one host writes, another reads."""
        a = racs.redis_state(REDIS_URL, prefix=prefix)
        b = racs.redis_state(REDIS_URL, prefix=prefix)
        assert a.update_lineage_fields("agent-1", {"cadence": 42.5, "n": "3"}) is True
        assert b.lineage_fields("agent-1") == {"cadence": "42.5", "n": "3"}
        assert b.lineage_fields("nobody") == {}


class TestProcesses:
    def test_racing_hosts_produce_one_create(self, client: Any, prefix: str) -> None:
        """8 processes plan the same Gemini prefix at once: 1 create, 7 reuse."""
        jobs = [{"do": "plan", "now": T0, "inputs": [gemini()]} for _ in range(8)]
        actions = [out["plans"][0]["directives"][0]["action"] for out in race(client, prefix, jobs)]
        assert sorted(actions) == ["create"] + ["reuse"] * 7

    def test_usage_from_many_hosts_adds_up_exactly(self, client: Any, prefix: str) -> None:
        """4 processes x 50 records (read 1,000 + write 7 + uncached 3 each, on two keys):
        200 calls, 200,000 read, 1,400 written, 600 uncached."""
        jobs = [
            {"do": "record", "usages": [usage(f"K{i % 2}", 1000, 7, 3) for i in range(50)]}
            for _ in range(4)
        ]
        race(client, prefix, jobs)
        stats = host(prefix).stats()
        assert (stats.calls, stats.read_tokens, stats.write_tokens, stats.uncached_tokens) == (
            200,
            200_000,
            1_400,
            600,
        )
        assert [(p.prefix_key, p.calls) for p in stats.prefixes] == [("K0", 100), ("K1", 100)]

    def test_plan_ids_unique_across_processes(self, client: Any, prefix: str) -> None:
        """4 processes x 25 plans: 100 distinct ids numbered 1..100."""
        jobs = [{"do": "plan", "inputs": [claude("s", f"a{n}")] * 25} for n in range(4)]
        ids = [p["planId"] for out in race(client, prefix, jobs) for p in out["plans"]]
        assert sorted(int(i.split("-")[1]) for i in ids) == list(range(1, 101))

    def test_keep_warm_touches_are_not_duplicated(self, client: Any, prefix: str) -> None:
        """5 due entries, 6 processes asking at once: each entry goes to exactly one."""
        planner = host(prefix, lambda: T0)
        keys = {planner.plan(claude("s", f"agent-{i}")).prefix_key for i in range(5)}
        jobs = [{"do": "schedule", "at": T0 + 280_000} for _ in range(6)]
        handed = [k for out in race(client, prefix, jobs) for k in out["due"]]
        assert sorted(handed) == sorted(keys)

    def test_a_killed_hosts_lease_expires(self, client: Any, prefix: str) -> None:
        """A host takes the touch lease (2 s) and is killed: while the lease lives nobody
        else gets the touch; once it lapsed, another host does."""
        planner = host(prefix, lambda: T0)
        key = planner.plan(claude("s")).prefix_key
        job = {"url": REDIS_URL, "prefix": prefix, "do": "hold", "at": T0 + 280_000, "lease": 2}
        proc = subprocess.Popen(
            [sys.executable, str(HOST_SCRIPT), json.dumps(job)], stdout=subprocess.PIPE, text=True
        )
        try:
            wait_for(lambda: int(client.get(prefix + "test:ready") or 0) == 1, "host ready")
            client.rpush(prefix + "test:go", "go")
            assert proc.stdout is not None
            assert json.loads(proc.stdout.readline()) == {"due": [key]}
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            other = host(prefix, lambda: T0, lease_seconds=2)
            held = other.schedule(T0 + 280_000)
            lease = f"{prefix}lease:{key}:{T0}"  # the touch of the window written at T0
            if client.pttl(lease) > 0:  # still alive after the call: it must have blocked it
                assert held == ()
            wait_for(lambda: other.schedule(T0 + 280_000) != (), "the lease to lapse")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class TestOutage:
    def test_unreachable_redis_degrades_without_exceptions(
        self, clock: FakeClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A closed port: every call answers from the local memories, one warning, one
        state.degraded event; plan ids take the host-scoped form."""
        with TcpProxy(target=None) as closed:  # bound then closed: nothing listens there
            url = f"redis://127.0.0.1:{closed.port}/0"
        state = racs.redis_state(url, retry_seconds=3600)
        engine = racs.create_racs(state=state, clock=clock)
        events: list[Any] = []
        engine.on(events.append)
        with caplog.at_level(logging.WARNING, logger="racs"):
            first = engine.plan(gemini())
            second = engine.plan(gemini())
            engine.record(usage(first.prefix_key, read=100))
            assert engine.stats().calls == 1
            assert [e.prefix_key for e in engine.schedule(T0 + 3_300_000)] == [first.prefix_key]
            assert engine.mark_refreshed(first.prefix_key) is True
            assert engine.drifts() == ()
            assert engine.invalidate() == 1
            engine.close()
        assert (action(first), action(second)) == ("create", "reuse")
        assert first.plan_id == f"rx-{state.host_id}.1-" + first.plan_id.rsplit("-", 1)[1]
        degraded = [e for e in events if e.type == "state.degraded"]
        assert len(degraded) == 1 and degraded[0].backend == "redis"
        assert caplog.text.count("Redis unreachable") == 1

    def test_an_outage_seen_outside_the_engine_still_reaches_its_listeners(self) -> None:
        """The first failed call is the host's own (a lineage read): the engine's next
        call emits the state.degraded event all the same, once."""
        with TcpProxy(target=None) as closed:
            url = f"redis://127.0.0.1:{closed.port}/0"
        state = racs.redis_state(url, retry_seconds=3600)
        engine = racs.create_racs(state=state)
        seen: list[str] = []
        engine.on(lambda e: seen.append(e.type))
        assert state.lineage_fields("agent-1") is None
        engine.record(usage("P", read=1))
        engine.record(usage("P", read=1))
        assert seen == ["usage.recorded", "state.degraded", "usage.recorded"]

    def test_outage_reconciles_when_redis_returns(
        self, client: Any, prefix: str, clock: FakeClock
    ) -> None:
        """Through a proxy: 3 records, proxy stopped, 2 records and a Gemini create while
        away, proxy back: the outbox is replayed (5 calls, 5,000 read tokens on the
        fleet) and the resource created offline is reused by another host."""
        port = int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])
        with TcpProxy(target=port) as proxy:
            url = f"redis://127.0.0.1:{proxy.port}/0"
            state = racs.redis_state(url, prefix=prefix, retry_seconds=0.01)
            engine = racs.create_racs(state=state, clock=clock)
            events: list[str] = []
            engine.on(lambda e: events.append(e.type) if e.type.startswith("state.") else None)
            for _ in range(3):
                engine.record(usage("P", read=1000))
            proxy.stop()
            for _ in range(2):
                engine.record(usage("P", read=1000))
            offline = engine.plan(gemini())
            assert action(offline) == "create" and "." in offline.plan_id.split("-")[1]
            assert events == ["state.degraded"]
            proxy.start()
            wait_for(lambda: engine.flush() or not state.degraded, "recovery")
            assert events == ["state.degraded", "state.restored"]
            engine.close()
        fleet = host(prefix, clock)
        stats = fleet.stats()
        assert (stats.calls, stats.read_tokens) == (5, 5000)
        assert action(fleet.plan(gemini())) == "reuse"

    def test_offline_touch_and_invalidate_are_replayed(
        self, client: Any, prefix: str, clock: FakeClock
    ) -> None:
        """A host cut off from Redis touches one cache and invalidates Gemini; when Redis
        returns both reach the fleet: the touched entry's window slid (+200 s, so due at
        +470 s), the Gemini resource is gone and the next plan creates it again."""
        direct = host(prefix, clock)
        key = direct.plan(claude("s")).prefix_key
        direct.plan(gemini())
        port = int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])
        with TcpProxy(target=port) as proxy:
            url = f"redis://127.0.0.1:{proxy.port}/0"
            state = racs.redis_state(url, prefix=prefix, retry_seconds=0.01)
            cut_off = racs.create_racs(state=state, clock=clock)
            cut_off.plan(claude("other", agent="agent-2"))  # connected once
            proxy.stop()
            assert cut_off.mark_refreshed(key, T0 + 200_000) is False  # not in its memory
            assert cut_off.invalidate(provider="google") == 0
            assert state.degraded
            proxy.start()
            wait_for(lambda: cut_off.flush() or not state.degraded, "recovery")
            cut_off.close()
        assert direct.schedule(T0 + 469_999) == ()
        assert [e.prefix_key for e in direct.schedule(T0 + 470_000)] == [key]
        assert action(direct.plan(gemini())) == "create"


class TestLocalEngineUnchanged:
    def test_snapshot_backends_keep_the_local_path(self) -> None:
        """memory/file/kv states are not shared backends; a shared one is."""
        from racs.state.shared import shared_backend

        assert shared_backend(racs.memory_state()) is None
        assert shared_backend(racs.redis_state(REDIS_URL)) is not None

    @pytest.mark.parametrize(
        ("args", "options"),
        [
            (("http://127.0.0.1:6379",), {}),
            ((REDIS_URL,), {"prefix": ""}),
            ((REDIS_URL,), {"lease_seconds": 0}),
            ((REDIS_URL,), {"retry_seconds": True}),
            ((object(),), {}),
        ],
    )
    def test_bad_options_are_invalid_input(self, args: Any, options: Any) -> None:
        """A bad URL, an empty prefix, a non-positive duration or a non-client: one error."""
        with pytest.raises(racs.RacsError) as err:
            racs.redis_state(*args, **options)
        assert err.value.code == "ERR_INVALID_INPUT"

    def test_async_client_refused(self) -> None:
        """The shared state needs a synchronous client."""
        import redis.asyncio as aioredis

        with pytest.raises(racs.RacsError) as err:
            racs.redis_state(aioredis.Redis.from_url(REDIS_URL))
        assert err.value.code == "ERR_INVALID_INPUT"


class _RetryingClient:
    """A redis.Redis whose every script call reaches the server twice: the first reply was
    lost and the client retried (redis-py's default Retry does exactly this)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def evalsha(self, *args: Any) -> Any:
        self._inner.evalsha(*args)
        return self._inner.evalsha(*args)


class TestClientRetries:
    def test_a_retried_request_gets_the_same_answer(self, client: Any, prefix: str) -> None:
        """Every script of host A runs twice: A still gets its create (the others reuse),
        and its one record counts once (1 call, 700 read tokens)."""
        a = racs.create_racs(state=racs.redis_state(_RetryingClient(client), prefix=prefix))
        b = host(prefix)
        assert [action(e.plan(gemini())) for e in (a, b)] == ["create", "reuse"]
        a.record(usage("P", read=700))
        stats = b.stats()
        assert (stats.calls, stats.read_tokens) == (1, 700)


class TestOutbox:
    def test_a_batch_sent_twice_counts_once(self, client: Any, prefix: str) -> None:
        """A reply lost in transit makes the host resend the same frozen batch: the server
        keeps the host's highest applied batch number, so 1 call with 300 read tokens stays
        1 call; the host's next batch counts again (2 calls, 600 tokens)."""
        from racs.planning.usage import Aggregate
        from racs.state.outbox import Outbox

        state = racs.redis_state(REDIS_URL, prefix=prefix)
        outbox = Outbox()
        outbox.add_usage(Aggregate("P", "anthropic", "claude-sonnet-4-5", calls=1, read=300))
        outbox.freeze()
        outbox.add_usage(Aggregate("P", "anthropic", "claude-sonnet-4-5", calls=1, read=300))
        outbox.freeze()
        first, second = outbox.frozen
        keys = [prefix + "seq:" + state.host_id, prefix + "useidx", prefix + "drifts"]

        def apply(batch: Any) -> Any:
            return state._eval("apply", keys, [prefix, str(batch.seq), *batch.args(200)])

        assert [apply(first), apply(first)] == [1, 0]
        assert (host(prefix).stats().calls, host(prefix).stats().read_tokens) == (1, 300)
        assert [apply(second), apply(first)] == [1, 0]
        assert (host(prefix).stats().calls, host(prefix).stats().read_tokens) == (2, 600)

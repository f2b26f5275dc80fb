"""Garbage in the shared state's Redis keys never raises into the host (issue 29).

Anyone with access to the server can leave bytes that are not UTF-8, a non-number in a
count, JSON of the wrong shape or the wrong arity in any key racs writes. Such an entry
reads as absent (one warning and one ``state.degraded`` event per key, a count on the
backend), the next write of the entry replaces it, and Redis is never taken for down.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import racs
from engine.helpers import FakeClock, plan_input, require_service, seg
from racs.core.model import ResourceDirective, TelemetryEvent
from racs.state.redis_state import RedisState
from server.conftest import start_server

REDIS_URL = os.environ.get("RACS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = 1_700_000_000_000

KINDS = (
    "n",
    "gen",
    "inv",
    "lin:",
    "linidx",
    "linexp",
    "res:",
    "residx",
    "kw:",
    "kwdue",
    "use:",
    "useidx",
    "drifts",
    "seq:",
    "cad:",
)
"""Every kind of key the Redis state writes (redis_scripts.py names them)."""

GARBAGE = (
    b"\xff\xfe\x80",  # not UTF-8
    b"nan",
    b"inf",
    b"-1e999",
    b"abc",
    b"",
    b"[1,2]",  # JSON of the wrong arity
    b'{"prefixKey": 5}',  # JSON of the wrong shape
    b"\x1f\x1f\x1f",
    b"0x10",
    b'["k", "p", "m", null, 0, [["s", "h", "stable", 1e999]], []]',  # a fingerprint's inf
    b'{"prefixKey": "a", "previousKey": "b", "changedSegmentIds": [],'
    b' "invalidatedTokens": 1e999, "timestamp": 0}',  # a drift report's inf
)


@pytest.fixture
def client() -> Any:
    import redis

    c = redis.Redis.from_url(REDIS_URL)
    try:
        c.ping()
    except Exception as exc:  # connection refused and friends
        require_service("Redis", exc)
    return c


def fresh_prefix() -> str:
    return f"racs-test-{uuid.uuid4().hex[:12]}:"


def drop(client: Any, prefix: str) -> None:
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def prefix(client: Any) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = fresh_prefix()
    yield name
    drop(client, name)


def claude(system: str) -> dict[str, Any]:
    segments = [seg("s", tokens=2000, content=system), seg("t", "dynamic", "volatile", 5)]
    return plan_input(segments, agentId="agent-1")


def gemini() -> dict[str, Any]:
    segments = [seg("s", tokens=3000, content="g"), seg("t", "dynamic", "volatile", 5)]
    return plan_input(segments, provider="google", model="gemini-2.5-flash")


def usage(key: str, read: int) -> dict[str, Any]:
    return {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "prefixKey": key,
        "inputTokens": read + 10,
        "cacheReadTokens": read,
    }


def host(prefix: str, clock: FakeClock) -> tuple[racs.Racs, RedisState, list[TelemetryEvent]]:
    """An engine on the shared state under ``prefix``, and the events it emits."""
    state = racs.redis_state(REDIS_URL, prefix=prefix)
    engine = racs.create_racs(state=state, clock=clock)
    events: list[TelemetryEvent] = []
    engine.on(events.append)
    return engine, state, events


def populate(prefix: str) -> None:
    """Write every kind of key: a drifting lineage, a Gemini resource, keep-warm entries,
    usage, an invalidation and a lineage field."""
    engine, state, _ = host(prefix, FakeClock(T0))
    first = engine.plan(claude("v1"))
    engine.plan(claude("v2"))
    engine.plan(gemini())
    engine.record(usage(first.prefix_key, 800))
    engine.invalidate(prefix_key="no-such-key")
    state.update_lineage_fields("agent-1", {"cadence": 30.0})
    engine.close()


def corrupt(client: Any, prefix: str, kind: str, value: bytes) -> int:
    """Overwrite every key of ``kind`` with ``value`` (each field, element or member);
    the number of keys touched."""
    touched = 0
    for raw in client.scan_iter(match=prefix + "*", count=1000):
        name = raw.decode()[len(prefix) :]
        if not (name.startswith(kind) if kind.endswith(":") else name == kind):
            continue
        touched += 1
        kind_of = client.type(raw).decode()
        if kind_of == "string":
            client.set(raw, value, keepttl=True)
        elif kind_of == "hash":
            for field in client.hkeys(raw):
                client.hset(raw, field, value)
            client.hset(raw, value or b"\xff", value)
        elif kind_of == "list":
            for i in range(client.llen(raw)):
                client.lset(raw, i, value)
            client.lpush(raw, value)
        elif kind_of == "set":
            client.sadd(raw, value or b"\xff")
        elif kind_of == "zset":
            for member in client.zrange(raw, 0, -1):
                client.zadd(raw, {member + value: 0})
            client.zadd(raw, {value or b"\xff": 0})
    return touched


def retype(client: Any, prefix: str, kind: str) -> int:
    """Replace every key of ``kind`` by a key of another type; the number replaced."""
    touched = 0
    for raw in list(client.scan_iter(match=prefix + "*", count=1000)):
        name = raw.decode()[len(prefix) :]
        if not (name.startswith(kind) if kind.endswith(":") else name == kind):
            continue
        touched += 1
        was = client.type(raw).decode()
        client.delete(raw)
        if was == "string":
            client.hset(raw, "a", "b")
        else:
            client.set(raw, "x")
    return touched


def exercise(prefix: str) -> tuple[RedisState, list[TelemetryEvent]]:
    """Every engine call on the shared state, from a fresh host, after the garbage."""
    clock = FakeClock(T0 + 1000)
    engine, state, events = host(prefix, clock)
    engine.plan(claude("v2"))
    engine.plan(claude("v3"))
    engine.plan(gemini())
    engine.record(usage("P", 100))
    engine.stats()
    engine.drifts()
    engine.schedule(T0 + 290_000)
    engine.mark_refreshed("no-such-key", T0 + 2000)
    engine.invalidate(provider="google")
    engine.flush()
    answers = [engine.stats().to_dict(), [r.to_dict() for r in engine.drifts()]]
    json.dumps(answers, allow_nan=False)  # no NaN or Infinity comes out of garbage
    state.lineage_fields("agent-1")
    state.resource_name("no-such-key")
    engine.close()
    return state, events


class TestGarbageIsAbsent:
    @pytest.mark.parametrize("value", GARBAGE, ids=repr)
    @pytest.mark.parametrize("kind", KINDS)
    def test_no_call_raises_and_redis_stays_up(
        self, client: Any, prefix: str, kind: str, value: bytes
    ) -> None:
        """Garbage in any key kind: plan, record, stats, drifts, schedule, mark_refreshed,
        invalidate and flush all answer, and the backend never takes Redis for down."""
        populate(prefix)
        assert corrupt(client, prefix, kind, value) >= 1
        state, events = exercise(prefix)
        assert not state.degraded
        assert all("unreachable" not in getattr(e, "detail", "") for e in events)

    @pytest.mark.parametrize("kind", KINDS)
    def test_a_key_of_another_type_is_absent(self, client: Any, prefix: str, kind: str) -> None:
        """A string where racs keeps a hash (or the reverse): every call answers, Redis is
        not taken for down, and a second round after the scripts' writes still answers."""
        populate(prefix)
        assert retype(client, prefix, kind) >= 1
        for _ in range(2):
            state, events = exercise(prefix)
            assert not state.degraded
            assert all("unreachable" not in getattr(e, "detail", "") for e in events)

    def test_a_garbage_count_reads_as_zero_and_the_next_record_restarts_it(
        self, client: Any, prefix: str
    ) -> None:
        """read = b'\\xff' on prefix P (800 tokens before): stats read 0 tokens and name
        the key once; a record of 100 more read tokens makes it 100, the call count 2."""
        engine, state, events = host(prefix, FakeClock(T0))
        engine.record(usage("P", 800))
        engine.flush()
        client.hset(prefix + "use:P", "read", b"\xff")
        assert engine.stats().read_tokens == 0
        assert engine.stats().read_tokens == 0
        (event,) = [e for e in events if e.type == "state.degraded"]
        assert "use:P" in event.detail and "treated as absent" in event.detail
        assert state.unreadable_entries == 2 and not state.degraded
        engine.record(usage("P", 100))
        stats = engine.stats()
        assert (stats.calls, stats.read_tokens) == (2, 100)

    def test_a_garbage_float_total_restarts_too(self, client: Any, prefix: str) -> None:
        """A dollar total of 'inf' would fail HINCRBYFLOAT for ever: it restarts at 0."""
        pricing = {"claude-sonnet-4-5": {"inputPerMTok": 3, "cacheReadPerMTok": 0.3}}
        state = racs.redis_state(REDIS_URL, prefix=prefix)
        engine = racs.create_racs(state=state, pricing=pricing)
        engine.record(usage("P", 1_000_000))
        engine.flush()
        client.hset(prefix + "use:P", "saved_usd", b"inf")
        engine.record(usage("P", 1_000_000))
        engine.flush()
        # one record saves 1,000,000 x (3 - 0.3) / 1e6 = $2.70
        assert engine.stats().saved_usd == pytest.approx(2.7, abs=1e-12)
        assert not state.degraded

    def test_unreadable_drift_reports_are_skipped(self, client: Any, prefix: str) -> None:
        """Two garbage reports beside the real one: drifts() gives the real one only."""
        engine, _, _ = host(prefix, FakeClock(T0))
        engine.plan(claude("v1"))
        engine.plan(claude("v2"))
        client.lpush(prefix + "drifts", b"\xff", b'{"prefixKey": 1}')
        (report,) = engine.drifts()
        assert report.invalidated_tokens == 2000

    def test_a_garbage_fingerprint_is_absent_and_rewritten(self, client: Any, prefix: str) -> None:
        """The lineage's fingerprint is garbage: the next plan sees no predecessor (no
        drift) and writes its own, so the plan after it drifts as usual."""
        engine, _, _ = host(prefix, FakeClock(T0))
        engine.plan(claude("v1"))
        client.set(prefix + "lin:agent-1", b"\xff", keepttl=True)
        other, _, _ = host(prefix, FakeClock(T0))
        other.plan(claude("v2"))
        assert other.drifts() == ()
        other.plan(claude("v3"))
        assert len(other.drifts()) == 1

    def test_a_garbage_resource_record_is_recreated(self, client: Any, prefix: str) -> None:
        """The Gemini resource's TTL field is 'abc': the next plan creates it afresh."""
        engine, _, _ = host(prefix, FakeClock(T0))
        engine.plan(gemini())
        (key,) = [k.decode() for k in client.scan_iter(match=prefix + "res:*")]
        client.hset(key, "s", b"abc")
        other, state, _ = host(prefix, FakeClock(T0 + 1000))
        directive = other.plan(gemini()).directives[0]
        assert isinstance(directive, ResourceDirective)
        assert directive.action == "create" and not state.degraded

    def test_a_garbage_plan_counter_restarts_above_the_clock(
        self, client: Any, prefix: str
    ) -> None:
        """Counter 'abc' at clock T0 + 5 ms: the next plan is number T0 + 6, above any
        count the fleet reached, and the one after T0 + 7."""
        engine, _, _ = host(prefix, FakeClock(T0 + 5))
        engine.plan(claude("v1"))
        client.set(prefix + "n", b"abc")
        ids = [engine.plan(claude("v1")).plan_id for _ in range(2)]
        assert [i.split("-")[1] for i in ids] == [str(T0 + 6), str(T0 + 7)]

    def test_a_garbage_generation_still_reaches_every_host(self, client: Any, prefix: str) -> None:
        """The generation is garbage: the next invalidation restarts it after the newest
        logged one, and a host that mirrored the resource forgets it."""
        a, _, _ = host(prefix, FakeClock(T0))
        b, _, _ = host(prefix, FakeClock(T0))
        a.plan(gemini())
        b.plan(gemini())
        a.invalidate(prefix_key="no-such-key")  # generation 1, logged
        b.plan(claude("x"))
        client.set(prefix + "gen", b"\xff")
        assert a.invalidate(provider="google") == 1
        assert client.get(prefix + "gen") == b"2"
        b.plan(claude("y"))
        assert b.snapshot()["data"]["resources"] == []

    def test_a_garbage_keep_warm_entry_is_dropped(self, client: Any, prefix: str) -> None:
        """The entry's TTL is garbage: schedule() leaves it out and deletes it."""
        engine, _, _ = host(prefix, FakeClock(T0))
        key = engine.plan(claude("s")).prefix_key
        client.hset(prefix + "kw:" + key, "s", b"\xff")
        assert engine.schedule(T0 + 270_000) == ()
        assert not client.exists(prefix + "kw:" + key)

    def test_the_warning_is_logged_once_per_key(
        self, client: Any, prefix: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Three reads of one garbage aggregate: one warning, a count of 3."""
        engine, state, _ = host(prefix, FakeClock(T0))
        engine.record(usage("P", 800))
        engine.flush()
        client.hset(prefix + "use:P", "calls", b"many")
        with caplog.at_level(logging.WARNING, logger="racs"):
            for _ in range(3):
                engine.stats()
        assert len([r for r in caplog.records if "treated as absent" in r.message]) == 1
        assert state.unreadable_entries == 3


class TestArbitraryBytes:
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(KINDS), value=st.binary(max_size=40))
    def test_any_bytes_in_any_key_never_raise(self, client: Any, kind: str, value: bytes) -> None:
        """Invariant: whatever bytes sit in whatever key, no engine call raises and Redis
        is not taken for down."""
        prefix = fresh_prefix()
        try:
            populate(prefix)
            corrupt(client, prefix, kind, value)
            state, _ = exercise(prefix)
            assert not state.degraded
        finally:
            drop(client, prefix)


class TestServer:
    def test_stats_and_drifts_answer_200_over_garbage(self, client: Any, prefix: str) -> None:
        """``racs serve --state redis://`` with a non-UTF-8 aggregate and drift report
        and a non-number count: /stats and /drifts answer 200 with the readable rest."""
        populate(prefix)
        corrupt(client, prefix, "drifts", b"\xff")
        client.hset(prefix + "use:P", mapping={"provider": "anthropic", "model": "m"})
        client.hset(prefix + "use:P", "read", b"nan")
        client.sadd(prefix + "useidx", b"P", b"\xfe")
        state = racs.redis_state(REDIS_URL, prefix=prefix)
        served, stop = start_server(engine=racs.create_racs(state=state))
        try:
            with served.client() as http:
                stats, drifts = http.get("/stats"), http.get("/drifts")
        finally:
            stop()
        assert (stats.status_code, drifts.status_code) == (200, 200)
        # populate recorded 10 uncached + 800 read tokens on one prefix; P reads 0
        assert stats.json()["readTokens"] == 800
        assert isinstance(drifts.json(), (list, dict))

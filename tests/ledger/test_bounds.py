"""Numbers, times and free-form JSON are range-checked at intake; retried starts are idempotent."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

import pytest

from ledger.helpers import Store, start
from racs.core.errors import ERR_CONFLICT, ERR_INVALID_INPUT, RacsError
from racs.ledger import Ledger

Call = Callable[[Ledger, str], Any]

# The documented bounds (README, "Bounds"), written out so the tests state them.
MAX_TOKENS = 2**32 - 1
MAX_NUMBER = 2**53 - 1
MAX_INSTANT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_DEPTH = 32
MAX_PAYLOAD_CHARS = 256 * 1024


def test_the_documented_bounds_are_the_code_s() -> None:
    """racs.core.limits holds the same numbers."""
    from racs.core import limits

    assert (
        limits.MAX_TOKENS,
        limits.MAX_NUMBER,
        limits.MAX_INSTANT_MS,
        limits.MAX_DEPTH,
        limits.MAX_PAYLOAD_CHARS,
    ) == (MAX_TOKENS, MAX_NUMBER, MAX_INSTANT_MS, MAX_DEPTH, MAX_PAYLOAD_CHARS)


def nested(depth: int) -> dict[str, Any]:
    """A mapping nested ``depth`` levels deep (the outer mapping is level 1)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _usage(**overrides: Any) -> Call:
    fields: dict[str, Any] = {"provider": "p", "model": "m", "input_tokens": 1}
    fields["cache_read_tokens"] = 0
    fields.update(overrides)
    return lambda ledger, _run: ledger.record_cache_usage(**fields)


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


_FIVE_THOUSAND_DIGITS = _cursor("9" * 5000 + ":r")

# Each of these raised OverflowError (HTTP 500), or was stored and broke readers, before.
HOSTILE_WRITES: dict[str, tuple[Call, str]] = {
    "tokens 2**63": (lambda lg, r: lg.complete_run(r, input_tokens=2**63), "input_tokens"),
    "tokens 2**63 - 1": (lambda lg, r: lg.complete_run(r, output_tokens=2**63 - 1), "output"),
    "tokens just past 2**32 - 1": (
        lambda lg, r: lg.complete_run(r, total_tokens=MAX_TOKENS + 1),
        "total_tokens",
    ),
    "tokens as a huge float": (lambda lg, r: lg.complete_run(r, input_tokens=1e300), "input"),
    "tokens of 400 digits": (lambda lg, r: lg.complete_run(r, input_tokens=10**400), "input"),
    "cost 1.7e308": (lambda lg, r: lg.complete_run(r, cost_usd=1.7e308), "cost_usd"),
    "latency 2**53": (lambda lg, r: lg.complete_run(r, latency_ms=2**53), "latency_ms"),
    "latency of 400 digits": (lambda lg, r: lg.complete_run(r, ttft_ms=10**400), "ttft_ms"),
    "usage timestamp 1e300": (_usage(timestamp=1e300), "timestamp"),
    "usage timestamp 2**70": (_usage(timestamp=2**70), "timestamp"),
    "usage timestamp past 9999": (_usage(timestamp=MAX_INSTANT_MS + 1), "timestamp"),
    "usage timestamp year 0001": (_usage(timestamp="0001-01-01T00:00:00"), "timestamp"),
    "usage tokens 2**63": (_usage(cache_read_tokens=2**63), "cache_read_tokens"),
    "usage 30m tokens 2**40": (_usage(cache_write_tokens_30m=2**40), "cache_write_tokens_30m"),
    "metadata 33 deep": (lambda lg, r: start(lg, metadata=nested(MAX_DEPTH + 1)), "metadata"),
    "metadata 500 deep": (lambda lg, r: start(lg, metadata=nested(500)), "metadata"),
    "metadata 100k deep": (lambda lg, r: start(lg, metadata=nested(100_000)), "metadata"),
    "completion metadata 40 deep": (
        lambda lg, r: lg.complete_run(r, metadata=nested(40)),
        "metadata",
    ),
    "metadata too large": (
        lambda lg, r: start(lg, metadata={"x": "y" * MAX_PAYLOAD_CHARS}),
        "metadata",
    ),
    "record payload 40 deep": (lambda lg, r: lg.record_retry(r, nested(40)), "payload"),
    "routing decision 40 deep": (lambda lg, r: lg.record_routing(r, nested(40)), "decision"),
    "decisions 40 deep": (
        lambda lg, r: lg.record_policy_evaluation(r, [nested(39)]),
        "decisions",
    ),
    "plan id too large": (lambda lg, r: start(lg, plan_id="p" * MAX_PAYLOAD_CHARS), "metadata"),
}

HOSTILE_READS: dict[str, tuple[Callable[[Ledger], Any], str]] = {
    "query_runs since 2**70": (lambda lg: lg.query_runs(since=2**70), "since"),
    "query_runs until -1": (lambda lg: lg.query_runs(until=-1), "until"),
    "count_runs until 2**64": (lambda lg: lg.count_runs(until=2**64), "until"),
    "cursor decoding to 2**70": (lambda lg: lg.query_runs(cursor=_cursor(f"{2**70}:r")), "cursor"),
    "cursor decoding to -5": (lambda lg: lg.query_runs(cursor=_cursor("-5:r")), "cursor"),
    "cursor of 5000 digits": (
        lambda lg: lg.query_runs(cursor=_cursor("9" * 5000 + ":r")),
        "cursor",
    ),
    "query_events after 2**64": (lambda lg: lg.query_events(after_position=2**64), "after"),
    "query_events since 2**1000": (lambda lg: lg.query_events(since=2**1000), "since"),
    "get_usage_stats until 2**64": (lambda lg: lg.get_usage_stats(until=2**64), "until"),
    "cache_usage_totals since -1": (lambda lg: lg.cache_usage_totals(since=-1), "since"),
}


class TestHostileNumbers:
    """Out-of-range numbers, times and nesting are ERR_INVALID_INPUT, and write nothing."""

    @pytest.mark.parametrize("case", sorted(HOSTILE_WRITES))
    def test_write_refused(self, ledger: Ledger, store: Store, case: str) -> None:
        """Refused naming the field; the event count and the run are unchanged."""
        call, field = HOSTILE_WRITES[case]
        run_id = start(ledger)
        before = store.count_events()
        with pytest.raises(RacsError) as caught:
            call(ledger, run_id)
        assert caught.value.code == ERR_INVALID_INPUT
        assert field in caught.value.message
        assert store.count_events() == before
        assert ledger.verify().ok

    @pytest.mark.parametrize("case", sorted(HOSTILE_READS))
    def test_read_refused(self, ledger: Ledger, case: str) -> None:
        """Refused naming the argument, before the database sees the number."""
        call, field = HOSTILE_READS[case]
        start(ledger)
        with pytest.raises(RacsError) as caught:
            call(ledger)
        assert caught.value.code == ERR_INVALID_INPUT
        assert field in caught.value.message

    def test_the_bounds_themselves_are_accepted(self, ledger: Ledger, store: Store) -> None:
        """2**32 - 1 tokens twice, 2**53 - 1 of cost, 32-deep metadata, the last ms of
        9999: stored, and rebuild() and stats still work (the issue's two 2**63 - 1
        completions broke rebuild)."""
        first, second = start(ledger, metadata=nested(MAX_DEPTH)), start(ledger)
        for run_id in (first, second):
            ledger.complete_run(run_id, input_tokens=MAX_TOKENS, cost_usd=float(MAX_NUMBER))
        ledger.record_cache_usage(
            provider="p",
            model="m",
            input_tokens=MAX_TOKENS,
            cache_read_tokens=MAX_TOKENS,
            timestamp=MAX_INSTANT_MS,
        )
        assert ledger.rebuild() == 5
        stats = ledger.get_usage_stats()
        assert stats.input_tokens == 2 * MAX_TOKENS  # 8_589_934_590, exact
        assert stats.cost_usd == 2.0 * MAX_NUMBER
        totals = ledger.cache_usage_totals(since=MAX_INSTANT_MS)
        assert [t.cache_read_tokens for t in totals] == [MAX_TOKENS]
        assert ledger.verify().ok
        assert ledger.query_events(after_position=MAX_NUMBER) == ()

    def test_nan_and_infinity_stay_refused(self, ledger: Ledger) -> None:
        """The old checks still hold next to the new bounds."""
        run_id = start(ledger)
        for value in (math.nan, math.inf, -math.inf):
            with pytest.raises(RacsError):
                ledger.complete_run(run_id, cost_usd=value)


class TestIdempotentStart:
    """start_run(idempotency_key=...) returns the same run when retried."""

    def test_a_retry_returns_the_same_run(self, ledger: Ledger, store: Store) -> None:
        """Three identical starts: one run, one event, the same id each time."""
        ids = {start(ledger, idempotency_key="req-1", metadata={"a": 1}) for _ in range(3)}
        assert len(ids) == 1
        assert store.count_events() == 1
        assert ledger.count_runs() == 1
        run = ledger.get_run(ids.pop())
        assert run is not None and run.metadata == {"a": 1}

    def test_a_retry_after_the_run_moved_on(self, ledger: Ledger, store: Store) -> None:
        """The run completed meanwhile: a late retry still gets it, and writes nothing."""
        run_id = start(ledger, idempotency_key="k")
        ledger.complete_run(run_id, input_tokens=5)
        assert start(ledger, idempotency_key="k") == run_id
        assert store.count_events() == 2

    def test_keys_are_per_workspace(self, ledger: Ledger) -> None:
        """The same key in two workspaces names two runs."""
        assert start(ledger, idempotency_key="k") != start(
            ledger, idempotency_key="k", workspace_id="ws_2"
        )

    def test_a_key_reused_for_another_run_conflicts(self, ledger: Ledger, store: Store) -> None:
        """Same key, different model: ERR_CONFLICT, nothing written."""
        start(ledger, idempotency_key="k")
        with pytest.raises(RacsError) as caught:
            start(ledger, idempotency_key="k", model="other")
        assert caught.value.code == ERR_CONFLICT
        assert store.count_events() == 1

    def test_key_and_run_id_together_are_refused(self, ledger: Ledger) -> None:
        """Either names the run; both at once is ambiguous."""
        with pytest.raises(RacsError) as caught:
            start(ledger, idempotency_key="k", run_id="r1")
        assert caught.value.code == ERR_INVALID_INPUT

    def test_a_used_key_fails_a_batch(self, ledger: Ledger, store: Store) -> None:
        """In a batch the duplicate is found at commit: the whole batch is refused."""
        start(ledger, idempotency_key="k")
        with pytest.raises(RacsError) as caught, ledger.batch() as batch:
            start(batch)
            start(batch, idempotency_key="k")
        assert caught.value.code == ERR_CONFLICT
        assert store.count_events() == 1

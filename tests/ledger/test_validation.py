"""Bad input raises ERR_INVALID_INPUT naming the field, and writes nothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ledger.helpers import T0, Store, start
from racs.core.errors import ERR_INVALID_INPUT, RacsError
from racs.ledger import Ledger

Call = Callable[[Ledger, str], Any]


class _Unserialisable:
    pass


def _start(**overrides: Any) -> Call:
    return lambda ledger, _run: start(ledger, **overrides)


def _complete(**kwargs: Any) -> Call:
    return lambda ledger, run: ledger.complete_run(run, **kwargs)


def _usage(**overrides: Any) -> Call:
    fields: dict[str, Any] = {
        "provider": "p",
        "model": "m",
        "input_tokens": 10,
        "cache_read_tokens": 0,
    }
    fields.update(overrides)
    return lambda ledger, _run: ledger.record_cache_usage(**fields)


BAD_CALLS: dict[str, tuple[Call, str]] = {
    "empty workspace": (_start(workspace_id=""), "workspace_id"),
    "workspace not a string": (_start(workspace_id=7), "workspace_id"),
    "missing model": (_start(model=None), "model"),
    "auth_type outside its set": (_start(auth_type="oauth"), "auth_type"),
    "execution_mode outside its set": (_start(execution_mode="batch"), "execution_mode"),
    "compliance_mode outside its set": (_start(compliance_mode="strict"), "compliance_mode"),
    "policy_override not a bool": (_start(policy_override=1), "policy_override"),
    "metadata not a mapping": (_start(metadata=["a"]), "metadata"),
    "metadata with NaN": (_start(metadata={"x": math.nan}), "metadata"),
    "metadata unserialisable": (_start(metadata={"x": _Unserialisable()}), "metadata"),
    "run id too long": (_start(run_id="r" * 201), "run_id"),
    "run id lone surrogate": (_start(run_id="r\ud800"), "run_id"),
    "status outside completed/failed": (_complete(status="cancelled"), "status"),
    "negative tokens": (_complete(input_tokens=-1), "input_tokens"),
    "fractional tokens": (_complete(output_tokens=1.5), "output_tokens"),
    "bool tokens": (_complete(total_tokens=True), "total_tokens"),
    "infinite latency": (_complete(latency_ms=math.inf), "latency_ms"),
    "NaN ttft": (_complete(ttft_ms=math.nan), "ttft_ms"),
    "negative cost": (_complete(cost_usd=-0.01), "cost_usd"),
    "string cost": (_complete(cost_usd="0.01"), "cost_usd"),
    "negative cache read": (_complete(cache_read_tokens=-5), "cache_read_tokens"),
    "error on a completed run": (_complete(error={"code": "E", "message": "m"}), "error"),
    "error without message": (_complete(status="failed", error={"code": "E"}), "error.message"),
    "cancel reason empty": (lambda ledger, run: ledger.cancel_run(run, reason=""), "reason"),
    "record payload not a mapping": (
        lambda ledger, run: ledger.record_provider_call(run, [1, 2]),
        "payload",
    ),
    "record payload with inf": (
        lambda ledger, run: ledger.record_retry(run, {"wait": math.inf}),
        "payload",
    ),
    "record payload unserialisable": (
        lambda ledger, run: ledger.record_auth_validation(run, {"x": {1, 2}}),
        "payload",
    ),
    "routing decision not a mapping": (
        lambda ledger, run: ledger.record_routing(run, "openai"),
        "decision",
    ),
    "decisions not a list": (
        lambda ledger, run: ledger.record_policy_evaluation(run, "allow"),
        "decisions",
    ),
    "policy_override not a bool in evaluation": (
        lambda ledger, run: ledger.record_policy_evaluation(run, [], policy_override="yes"),
        "policy_override",
    ),
    "run id not a string": (lambda ledger, _run: ledger.record_retry(42, {}), "run_id"),  # type: ignore[arg-type]
    "usage negative input": (_usage(input_tokens=-1), "input_tokens"),
    "usage NaN read": (_usage(cache_read_tokens=math.nan), "cache_read_tokens"),
    "usage bool write": (_usage(cache_write_tokens_5m=False), "cache_write_tokens_5m"),
    "usage empty provider": (_usage(provider=""), "provider"),
    "usage negative timestamp": (_usage(timestamp=-1), "timestamp"),
    "usage empty prefix key": (_usage(prefix_key=""), "prefix_key"),
}


class TestBadInputWritesNothing:
    """Each malformed call is refused before anything is written."""

    @pytest.mark.parametrize("case", sorted(BAD_CALLS))
    def test_refused(self, ledger: Ledger, store: Store, case: str) -> None:
        """ERR_INVALID_INPUT, the field named in the message, event count unchanged."""
        call, field = BAD_CALLS[case]
        run_id = start(ledger)
        before = store.count_events()
        with pytest.raises(RacsError) as caught:
            call(ledger, run_id)
        assert caught.value.code == ERR_INVALID_INPUT
        assert field in caught.value.message
        assert store.count_events() == before
        run = ledger.get_run(run_id)
        assert run is not None and run.status == "started" and run.event_count == 1


class TestQueryInput:
    """Query arguments are checked too."""

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"status": "running"}, "status"),
            ({"auth_type": "x"}, "auth_type"),
            ({"auth_risk": "yes"}, "auth_risk"),
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"since": "yesterday"}, "since"),
            ({"since": 2, "until": 1}, "since"),
            ({"until": True}, "until"),
        ],
    )
    def test_query_runs(self, ledger: Ledger, kwargs: dict[str, Any], field: str) -> None:
        """Bad filters, limits, cursors and windows are ERR_INVALID_INPUT."""
        with pytest.raises(RacsError) as caught:
            ledger.query_runs(**kwargs)
        assert caught.value.code == ERR_INVALID_INPUT
        assert field in caught.value.message

    def test_pricing_needs_an_input_price(self, ledger: Ledger) -> None:
        """A pricing entry without inputPerMTok is refused."""
        with pytest.raises(RacsError) as caught:
            ledger.get_usage_stats(pricing={"m": {"cacheReadPerMTok": 0.3}})
        assert caught.value.code == ERR_INVALID_INPUT
        assert "inputPerMTok" in caught.value.message

    def test_query_events_limit(self, ledger: Ledger) -> None:
        """query_events pages are 1 to 10,000 events."""
        with pytest.raises(RacsError):
            ledger.query_events(limit=10_001)


class TestTimeBounds:
    """since/until accept ms, datetimes, dates and ISO strings; a bare date end covers the day."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (T0, T0),
            ("2024-01-01", T0),
            ("2024-01-01T00:00:00Z", T0),
            ("2024-01-01T01:00:00+01:00", T0),
            (datetime(2024, 1, 1), T0),  # naive: UTC
            (datetime(2024, 1, 1, tzinfo=UTC), T0),
            (date(2024, 1, 1), T0),
        ],
    )
    def test_since_forms(self, ledger: Ledger, value: Any, expected: int) -> None:
        """Every accepted form of 2024-01-01T00:00Z selects the run started then."""
        start(ledger)
        assert ledger.count_runs(since=value) == 1
        assert ledger.count_runs(since=expected + 1) == 0

    def test_date_until_includes_the_whole_day(self, ledger: Ledger, clock: Any) -> None:
        """until='2024-01-01' includes a run started at 23:59:59.999 that day."""
        clock.now = T0 + 86_400_000 - 1
        start(ledger)
        assert ledger.count_runs(until="2024-01-01") == 1
        assert ledger.count_runs(until=datetime(2024, 1, 1, 23, 59, 59)) == 0

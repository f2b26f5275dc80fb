"""The run projection: how events fold into runs, usage rows and hourly roll-ups.

One fold serves both the append path (the projection written in the event's own
transaction) and ``rebuild`` (replaying stored events), which is why a rebuilt ledger is
identical to the original. The fold is pure: it reads only event fields and payloads and
tolerates event types it does not know.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from operator import add, attrgetter, itemgetter, sub
from typing import Any, Final

from racs.ledger.hashing import canonical_json
from racs.ledger.model import (
    CACHE_USAGE,
    RUN_CANCELLED,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_POLICY_EVALUATED,
    RUN_RETRIED,
    RUN_STARTED,
)
from racs.ledger.payloads import decode_usage
from racs.ledger.row import (
    END_METRICS,
    HOUR_MS,
    MUTABLE_RUN_COLUMNS,
    HistogramKey,
    RollupKey,
    RunState,
    RunSum,
    started,
    value_bucket,
)

_MUTABLE_ROW: Final = attrgetter(*MUTABLE_RUN_COLUMNS, "run_id")

ROLLUP_KEY: Final = ("workspace_id", "hour_start", "provider", "model")

USAGE_COLUMNS: Final = (
    "position",
    "ts",
    "group_key",
    "provider",
    "model",
    "prefix_key",
    "agent_id",
    "workspace_id",
    "run_id",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens_5m",
    "cache_write_tokens_30m",
    "cache_write_tokens_1h",
    "uncached_tokens",
)

USAGE_ROLLUP_KEY: Final = (
    "group_key",
    "provider",
    "model",
    "hour_start",
    "prefix_key",
    "agent_id",
    "workspace_id",
)
UsageRow = tuple[Any, ...]
"""A ``cache_usage`` row, in USAGE_COLUMNS order."""


def _usage_total(column: str) -> RunSum[UsageRow]:
    get = itemgetter(USAGE_COLUMNS.index(column))
    return RunSum(column, column, get)


_READ: Final = itemgetter(USAGE_COLUMNS.index("cache_read_tokens"))
USAGE_SUMS: Final[tuple[RunSum[UsageRow], ...]] = (
    RunSum("calls", "1", lambda row: 1),
    RunSum(
        "hits", "CASE WHEN cache_read_tokens > 0 THEN 1 ELSE 0 END", lambda row: int(_READ(row) > 0)
    ),
    _usage_total("input_tokens"),
    _usage_total("cache_read_tokens"),
    _usage_total("cache_write_tokens_5m"),
    _usage_total("cache_write_tokens_30m"),
    _usage_total("cache_write_tokens_1h"),
    _usage_total("uncached_tokens"),
)
"""The hourly usage roll-up's values (in its column order), from the usage rows."""
USAGE_ROLLUP_VALUES: Final = tuple(s.name for s in USAGE_SUMS)

# Runs per value bucket of a duration metric, per day and workspace of the run's start:
# percentiles count whole days here and only the partial days at a window's edges in runs.
HISTOGRAM_KEY: Final = ("metric", "bucket", "day_start", "workspace_id")
HISTOGRAM_VALUES: Final = ("runs",)


def _ended(state: RunState, type_: str, timestamp: int, p: Mapping[str, Any]) -> None:
    get = p.get
    state.status = "completed" if type_ == RUN_COMPLETED else "failed"
    state.ended_at = timestamp
    for name in END_METRICS:
        setattr(state, name, get(name))
    state.latency_bucket = value_bucket(state.latency_ms)
    state.ttft_bucket = value_bucket(state.ttft_ms)
    error = get("error")
    if isinstance(error, Mapping):
        state.error_code = error.get("code")
        state.error_message = error.get("message")
    extra = get("metadata")
    if extra:
        state.metadata = canonical_json({**json.loads(state.metadata), **extra})


def _cancelled(state: RunState, type_: str, timestamp: int, p: Mapping[str, Any]) -> None:
    state.status = "cancelled"
    state.ended_at = timestamp


def _retried(state: RunState, type_: str, timestamp: int, p: Mapping[str, Any]) -> None:
    state.retries += 1


def _policy(state: RunState, type_: str, timestamp: int, p: Mapping[str, Any]) -> None:
    if p.get("policy_override") is True:
        state.policy_override = 1


# How each type changes an existing run; other types (records, cache usage, types added
# later) only advance its event count.
_FOLDS: Final[dict[str, Callable[[RunState, str, int, Mapping[str, Any]], None]]] = {
    RUN_COMPLETED: _ended,
    RUN_FAILED: _ended,
    RUN_CANCELLED: _cancelled,
    RUN_RETRIED: _retried,
    RUN_POLICY_EVALUATED: _policy,
}


class Projector:
    """Folds a stream of events into run states and collects the rows to write.

    ``states`` holds the runs the events touch, as loaded before the first event; the
    roll-up deltas are each touched run's final contribution minus its loaded one.
    """

    def __init__(self, states: dict[str, RunState]) -> None:
        self.states = states
        self._before = {run_id: s.contribution() for run_id, s in states.items()}
        self._cells_before = {run_id: s.histogram_keys() for run_id, s in states.items()}
        self.new_runs: set[str] = set()
        self.touched: set[str] = set()
        self.usage_rows: list[tuple[Any, ...]] = []

    def apply(
        self,
        position: int,
        run_id: str | None,
        seq: int | None,
        type_: str,
        timestamp: int,
        payload: Mapping[str, Any],
    ) -> None:
        """Fold one event; unknown types and events of unknown runs only advance counters."""
        if type_ == CACHE_USAGE:
            self.usage_rows.append(usage_row(position, timestamp, run_id, payload))
        if run_id is None:
            return
        state = self.states.get(run_id)
        if state is None:
            if type_ != RUN_STARTED:
                return
            state = self.states[run_id] = started(run_id, timestamp, payload)
            self.new_runs.add(run_id)
        else:
            fold = _FOLDS.get(type_)
            if fold is not None:
                fold(state, type_, timestamp, payload)
        if seq is not None:
            state.event_count = seq
            state.last_position = position
        self.touched.add(run_id)

    def inserted_rows(self) -> list[tuple[Any, ...]]:
        """Rows of runs started by the folded events."""
        return [self.states[run_id].row() for run_id in sorted(self.new_runs)]

    def updated_rows(self) -> list[tuple[Any, ...]]:
        """MUTABLE_RUN_COLUMNS then run_id, of runs that existed before and changed."""
        changed = sorted(self.touched - self.new_runs)
        return [_MUTABLE_ROW(self.states[run_id]) for run_id in changed]

    def usage_rollup_deltas(self) -> list[tuple[Any, ...]]:
        """Per hourly usage key, the sums of the folded usage rows (USAGE_ROLLUP_* order).

        Missing prefix key, agent or workspace are '' in the key, which must not be NULL.
        """
        totals: dict[tuple[Any, ...], tuple[int, ...]] = {}
        for row in self.usage_rows:
            _, ts, group_key, provider, model, prefix_key, agent_id, workspace_id = row[:8]
            key = (
                group_key,
                provider,
                model,
                ts - ts % HOUR_MS,
                prefix_key or "",
                agent_id or "",
                workspace_id or "",
            )
            sums = tuple(s.value(row) for s in USAGE_SUMS)
            acc = totals.get(key)
            totals[key] = sums if acc is None else tuple(map(add, acc, sums))
        return [(*key, *values) for key, values in sorted(totals.items())]

    def histogram_deltas(self) -> list[tuple[Any, ...]]:
        """Per histogram cell, the change of its run count (HISTOGRAM_* order, zeros left out)."""
        deltas: dict[HistogramKey, int] = {}
        before = self._cells_before
        for run_id in self.touched:
            for key in self.states[run_id].histogram_keys():
                deltas[key] = deltas.get(key, 0) + 1
            for key in before.get(run_id, ()):
                deltas[key] = deltas.get(key, 0) - 1
        return [(*key, n) for key, n in sorted(deltas.items()) if n]

    def rollup_deltas(self) -> list[tuple[Any, ...]]:
        """Per roll-up key, the change of its sums (keys whose sums did not move are left out)."""
        totals: dict[RollupKey, list[Any]] = {}
        for run_id in self.touched:
            key, change = self.states[run_id].contribution()
            before = self._before.get(run_id)
            if before is not None:
                change = tuple(map(sub, change, before[1]))
            acc = totals.get(key)
            if acc is None:
                totals[key] = list(change)
            else:
                totals[key] = list(map(add, acc, change))
        return [(*key, *values) for key, values in sorted(totals.items()) if any(values)]


def usage_row(
    position: int, timestamp: int, run_id: str | None, p: Mapping[str, Any]
) -> tuple[Any, ...]:
    """The cache_usage row of a ``cache.usage`` event (see USAGE_COLUMNS)."""
    u = decode_usage(p)
    return (
        position,
        u.at(timestamp),
        u.group_key,
        u.provider,
        u.model,
        u.prefix_key,
        u.agent_id,
        u.workspace_id,
        run_id,
        u.input_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens_5m,
        u.cache_write_tokens_30m,
        u.cache_write_tokens_1h,
        u.uncached_tokens,
    )

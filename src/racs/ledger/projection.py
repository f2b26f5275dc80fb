"""The run projection: how events fold into runs, usage rows and hourly roll-ups.

One fold serves both the append path (the projection written in the event's own
transaction) and ``rebuild`` (replaying stored events), which is why a rebuilt ledger is
identical to the original. The fold is pure: it reads only event fields and payloads and
tolerates event types it does not know.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from operator import add, attrgetter, sub
from typing import Any, Final

from racs.core.accounting import uncached
from racs.ledger.hashing import canonical_json
from racs.ledger.model import (
    CACHE_USAGE,
    RUN_CANCELLED,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_POLICY_EVALUATED,
    RUN_RETRIED,
    RUN_STARTED,
    RUN_STATUSES,
    Run,
    RunError,
)
from racs.ledger.payloads import decode_usage

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000

RUN_COLUMNS: Final = (
    "run_id",
    "workspace_id",
    "agent_id",
    "provider",
    "model",
    "auth_type",
    "execution_mode",
    "compliance_mode",
    "auth_risk",
    "policy_override",
    "status",
    "started_at",
    "ended_at",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "cache_read_tokens",
    "cache_write_tokens_5m",
    "cache_write_tokens_30m",
    "cache_write_tokens_1h",
    "prefix_key",
    "plan_id",
    "error_code",
    "error_message",
    "retries",
    "metadata",
    "event_count",
    "latency_bucket",
    "ttft_bucket",
    "last_position",
)

_ROW: Final = attrgetter(*RUN_COLUMNS)

# Fixed when the run starts; every other column is one later events may change.
_FIXED_RUN_COLUMNS: Final = frozenset(
    {
        "run_id",
        "workspace_id",
        "agent_id",
        "provider",
        "model",
        "auth_type",
        "execution_mode",
        "compliance_mode",
        "auth_risk",
        "started_at",
        "prefix_key",
        "plan_id",
    }
)
MUTABLE_RUN_COLUMNS: Final = tuple(c for c in RUN_COLUMNS if c not in _FIXED_RUN_COLUMNS)
_MUTABLE_ROW: Final = attrgetter(*MUTABLE_RUN_COLUMNS, "run_id")

ROLLUP_KEY: Final = ("workspace_id", "hour_start", "provider", "model")
ROLLUP_VALUES: Final = (
    "started",
    "completed",
    "failed",
    "cancelled",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "auth_risk_runs",
    "policy_override_runs",
    "cache_read_tokens",
    "cache_write_tokens_5m",
    "cache_write_tokens_30m",
    "cache_write_tokens_1h",
    "uncached_tokens",
)

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
USAGE_ROLLUP_VALUES: Final = (
    "calls",
    "hits",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens_5m",
    "cache_write_tokens_30m",
    "cache_write_tokens_1h",
    "uncached_tokens",
)

# Runs per value bucket of a duration metric, per day and workspace of the run's start:
# percentiles count whole days here and only the partial days at a window's edges in runs.
HISTOGRAM_KEY: Final = ("metric", "bucket", "day_start", "workspace_id")
HISTOGRAM_VALUES: Final = ("runs",)

_STATUS_INDEX: Final = {status: i for i, status in enumerate(RUN_STATUSES)}

RollupKey = tuple[str, int, str, str]
HistogramKey = tuple[str, int, int, str]


def value_bucket(value: float | None) -> int | None:
    """An order-preserving coarse bucket of a duration: 16 buckets per power of two.

    Built from the float's exact exponent and mantissa (no rounding), so a smaller value
    never lands in a larger bucket; percentiles count buckets, then sort only one.
    """
    if value is None:
        return None
    if value <= 0:
        return 0
    mantissa, exponent = math.frexp(value)
    return (exponent + 1075) * 16 + int(mantissa * 32) - 16


def derive_auth_risk(auth_type: str, execution_mode: str) -> bool:
    """Consumer credentials used without a human at the keyboard."""
    return auth_type == "consumer" and execution_mode != "interactive"


class RunState:
    """A run's projection row while events are folded into it."""

    __slots__ = RUN_COLUMNS

    run_id: str
    workspace_id: str
    agent_id: str
    provider: str
    model: str
    auth_type: str
    execution_mode: str
    compliance_mode: str
    auth_risk: int
    policy_override: int
    status: str
    started_at: int
    ended_at: int | None
    latency_ms: float | None
    ttft_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None
    cache_read_tokens: int | None
    cache_write_tokens_5m: int | None
    cache_write_tokens_30m: int | None
    cache_write_tokens_1h: int | None
    prefix_key: str | None
    plan_id: str | None
    error_code: str | None
    error_message: str | None
    retries: int
    metadata: str
    event_count: int
    latency_bucket: int | None
    ttft_bucket: int | None
    last_position: int | None
    """The run's newest event, where the walk through its events (``run_prev``) starts."""

    @classmethod
    def from_row(cls, row: Iterable[Any]) -> RunState:
        """A state from a runs row in RUN_COLUMNS order."""
        state = cls.__new__(cls)
        for name, value in zip(RUN_COLUMNS, row, strict=True):
            setattr(state, name, value)
        return state

    def row(self) -> tuple[Any, ...]:
        """The runs row in RUN_COLUMNS order."""
        return _ROW(self)

    def contribution(self) -> tuple[RollupKey, tuple[Any, ...]]:
        """This run's share of its hourly roll-up row."""
        statuses = [0, 0, 0, 0]
        statuses[_STATUS_INDEX[self.status]] = 1
        inp = self.input_tokens or 0
        read = self.cache_read_tokens or 0
        w5m = self.cache_write_tokens_5m or 0
        w30m = self.cache_write_tokens_30m or 0
        w1h = self.cache_write_tokens_1h or 0
        key = (
            self.workspace_id,
            self.started_at - self.started_at % HOUR_MS,
            self.provider,
            self.model,
        )
        values = (
            *statuses,
            inp,
            self.output_tokens or 0,
            self.total_tokens or 0,
            self.cost_usd or 0.0,
            self.auth_risk,
            self.policy_override,
            read,
            w5m,
            w30m,
            w1h,
            uncached(inp, read, w5m, w30m, w1h),
        )
        return key, values

    def histogram_keys(self) -> list[HistogramKey]:
        """The histogram cells this run counts in (one per measured duration metric)."""
        keys: list[HistogramKey] = []
        if self.latency_bucket is not None or self.ttft_bucket is not None:
            day = self.started_at - self.started_at % DAY_MS
            if self.latency_bucket is not None:
                keys.append(("latency", self.latency_bucket, day, self.workspace_id))
            if self.ttft_bucket is not None:
                keys.append(("ttft", self.ttft_bucket, day, self.workspace_id))
        return keys

    def to_run(self) -> Run:
        """The public, immutable view."""
        error = (
            None if self.error_code is None else RunError(self.error_code, self.error_message or "")
        )
        return Run(
            run_id=self.run_id,
            workspace_id=self.workspace_id,
            agent_id=self.agent_id,
            provider=self.provider,
            model=self.model,
            auth_type=self.auth_type,
            execution_mode=self.execution_mode,
            compliance_mode=self.compliance_mode,
            auth_risk=bool(self.auth_risk),
            policy_override=bool(self.policy_override),
            status=self.status,
            started_at=self.started_at,
            ended_at=self.ended_at,
            latency_ms=None if self.latency_ms is None else float(self.latency_ms),
            ttft_ms=None if self.ttft_ms is None else float(self.ttft_ms),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            total_tokens=self.total_tokens,
            cost_usd=None if self.cost_usd is None else float(self.cost_usd),
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens_5m=self.cache_write_tokens_5m,
            cache_write_tokens_1h=self.cache_write_tokens_1h,
            cache_write_tokens_30m=self.cache_write_tokens_30m,
            prefix_key=self.prefix_key,
            plan_id=self.plan_id,
            error=error,
            retries=self.retries,
            metadata=json.loads(self.metadata),
            event_count=self.event_count,
        )


def _started(run_id: str, timestamp: int, p: Mapping[str, Any]) -> RunState:
    # Every slot assigned by name, no loops: this runs once for every run appended.
    state = RunState.__new__(RunState)
    state.run_id = run_id
    state.workspace_id = p["workspace_id"]
    state.agent_id = p["agent_id"]
    state.provider = p["provider"]
    state.model = p["model"]
    state.auth_type = p["auth_type"]
    state.execution_mode = p["execution_mode"]
    state.compliance_mode = p["compliance_mode"]
    state.auth_risk = int(derive_auth_risk(state.auth_type, state.execution_mode))
    state.policy_override = int(bool(p.get("policy_override")))
    state.status = "started"
    state.started_at = timestamp
    state.ended_at = state.latency_ms = state.ttft_ms = None
    state.input_tokens = state.output_tokens = state.total_tokens = None
    state.cost_usd = state.cache_read_tokens = None
    state.cache_write_tokens_5m = state.cache_write_tokens_30m = None
    state.cache_write_tokens_1h = None
    state.prefix_key = p.get("prefix_key")
    state.plan_id = p.get("plan_id")
    state.error_code = state.error_message = None
    state.retries = 0
    metadata = p.get("metadata")
    state.metadata = canonical_json(metadata) if metadata else "{}"
    state.event_count = 0
    state.latency_bucket = state.ttft_bucket = state.last_position = None
    return state


def _ended(state: RunState, type_: str, timestamp: int, p: Mapping[str, Any]) -> None:
    get = p.get
    state.status = "completed" if type_ == RUN_COMPLETED else "failed"
    state.ended_at = timestamp
    state.latency_ms = latency = get("latency_ms")
    state.ttft_ms = ttft = get("ttft_ms")
    state.input_tokens = get("input_tokens")
    state.output_tokens = get("output_tokens")
    state.total_tokens = get("total_tokens")
    state.cost_usd = get("cost_usd")
    state.cache_read_tokens = get("cache_read_tokens")
    state.cache_write_tokens_5m = get("cache_write_tokens_5m")
    state.cache_write_tokens_30m = get("cache_write_tokens_30m")
    state.cache_write_tokens_1h = get("cache_write_tokens_1h")
    state.latency_bucket = value_bucket(latency)
    state.ttft_bucket = value_bucket(ttft)
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
            state = self.states[run_id] = _started(run_id, timestamp, payload)
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
        for (
            _,
            ts,
            group_key,
            provider,
            model,
            prefix_key,
            agent_id,
            workspace_id,
            _run,
            inp,
            read,
            w5m,
            w30m,
            w1h,
            unc,
        ) in self.usage_rows:
            key = (
                group_key,
                provider,
                model,
                ts - ts % HOUR_MS,
                prefix_key or "",
                agent_id or "",
                workspace_id or "",
            )
            sums = (1, 1 if read > 0 else 0, inp, read, w5m, w30m, w1h, unc)
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

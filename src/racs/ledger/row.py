"""The run row: every column of ``runs`` declared once, on ``RunState``.

A column says its SQL type, whether later events may change it, its value when the run
starts, whether the run's end sets it from the end event's payload, and how it shows in the
public ``Run``. Read from that one table: ``RUN_COLUMNS``, ``MUTABLE_RUN_COLUMNS``, the
state of a new run (``started``), the end's metrics, ``RunState.to_run``, the DDL a new
migration uses (``run_column_ddl``) and the roll-up sums, both as the fold computes them
(``RunState.contribution``) and as SQL over the runs table (``RunSum.sql``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Annotated, Any, Final, Generic, TypeVar

from racs.core.accounting import uncached
from racs.ledger.hashing import canonical_json
from racs.ledger.model import RUN_STATUSES, Run, RunError

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000

RollupKey = tuple[str, int, str, str]
"""(workspace, hour start, provider, model) of a run roll-up row."""
HistogramKey = tuple[str, int, int, str]
"""(metric, bucket, day start, workspace) of a histogram cell."""

Start = Callable[[str, int, Mapping[str, Any]], Any]
"""A column's value when the run starts, from (run id, start time, start payload)."""
Shown = Callable[[Any, "RunState"], Any]
"""A column's value in the public ``Run``, from the stored value (and the whole state)."""


def _as_is(value: Any, state: RunState) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Col:
    """How one column of ``runs`` is stored, started, changed and shown."""

    sql: str
    """SQL type and constraint; ``{key}`` is the dialect's byte-ordered text type."""
    start: Start | _Const | _Payload | _Event
    fixed: bool = False
    """Set when the run starts and never changed by a later event."""
    ended: bool = False
    """Set by the run's end from the end payload's field of the same name (None if absent)."""
    shown: Shown | None = _as_is
    """How the public ``Run`` shows it (None: internal to the projection)."""
    shown_as: str | None = None
    """The ``Run`` field it feeds when not its own name."""


@dataclass(frozen=True, slots=True)
class _Const:
    value: Any


@dataclass(frozen=True, slots=True)
class _Payload:
    """The start payload's field of the column's own name (required, or None if absent)."""

    required: bool


@dataclass(frozen=True, slots=True)
class _Event:
    """The start event's run id or timestamp."""

    field: str


def _is(value: Any) -> _Const:
    """The same value for every new run."""
    return _Const(value)


def _flag(value: Any, state: RunState) -> bool:
    return bool(value)


def _number(value: Any, state: RunState) -> float | None:
    # A driver may hand a whole DOUBLE PRECISION value back as an int.
    return None if value is None else float(value)


def _error(code: Any, state: RunState) -> RunError | None:
    return None if code is None else RunError(code, state.error_message or "")


def derive_auth_risk(auth_type: str, execution_mode: str) -> bool:
    """Consumer credentials used without a human at the keyboard."""
    return auth_type == "consumer" and execution_mode != "interactive"


def _auth_risk(run_id: str, timestamp: int, p: Mapping[str, Any]) -> int:
    return int(derive_auth_risk(p["auth_type"], p["execution_mode"]))


def _policy_override(run_id: str, timestamp: int, p: Mapping[str, Any]) -> int:
    return int(bool(p.get("policy_override")))


def _parsed(value: Any, state: RunState) -> Any:
    return json.loads(value)


def _metadata(run_id: str, timestamp: int, p: Mapping[str, Any]) -> str:
    metadata = p.get("metadata")
    return canonical_json(metadata) if metadata else "{}"


_KEY = Col("{key} PRIMARY KEY", _Event("run_id"), fixed=True)
_TEXT = "TEXT NOT NULL"
_METRIC_INT = Col("BIGINT", _is(None), ended=True)
_METRIC_FLOAT = Col("DOUBLE PRECISION", _is(None), ended=True, shown=_number)
_GIVEN = Col(_TEXT, _Payload(required=True), fixed=True)
_OPTIONAL = Col("TEXT", _Payload(required=False), fixed=True)


@dataclass(slots=True)
class RunState:
    """A run's projection row while events are folded into it (one field per column)."""

    run_id: Annotated[str, _KEY]
    workspace_id: Annotated[str, _GIVEN]
    agent_id: Annotated[str, _GIVEN]
    provider: Annotated[str, _GIVEN]
    model: Annotated[str, _GIVEN]
    auth_type: Annotated[str, _GIVEN]
    execution_mode: Annotated[str, _GIVEN]
    compliance_mode: Annotated[str, _GIVEN]
    auth_risk: Annotated[int, Col("SMALLINT NOT NULL", _auth_risk, fixed=True, shown=_flag)]
    policy_override: Annotated[int, Col("SMALLINT NOT NULL", _policy_override, shown=_flag)]
    status: Annotated[str, Col(_TEXT, _is("started"))]
    started_at: Annotated[int, Col("BIGINT NOT NULL", _Event("timestamp"), fixed=True)]
    ended_at: Annotated[int | None, Col("BIGINT", _is(None))]
    latency_ms: Annotated[float | None, _METRIC_FLOAT]
    ttft_ms: Annotated[float | None, _METRIC_FLOAT]
    input_tokens: Annotated[int | None, _METRIC_INT]
    output_tokens: Annotated[int | None, _METRIC_INT]
    total_tokens: Annotated[int | None, _METRIC_INT]
    cost_usd: Annotated[float | None, _METRIC_FLOAT]
    cache_read_tokens: Annotated[int | None, _METRIC_INT]
    cache_write_tokens_5m: Annotated[int | None, _METRIC_INT]
    cache_write_tokens_30m: Annotated[int | None, _METRIC_INT]
    cache_write_tokens_1h: Annotated[int | None, _METRIC_INT]
    prefix_key: Annotated[str | None, _OPTIONAL]
    plan_id: Annotated[str | None, _OPTIONAL]
    error_code: Annotated[str | None, Col("TEXT", _is(None), shown=_error, shown_as="error")]
    error_message: Annotated[str | None, Col("TEXT", _is(None), shown=None)]
    """Shown inside ``Run.error`` with the code."""
    retries: Annotated[int, Col("INTEGER NOT NULL", _is(0))]
    metadata: Annotated[str, Col(_TEXT, _metadata, shown=_parsed)]
    event_count: Annotated[int, Col("INTEGER NOT NULL", _is(0))]
    latency_bucket: Annotated[int | None, Col("INTEGER", _is(None), shown=None)]
    ttft_bucket: Annotated[int | None, Col("INTEGER", _is(None), shown=None)]
    last_position: Annotated[int | None, Col("BIGINT", _is(None), shown=None)]
    """The run's newest event, where the walk through its events (``run_prev``) starts."""

    @classmethod
    def from_row(cls, row: typing.Iterable[Any]) -> RunState:
        """A state from a runs row in RUN_COLUMNS order."""
        return cls(*row)

    def row(self) -> tuple[Any, ...]:
        """The runs row in RUN_COLUMNS order."""
        return _ROW(self)

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

    def contribution(self) -> tuple[RollupKey, tuple[Any, ...]]:
        """This run's share of its hourly roll-up row (key, then RUN_SUMS in order)."""
        key = (
            self.workspace_id,
            self.started_at - self.started_at % HOUR_MS,
            self.provider,
            self.model,
        )
        # RUN_SUMS's values without a call per sum: this runs twice for every run appended.
        totals = [value or 0 for value in _TOTAL_COLUMNS(self)]
        return key, (*_STATUS_VALUES[self.status], *totals, uncached(*_CACHE_PARTS(totals)))

    def to_run(self) -> Run:
        """The public, immutable view."""
        fields = dict(zip(_PLAIN_NAMES, _PLAIN(self), strict=True))
        for column, name, shown in _CONVERTED:
            fields[name] = shown(getattr(self, column), self)
        return Run(**fields)


COLUMNS: Final[dict[str, Col]] = {
    name: hint.__metadata__[0]
    # The module's globals, so the annotations resolve here and not in the class namespace.
    for name, hint in typing.get_type_hints(
        RunState, globalns=globals(), include_extras=True
    ).items()
}
"""Every column of ``runs``, in table order, with how it is stored, started and shown."""
RUN_COLUMNS: Final = tuple(COLUMNS)
MUTABLE_RUN_COLUMNS: Final = tuple(name for name, c in COLUMNS.items() if not c.fixed)
"""The columns later events may change (what an update of a run writes)."""
END_METRICS: Final = tuple(name for name, c in COLUMNS.items() if c.ended)
"""The columns a run's end copies from its payload."""

_ROW: Final = attrgetter(*RUN_COLUMNS)
_SHOWN: Final = tuple(
    (name, c.shown_as or name, c.shown) for name, c in COLUMNS.items() if c.shown is not None
)
_PLAIN_NAMES: Final = tuple(name for name, _, shown in _SHOWN if shown is _as_is)
_PLAIN: Final = attrgetter(*_PLAIN_NAMES)
_CONVERTED: Final = tuple(entry for entry in _SHOWN if entry[2] is not _as_is)
# A new run's row, prepared once: the constants in place, then where each other value
# comes from. This runs for every run appended, so the payload's required fields are read
# by one itemgetter per contiguous run of columns and stored by slice.
_TEMPLATE: Final[list[Any]] = [
    c.start.value if isinstance(c.start, _Const) else None for c in COLUMNS.values()
]
_STARTS: Final = tuple(c.start for c in COLUMNS.values())
_RUN_ID_AT: Final = _STARTS.index(_Event("run_id"))
_TIME_AT: Final = _STARTS.index(_Event("timestamp"))


def _required_runs() -> tuple[tuple[slice, Callable[[Mapping[str, Any]], Any]], ...]:
    at = [i for i, s in enumerate(_STARTS) if isinstance(s, _Payload) and s.required]
    runs: list[list[int]] = []
    for i in at:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    # itemgetter of several keys returns a tuple, of one key the bare value: wrap it.
    return tuple(
        (
            slice(r[0], r[-1] + 1),
            itemgetter(*(RUN_COLUMNS[i] for i in r))
            if len(r) > 1
            else (lambda p, k=RUN_COLUMNS[r[0]]: (p[k],)),
        )
        for r in runs
    )


_REQUIRED: Final = _required_runs()
_OPTIONAL_AT: Final = tuple(
    (i, RUN_COLUMNS[i]) for i, s in enumerate(_STARTS) if isinstance(s, _Payload) and not s.required
)
_COMPUTED: Final = tuple((i, s) for i, s in enumerate(_STARTS) if callable(s))

if {name for _, name, _ in _SHOWN} != {f.name for f in dataclasses.fields(Run)}:
    raise RuntimeError("ledger.model.Run and the columns shown by ledger.row.RunState differ")


def started(run_id: str, timestamp: int, payload: Mapping[str, Any]) -> RunState:
    """The state of a run whose ``run.started`` event has just been folded."""
    values = _TEMPLATE.copy()
    values[_RUN_ID_AT] = run_id
    values[_TIME_AT] = timestamp
    for at, read in _REQUIRED:
        values[at] = read(payload)
    for i, key in _OPTIONAL_AT:
        values[i] = payload.get(key)
    for i, start in _COMPUTED:
        values[i] = start(run_id, timestamp, payload)
    return RunState(*values)


def run_column_ddl(name: str, key_text: str, *, added: bool = False) -> str:
    """``name TYPE`` of one column of ``runs`` as a migration writes it (``key_text``: the
    dialect's byte-ordered text type).

    ``added`` (``ALTER TABLE runs ADD COLUMN``): a NOT NULL column gets its start value as
    the default, which the stored runs keep until the migration's rebuild projects them.
    """
    column = COLUMNS[name]
    ddl = f"{name} {column.sql.format(key=key_text)}"
    if not added or "NOT NULL" not in column.sql:
        return ddl
    if not isinstance(column.start, _Const) or column.start.value is None:
        raise ValueError(f"column {name} is NOT NULL without a constant start value to default to")
    value = column.start.value
    literal = str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
    return f"{ddl} DEFAULT {literal}"


def runs_table_ddl(key_text: str) -> str:
    """``CREATE TABLE runs (...)`` with every column of the table above."""
    return "CREATE TABLE runs (" + ", ".join(run_column_ddl(n, key_text) for n in COLUMNS) + ")"


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


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunSum(Generic[T]):
    """One roll-up value: what a row adds to it, in Python and as SQL over the rows' table."""

    name: str
    sql: str
    """An expression over one row; ``SUM(sql)`` over rows gives the roll-up value."""
    value: Callable[[T], Any]


def _runs_with(status: str) -> RunSum[RunState]:
    return RunSum(
        status,
        f"CASE WHEN status = '{status}' THEN 1 ELSE 0 END",
        lambda s: 1 if s.status == status else 0,
    )


def _total(column: str, name: str | None = None) -> RunSum[RunState]:
    get = attrgetter(column)
    return RunSum(name or column, f"COALESCE({column}, 0)", lambda s: get(s) or 0)


_TOTALS: Final = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("total_tokens", "total_tokens"),
    ("cost_usd", "cost_usd"),
    ("auth_risk", "auth_risk_runs"),
    ("policy_override", "policy_override_runs"),
    ("cache_read_tokens", "cache_read_tokens"),
    ("cache_write_tokens_5m", "cache_write_tokens_5m"),
    ("cache_write_tokens_30m", "cache_write_tokens_30m"),
    ("cache_write_tokens_1h", "cache_write_tokens_1h"),
)
"""(column, roll-up value) of the sums of one column (a missing value adds 0)."""

# accounting.uncached in SQL, for the partial hours summed straight from the runs table.
_UNCACHED_SQL: Final = (
    "COALESCE(input_tokens, 0) - COALESCE(cache_read_tokens, 0)"
    " - COALESCE(cache_write_tokens_5m, 0) - COALESCE(cache_write_tokens_30m, 0)"
    " - COALESCE(cache_write_tokens_1h, 0)"
)


def _uncached(s: RunState) -> int:
    return uncached(
        s.input_tokens or 0,
        s.cache_read_tokens or 0,
        s.cache_write_tokens_5m or 0,
        s.cache_write_tokens_30m or 0,
        s.cache_write_tokens_1h or 0,
    )


RUN_SUMS: Final[tuple[RunSum[RunState], ...]] = (
    *(_runs_with(status) for status in RUN_STATUSES),
    *(_total(column, name) for column, name in _TOTALS),
    RunSum(
        "uncached_tokens",
        f"CASE WHEN {_UNCACHED_SQL} > 0 THEN {_UNCACHED_SQL} ELSE 0 END",
        _uncached,
    ),
)
"""The hourly run roll-up's values, in its column order (statuses first)."""
ROLLUP_VALUES: Final = tuple(s.name for s in RUN_SUMS)

_STATUS_VALUES: Final = {
    status: tuple(int(other == status) for other in RUN_STATUSES) for status in RUN_STATUSES
}
_TOTAL_COLUMNS: Final = attrgetter(*(column for column, _ in _TOTALS))
_CACHE_PARTS: Final = itemgetter(
    *(
        [column for column, _ in _TOTALS].index(part)
        for part in (
            "input_tokens",
            "cache_read_tokens",
            "cache_write_tokens_5m",
            "cache_write_tokens_30m",
            "cache_write_tokens_1h",
        )
    )
)
"""The arguments of ``accounting.uncached`` among the totals (as ``_uncached`` takes them)."""

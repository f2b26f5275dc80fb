"""Checks that the ledger's stored evidence matches what it claims, beyond the hash chain.

The chain (``store.verify``) proves the events are the ones appended. These checks cover
the rest of the file or schema: the storage itself (SQLite's own integrity check), the
append-only guard (its triggers present and enabled), and the projections (runs, hourly
roll-ups, the latency histogram, usage rows), which are replayed from the events with the
very fold the append path uses and compared row by row. Each returns None when its
check passes, else a ``VerifyResult`` saying what differs, without quoting payload text.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from racs.ledger import store
from racs.ledger.anchor import Anchor, check_anchors
from racs.ledger.backend import Row, Tx
from racs.ledger.model import VerifyResult
from racs.ledger.projection import (
    HISTOGRAM_KEY,
    HISTOGRAM_VALUES,
    ROLLUP_KEY,
    USAGE_COLUMNS,
    USAGE_ROLLUP_KEY,
    USAGE_ROLLUP_VALUES,
    Projector,
)
from racs.ledger.row import ROLLUP_VALUES, RUN_COLUMNS, RunState

# Package-private helpers shared with rebuild(): the same paging and payload reading.
from racs.ledger.store import CHUNK, event_pages, payload_of

# The triggers that refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) of events.
SQLITE_GUARDS: Final = ("events_no_delete", "events_no_update")
POSTGRES_GUARDS: Final = ("events_no_truncate", "events_no_update_delete")
# Roll-up costs are sums of floats, added in a different order by appends and by a replay.
_REL_TOLERANCE: Final = 1e-9


def _failed(checked: int, reason: str) -> VerifyResult:
    return VerifyResult(False, checked, None, reason)


def check_storage(tx: Tx, checked: int) -> VerifyResult | None:
    """The database's own consistency check (SQLite) and the append-only guard's presence.

    ``checked`` is the number of events the chain check verified, carried into a failure.
    On PostgreSQL there is no cheap whole-database check a non-superuser may run (page
    checksums and ``amcheck`` are the operator's), so only the guard is checked there.
    """
    if tx.dialect == "sqlite":
        rows = tx.rows("PRAGMA integrity_check")
        first = str(rows[0][0]) if rows else "no answer"
        if first != "ok":
            return _failed(checked, f"the SQLite file is damaged (integrity_check: {first})")
        present = {
            r[0]
            for r in tx.rows(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"
            )
        }
        missing = [name for name in SQLITE_GUARDS if name not in present]
    else:
        enabled = {
            r[0]
            for r in tx.rows(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass "
                "AND tgenabled <> 'D'"
            )
        }
        missing = [name for name in POSTGRES_GUARDS if name not in enabled]
    if missing:
        return _failed(
            checked,
            f"the append-only guard of events is missing or disabled ({', '.join(missing)})",
        )
    return None


def _row_digest(row: Sequence[Any]) -> int:
    # Order-independent set digest: the sum of per-row SHA-256 values. Rows are made of
    # ints, strings and None (usage rows hold no floats), whose repr is the same whichever
    # backend returned them.
    text = repr(tuple(row)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(text).digest()[:16], "big")


def _pages(tx: Tx, table: str, columns: Sequence[str], key: Sequence[str]) -> Iterator[list[Row]]:
    """Every row of ``table`` in key order, a page at a time (keyset pagination)."""
    select = f"SELECT {', '.join(columns)} FROM {table}"
    order = f"ORDER BY {', '.join(key)} LIMIT {CHUNK}"
    positions = [columns.index(k) for k in key]
    after: list[Any] | None = None
    while True:
        if after is None:
            rows = tx.rows(f"{select} {order}")
        else:
            marks = ", ".join("?" * len(key))
            rows = tx.rows(f"{select} WHERE ({', '.join(key)}) > ({marks}) {order}", after)
        if not rows:
            return
        yield rows
        after = [rows[-1][i] for i in positions]


def _same(expected: Any, stored: Any, column: str) -> bool:
    if expected == stored:
        return True
    if column == "cost_usd" and isinstance(expected, float) and stored is not None:
        scale = max(1.0, abs(expected), abs(float(stored)))
        return math.isfinite(float(stored)) and abs(expected - float(stored)) <= (
            _REL_TOLERANCE * scale
        )
    return False


def _differing_column(
    columns: Sequence[str], expected: Sequence[Any], stored: Sequence[Any]
) -> str | None:
    for column, want, have in zip(columns, expected, stored, strict=True):
        if not _same(want, have, column):
            return column
    return None


def _compare_keyed(
    tx: Tx,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    expected: Mapping[tuple[Any, ...], Sequence[Any]],
    describe: Callable[[tuple[Any, ...]], str],
) -> str | None:
    """The first difference (in key order) between ``expected`` rows and the stored table.

    Every stored row is read, since the database's collation may order text keys unlike
    Python, which decides which difference comes first.
    """
    width = len(key)
    unseen = set(expected)
    problems: dict[tuple[Any, ...], str] = {}
    for rows in _pages(tx, table, columns, key):
        for row in rows:
            row_key = tuple(row[:width])
            want = expected.get(row_key)
            if want is None:
                problems.setdefault(row_key, "is not produced by any event")
                continue
            unseen.discard(row_key)
            column = _differing_column(columns, want, row)
            if column is not None:
                problems[row_key] = f"has a {column} that differs from the events"
    for missing in unseen:
        problems[missing] = "is missing (the events produce it)"
    if not problems:
        return None
    first = min(problems)
    return f"{table} {describe(first)} {problems[first]}"


class _RunRows(Mapping[tuple[Any, ...], Sequence[Any]]):
    """The replayed runs as rows keyed by ``(run_id,)``, made on demand (not copied)."""

    def __init__(self, states: Mapping[str, RunState]) -> None:
        self._states = states

    def __getitem__(self, key: tuple[Any, ...]) -> Sequence[Any]:
        return self._states[key[0]].row()

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return ((run_id,) for run_id in self._states)

    def __len__(self) -> int:
        return len(self._states)


def _key_of(names: Sequence[str]) -> Callable[[tuple[Any, ...]], str]:
    def describe(key: tuple[Any, ...]) -> str:
        return "row " + ", ".join(f"{n}={v}" for n, v in zip(names, key, strict=False))

    return describe


def _usage_digest(tx: Tx) -> tuple[int, int]:
    total = count = 0
    for rows in _pages(tx, "cache_usage", USAGE_COLUMNS, ("ts", "position")):
        for row in rows:
            total += _row_digest(row)
            count += 1
    return total % (1 << 256), count


def _first_usage_difference(tx: Tx, expected: dict[int, tuple[Any, ...]]) -> str:
    """Slow path, only after the digests disagreed: name the first position that differs."""
    bad: list[int] = []
    seen: set[int] = set()
    for rows in _pages(tx, "cache_usage", USAGE_COLUMNS, ("ts", "position")):
        for row in rows:
            position = int(row[0])
            seen.add(position)
            want = expected.get(position)
            if want is None or _differing_column(USAGE_COLUMNS, want, row) is not None:
                bad.append(position)
    bad.extend(p for p in expected if p not in seen)
    if not bad:  # pragma: no cover - the digests differed, so some row does
        return "cache_usage differs from the events"
    return f"cache_usage row of event {min(bad)} differs from that event"


def check_projections(tx: Tx, checked: int) -> VerifyResult | None:
    """Replay every event into fresh projections and compare them with the stored ones.

    Holds one row per run in memory (as ``rebuild`` does per page) plus the hourly sums;
    usage rows are compared through an order-independent digest, streamed, and searched
    one by one only when the digests differ.
    """
    projector = Projector({})
    usage_total = usage_count = 0
    usage_sums: dict[tuple[Any, ...], list[int]] = {}
    for rows in event_pages(tx):
        for position, run_id, seq, type_, ts, payload, _ in rows:
            try:
                projector.apply(position, run_id, seq, type_, ts, payload_of(payload))
            except (LookupError, TypeError, ValueError) as exc:
                return _failed(
                    checked, f"event {position} cannot be projected ({type(exc).__name__})"
                )
        for row in projector.usage_rows:
            usage_total += _row_digest(row)
            usage_count += 1
        width = len(USAGE_ROLLUP_KEY)
        for delta in projector.usage_rollup_deltas():
            acc = usage_sums.setdefault(tuple(delta[:width]), [0] * len(USAGE_ROLLUP_VALUES))
            for i, value in enumerate(delta[width:]):
                acc[i] += value
        projector.usage_rows = []

    difference = _compare_keyed(
        tx, "runs", RUN_COLUMNS, ("run_id",), _RunRows(projector.states), _key_of(["run"])
    )
    if difference is None:
        rollup = {tuple(r[: len(ROLLUP_KEY)]): tuple(r) for r in projector.rollup_deltas()}
        difference = _compare_keyed(
            tx,
            "run_rollup",
            (*ROLLUP_KEY, *ROLLUP_VALUES),
            ROLLUP_KEY,
            rollup,
            _key_of(ROLLUP_KEY),
        )
    if difference is None:
        cells = {tuple(r[: len(HISTOGRAM_KEY)]): tuple(r) for r in projector.histogram_deltas()}
        difference = _compare_keyed(
            tx,
            "run_histogram",
            (*HISTOGRAM_KEY, *HISTOGRAM_VALUES),
            HISTOGRAM_KEY,
            cells,
            _key_of(HISTOGRAM_KEY),
        )
    if difference is None:
        usage_rollup = {key: (*key, *values) for key, values in usage_sums.items()}
        difference = _compare_keyed(
            tx,
            "usage_rollup",
            (*USAGE_ROLLUP_KEY, *USAGE_ROLLUP_VALUES),
            USAGE_ROLLUP_KEY,
            usage_rollup,
            _key_of(USAGE_ROLLUP_KEY),
        )
    if difference is None and _usage_digest(tx) != (usage_total % (1 << 256), usage_count):
        difference = _first_usage_difference(tx, _expected_usage(tx))
    if difference is None:
        return None
    return _failed(checked, f"projection differs: {difference}; rebuild() restores it")


def _expected_usage(tx: Tx) -> dict[int, tuple[Any, ...]]:
    """Every usage row the events produce, by position (the slow path's reference)."""
    projector = Projector({})
    expected: dict[int, tuple[Any, ...]] = {}
    for rows in event_pages(tx):
        for position, run_id, seq, type_, ts, payload, _ in rows:
            if type_ == "cache.usage":
                projector.apply(position, run_id, seq, type_, ts, payload_of(payload))
        for row in projector.usage_rows:
            expected[int(row[0])] = tuple(row)
        projector.usage_rows = []
    return expected


def verify_evidence(tx: Tx, anchors: tuple[Anchor, ...] = ()) -> VerifyResult:
    """Every check, cheapest first: the hash chain and run links, the storage and its
    append-only guard, the anchors, then the projections replayed from the events."""
    result = store.verify(tx)
    if not result.ok:
        return result
    checked = result.checked
    failure = check_storage(tx, checked)
    if failure is None and anchors:
        failure = check_anchors(tx, anchors, (checked, result.head_hash or ""), checked)
    if failure is None:
        failure = check_projections(tx, checked)
    return result if failure is None else failure

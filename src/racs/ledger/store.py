"""The ledger's storage logic, written once over ``Tx`` for every backend.

Appending reads the chain head inside the (exclusive) write transaction, checks the run
rules, assigns positions, per-run sequence numbers and hashes, inserts the events and
writes the projection they produce, all in that one transaction. The head and the states
of open runs are remembered in ``Tx.memo`` for the next append, which the backend empties
whenever another connection may have written, so single calls skip both reads.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from racs.core.errors import ERR_CONFLICT, ERR_NOT_FOUND, ERR_STORAGE, RacsError, invalid
from racs.core.limits import MAX_INSTANT_MS
from racs.ledger.backend import Row, Tx
from racs.ledger.events import PendingEvent
from racs.ledger.hashing import GENESIS, chain, event_json, seal
from racs.ledger.model import CACHE_USAGE, RUN_STARTED, Event, Run, RunPage, VerifyResult
from racs.ledger.projection import (
    HISTOGRAM_KEY,
    HISTOGRAM_VALUES,
    ROLLUP_KEY,
    USAGE_COLUMNS,
    USAGE_ROLLUP_KEY,
    USAGE_ROLLUP_VALUES,
    Projector,
)
from racs.ledger.row import MUTABLE_RUN_COLUMNS, ROLLUP_VALUES, RUN_COLUMNS, RunState

if TYPE_CHECKING:  # filters.py builds its SQL with ``conditions`` from here
    from racs.ledger.filters import RunFilter

EVENT_COLUMNS: Final = ("position", "run_id", "seq", "type", "ts", "payload", "hash")
# ``run_prev`` links each event of a run to the run's previous one (NULL for the first):
# a run's events are found by walking back from ``runs.last_position``, which costs the
# append nothing, where an index on (run_id, seq) cost every append a second B-tree write.
_EVENT_INSERT_COLUMNS: Final = (*EVENT_COLUMNS[:-1], "run_prev", "hash")
PROJECTION_TABLES: Final = ("runs", "run_rollup", "run_histogram", "cache_usage", "usage_rollup")
CHUNK: Final = 10_000
# Open runs remembered between appends: enough for many concurrent runs of one process,
# small enough that memory stays flat however many runs pass through.
MEMO_RUNS: Final = 4096

_RUN_SELECT: Final = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
_EVENT_SELECT: Final = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
# The positions of one run's events, newest first. Each step must go to a smaller
# position, so a link edited to point forward ends the walk instead of looping.
RUN_POSITIONS: Final = """WITH RECURSIVE walk(position) AS (
    SELECT last_position FROM runs WHERE run_id = ?
    UNION ALL
    SELECT e.run_prev FROM events e JOIN walk w ON e.position = w.position
    WHERE e.run_prev < w.position
) SELECT position FROM walk"""
# Only what events can change: an index whose columns are not SET is left alone, so a
# completion rewrites two index pages instead of seven.
_RUN_UPDATE: Final = (
    f"UPDATE runs SET {', '.join(f'{c} = ?' for c in MUTABLE_RUN_COLUMNS)} WHERE run_id = ?"
)


def _upsert_adding(table: str, key: tuple[str, ...], values: tuple[str, ...]) -> str:
    """INSERT a roll-up row, or add its values to the row already under its key."""
    return (
        f"INSERT INTO {table} ({', '.join(key + values)}) "
        f"VALUES ({', '.join('?' * (len(key) + len(values)))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in values)
    )


_ROLLUP_UPSERT: Final = _upsert_adding("run_rollup", ROLLUP_KEY, ROLLUP_VALUES)
_USAGE_ROLLUP_UPSERT: Final = _upsert_adding("usage_rollup", USAGE_ROLLUP_KEY, USAGE_ROLLUP_VALUES)
_HISTOGRAM_UPSERT: Final = _upsert_adding("run_histogram", HISTOGRAM_KEY, HISTOGRAM_VALUES)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def conditions(*pairs: tuple[str, Any]) -> tuple[str, list[Any]]:
    """``" AND "``-joined clauses of the pairs whose value is not None, and their parameters.

    Each clause is fixed SQL text with one ``?`` per parameter; a tuple value fills several.
    """
    clauses = ["1 = 1"]
    params: list[Any] = []
    for clause, value in pairs:
        if value is not None:
            clauses.append(clause)
            params.extend(value if isinstance(value, tuple) else (value,))
    return " AND ".join(clauses), params


def chain_head(tx: Tx) -> tuple[int, str]:
    """The last position and its hash (0 and the genesis hash for an empty ledger)."""
    rows = tx.rows("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")
    return (0, GENESIS) if not rows else (rows[0][0], rows[0][1])


def count_events(tx: Tx) -> int:
    """How many events are stored."""
    return int(tx.rows("SELECT COUNT(*) FROM events")[0][0])


def load_runs(tx: Tx, run_ids: Collection[str]) -> dict[str, RunState]:
    """The stored projection rows of ``run_ids`` (absent ids are simply missing)."""
    if len(run_ids) == 1:  # the single-call path: a plain primary-key lookup is cheapest
        rows = tx.rows(f"{_RUN_SELECT} WHERE run_id = ?", tuple(run_ids))
        return {row[0]: RunState.from_row(row) for row in rows}
    states: dict[str, RunState] = {}
    for chunk in _chunks(sorted(run_ids)):
        clause, param = tx.any_of("run_id", chunk)
        for row in tx.rows(f"{_RUN_SELECT} WHERE {clause}", (param,)):
            states[row[0]] = RunState.from_row(row)
    return states


def _write_projection(tx: Tx, projector: Projector) -> None:
    inserted = projector.inserted_rows()
    if inserted:
        tx.insert_many("runs", RUN_COLUMNS, inserted)
    updated = projector.updated_rows()
    if updated:
        tx.run_many(_RUN_UPDATE, updated)
    deltas = projector.rollup_deltas()
    if deltas:
        tx.run_many(_ROLLUP_UPSERT, deltas)
    cells = projector.histogram_deltas()
    if cells:
        tx.run_many(_HISTOGRAM_UPSERT, cells)
    if projector.usage_rows:
        tx.insert_many("cache_usage", USAGE_COLUMNS, projector.usage_rows)
        tx.run_many(_USAGE_ROLLUP_UPSERT, projector.usage_rollup_deltas())


def load_states(
    tx: Tx, remembered: dict[str, RunState], events: Sequence[PendingEvent]
) -> dict[str, RunState]:
    """The stored states of the runs ``events`` name, from the memo where it has them."""
    states: dict[str, RunState] = {}
    missing = []
    for run_id in {e.run_id for e in events if e.run_id is not None}:
        state = remembered.get(run_id)
        if state is None:
            missing.append(run_id)
        else:
            states[run_id] = state
    if missing:
        states.update(load_runs(tx, missing))
    return states


def remember(remembered: dict[str, RunState], projector: Projector) -> None:
    """Keep the runs the append left open (most recent last); forget the ended ones."""
    states = projector.states
    for run_id in projector.touched:
        remembered.pop(run_id, None)
        state = states[run_id]
        if state.status == "started":
            remembered[run_id] = state
    if len(remembered) > MEMO_RUNS:
        # Trim to half in one go: evicting one by one from the front of a dict is slow.
        for run_id in list(islice(remembered, len(remembered) - MEMO_RUNS // 2)):
            del remembered[run_id]


EventRow = tuple[int, str | None, int | None, str, int, str, int | None]


def place(projector: Projector, events: Sequence[PendingEvent], first: int) -> list[EventRow]:
    """Number ``events`` after position ``first``, checking the run rules, and fold them.

    Returns ``(position, run_id, seq, type, ts, payload, run_prev)`` rows, ready to seal.
    Raises ERR_NOT_FOUND for an unknown run and ERR_CONFLICT for a run started twice or an
    event after the run ended; ``projector`` has then folded the events before the refused
    one, so the caller must drop it. A ``cache.usage`` event may name a run that has ended:
    usage is often reported after the response that produced it completed the run.
    """
    states = projector.states
    fold = projector.apply
    rows: list[EventRow] = []
    position = first
    for type_, run_id, ts, payload, payload_json in events:
        seq = link = None
        if run_id is not None:
            state = states.get(run_id)
            if type_ == RUN_STARTED:
                if state is not None:
                    raise RacsError(ERR_CONFLICT, f"run {run_id!r} already exists")
                seq = 1
            elif state is None:
                raise RacsError(ERR_NOT_FOUND, f"no run {run_id!r} in the ledger")
            else:
                if state.status != "started" and type_ != CACHE_USAGE:
                    raise RacsError(
                        ERR_CONFLICT,
                        f"run {run_id!r} already ended ({state.status}): {type_} refused",
                    )
                seq = state.event_count + 1
                link = state.last_position
        position += 1
        rows.append((position, run_id, seq, type_, ts, payload_json, link))
        fold(position, run_id, seq, type_, ts, payload)
    return rows


def write_events(tx: Tx, sealed: Sequence[Sequence[Any]], projector: Projector) -> None:
    """Insert sealed event rows (``seal``'s output) and the projection they produced."""
    tx.insert_many("events", _EVENT_INSERT_COLUMNS, sealed)
    _write_projection(tx, projector)


def append(tx: Tx, events: Sequence[PendingEvent]) -> list[int]:
    """Append ``events`` in order and project them; returns their positions.

    Refuses what ``place`` refuses; the caller's transaction then rolls back, writing
    nothing (and the backend forgets the memo, whose states the fold may have changed).
    """
    memo = tx.memo
    head = memo.get("head")
    first, digest = chain_head(tx) if head is None else head
    remembered: dict[str, RunState] = memo.setdefault("runs", {})
    # A lone start (every start_run call) skips the lookup: the runs primary key refuses
    # an id that exists, which the backend reports as ERR_CONFLICT.
    lone_start = len(events) == 1 and events[0].type == RUN_STARTED
    states: dict[str, RunState] = {} if lone_start else load_states(tx, remembered, events)
    projector = Projector(states)
    sealed = seal(digest, place(projector, events, first))
    tx.insert_many("events", _EVENT_INSERT_COLUMNS, sealed)
    try:
        _write_projection(tx, projector)
    except RacsError as exc:
        if exc.code == ERR_CONFLICT and lone_start:
            raise RacsError(ERR_CONFLICT, f"run {events[0].run_id!r} already exists") from None
        raise
    position = sealed[-1][0]
    memo["head"] = (position, sealed[-1][-1])
    remember(remembered, projector)
    return list(range(first + 1, position + 1))


# The first event whose run link disagrees with the hashed run id and sequence.
_BROKEN_LINK: Final = """SELECT e.position FROM events e
    LEFT JOIN events p ON p.position = e.run_prev
    WHERE (e.run_id IS NULL AND e.run_prev IS NOT NULL)
       OR (e.seq = 1 AND e.run_prev IS NOT NULL)
       OR (e.seq > 1 AND (p.position IS NULL OR p.run_id <> e.run_id OR p.seq <> e.seq - 1))
    ORDER BY e.position LIMIT 1"""


def payload_of(text: str) -> Mapping[str, Any]:
    # Readers tolerate whatever is stored: a payload that is not a JSON object (only
    # possible by editing the database) folds as an empty one, and verify() reports it.
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def event_pages(tx: Tx) -> Iterator[list[Row]]:
    after = 0
    while True:
        rows = tx.rows(
            f"{_EVENT_SELECT} WHERE position > ? ORDER BY position LIMIT ?", (after, CHUNK)
        )
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def rebuild(tx: Tx) -> int:
    """Recreate runs, roll-ups and usage rows from the events alone; returns events replayed."""
    tx.memo.clear()
    for table in PROJECTION_TABLES:
        tx.run(f"DELETE FROM {table}")
    replayed = 0
    for rows in event_pages(tx):
        projector = Projector(load_runs(tx, {r[1] for r in rows if r[1] is not None}))
        for position, run_id, seq, type_, ts, payload, _ in rows:
            try:
                projector.apply(position, run_id, seq, type_, ts, payload_of(payload))
            except (RacsError, LookupError, TypeError, ValueError) as exc:
                # Only an event edited behind the ledger's back can fail to fold. The kind of
                # fault only: its message may quote the payload.
                raise RacsError(
                    ERR_STORAGE,
                    f"event {position} cannot be projected ({type(exc).__name__}); run verify()",
                ) from exc
        _write_projection(tx, projector)
        replayed += len(rows)
    return replayed


def verify(tx: Tx) -> VerifyResult:
    """Walk the chain from the first event; name the first position that does not match."""
    digest = GENESIS
    expected = 1
    for rows in event_pages(tx):
        for position, run_id, seq, type_, ts, payload, stored in rows:
            if position != expected:
                return VerifyResult(
                    False,
                    expected - 1,
                    position,
                    f"position {expected} is missing: the chain jumps to {position}",
                )
            try:
                digest = chain(digest, event_json(position, run_id, seq, type_, ts, payload))
            except (TypeError, UnicodeError):
                return VerifyResult(False, expected - 1, position, "the event is unreadable")
            if digest != stored:
                return VerifyResult(
                    False,
                    expected - 1,
                    position,
                    "hash mismatch: the event differs from what was appended",
                )
            expected += 1
    checked = expected - 1
    broken = tx.rows(_BROKEN_LINK)
    if broken:
        position = broken[0][0]
        return VerifyResult(
            False,
            position - 1,
            position,
            "the link to the run's previous event does not match its run and sequence",
        )
    return VerifyResult(True, checked, head_hash=digest if checked else None)


def _event(row: Row) -> Event:
    position, run_id, seq, type_, ts, payload, digest = row
    return Event(position, run_id, seq, type_, ts, payload_of(payload), digest)


def run_events(tx: Tx, run_id: str) -> tuple[Event, ...]:
    """Every event of one run in sequence order (empty for an unknown run)."""
    rows = tx.rows(
        f"{_EVENT_SELECT} WHERE position IN ({RUN_POSITIONS}) AND run_id = ? ORDER BY position",
        (run_id, run_id),
    )
    return tuple(_event(row) for row in rows)


def query_events(
    tx: Tx,
    *,
    type_: str | None,
    run_id: str | None,
    after_position: int | None,
    since: int | None,
    until: int | None,
    limit: int,
) -> tuple[Event, ...]:
    """Events in position order matching every given filter, at most ``limit``."""
    # A run's events are reached through its links; the run_id test guards the walk.
    of_run = None if run_id is None else (run_id, run_id)
    where, params = conditions(
        ("position > ?", after_position or 0),
        ("type = ?", type_),
        (f"position IN ({RUN_POSITIONS}) AND run_id = ?", of_run),
        ("ts >= ?", since),
        ("ts <= ?", until),
    )
    rows = tx.rows(f"{_EVENT_SELECT} WHERE {where} ORDER BY position LIMIT ?", [*params, limit])
    return tuple(_event(row) for row in rows)


def get_run(tx: Tx, run_id: str) -> Run | None:
    """The projected run, or None when there is no such run."""
    rows = tx.rows(f"{_RUN_SELECT} WHERE run_id = ?", (run_id,))
    return RunState.from_row(rows[0]).to_run() if rows else None


def encode_cursor(started_at: int, run_id: str) -> str:
    """An opaque cursor pointing just after the run (started_at, run_id)."""
    raw = f"{started_at}:{run_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The (started_at, run_id) of a cursor made by ``encode_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        started, run_id = raw.split(":", 1)
        # Only a forged cursor holds a start outside the ledger's time range.
        if not (run_id and started.isdigit() and len(started) <= 15):
            raise ValueError(cursor)
        if int(started) > MAX_INSTANT_MS:
            raise ValueError(cursor)
        return int(started), run_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid(f"cursor {cursor!r} was not returned by query_runs") from None


def query_runs(tx: Tx, filters: RunFilter, limit: int, cursor: str | None) -> RunPage:
    """A page of runs, newest first (by start time, then run id), with keyset pagination."""
    after = None if cursor is None else decode_cursor(cursor)
    where, params = filters.where(("(started_at, run_id) < (?, ?)", after))
    rows = tx.rows(
        f"{_RUN_SELECT} WHERE {where} ORDER BY started_at DESC, run_id DESC LIMIT ?",
        [*params, limit + 1],
    )
    items = tuple(RunState.from_row(row).to_run() for row in rows[:limit])
    more = len(rows) > limit
    next_cursor = encode_cursor(items[-1].started_at, items[-1].run_id) if more else None
    return RunPage(items, next_cursor)


def count_runs(tx: Tx, filters: RunFilter) -> int:
    """How many runs match the filters."""
    where, params = filters.where()
    return int(tx.rows(f"SELECT COUNT(*) FROM runs WHERE {where}", params)[0][0])

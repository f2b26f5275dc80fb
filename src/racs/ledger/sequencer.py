"""The PostgreSQL intake queue and its sequencer: many writers, one hash chain.

Writers append each submission (the events of one call or one batch, in order) to
``ledger_intake`` without any lock; their own commit makes the events durable, and that is
when a call is acknowledged. One sequencer at a time, whichever connection holds the
schema's session advisory lock, moves the oldest queued submissions into the chain: it
takes them off the queue, numbers, checks, seals and projects them exactly as a direct
append does, records refusals and announces every outcome with NOTIFY, all in one transaction.
A sequencer killed mid-batch therefore leaves the queue as it was, and the next one seals it.

Each submission stays all or nothing: it is first placed on copies of the run states it
touches, and only folded into the batch when none of its events is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from racs.core.errors import RacsError
from racs.ledger.backend import Row, Tx
from racs.ledger.events import PendingEvent
from racs.ledger.hashing import GENESIS, seal
from racs.ledger.projection import Projector
from racs.ledger.row import RUN_COLUMNS, RunState
from racs.ledger.store import EventRow, place, write_events

# Submissions sealed per transaction: enough that a batch amortises its commit over many
# writers, small enough that one batch stays a few milliseconds of work.
BATCH_SUBMISSIONS: Final = 1000
# NOTIFY payloads must stay under 8000 bytes.
_NOTIFY_BYTES: Final = 7900
REFUSED: Final = "!"

INTAKE_INSERT: Final = (
    "INSERT INTO ledger_intake (types, run_ids, stamps, payloads) VALUES (?, ?, ?, ?) RETURNING id"
)
PENDING_EVENTS: Final = "SELECT COALESCE(SUM(cardinality(types)), 0) FROM ledger_intake"

# A batch reads in one round trip, in one REPEATABLE READ snapshot, so that the runs read
# are those of the submissions taken: the chain head, the stored runs the oldest ``?``
# submissions and the sequencer's own (an array) name, and those submissions, taken off
# the queue (the sequencer lock keeps it to one taker).
CHAIN_HEAD: Final = "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
QUEUED_RUNS: Final = f"""SELECT {", ".join(RUN_COLUMNS)} FROM runs WHERE run_id IN (
    SELECT unnest(run_ids) FROM (SELECT run_ids FROM ledger_intake ORDER BY id LIMIT ?) q
    UNION ALL SELECT unnest(?::text[])
)"""
INTAKE_TAKE: Final = """DELETE FROM ledger_intake WHERE id IN (
    SELECT id FROM ledger_intake ORDER BY id LIMIT ?
) RETURNING id, types, run_ids, stamps, payloads"""


def intake_row(events: Sequence[PendingEvent]) -> tuple[list[Any], ...]:
    """The ``ledger_intake`` column values (arrays, in event order) of one submission."""
    return (
        [e.type for e in events],
        [e.run_id for e in events],
        [e.timestamp for e in events],
        [e.payload_json for e in events],
    )


def _submission(
    types: list[str], run_ids: list[str | None], stamps: list[int], payloads: list[str]
) -> list[PendingEvent]:
    return [
        PendingEvent(type_, run_id, ts, json.loads(text), text)
        for type_, run_id, ts, text in zip(types, run_ids, stamps, payloads, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class Taken:
    """What a batch read: the chain head, the stored runs named, the queued submissions."""

    head: tuple[int, str]
    states: dict[str, RunState]
    queued: list[tuple[int, list[PendingEvent]]]

    @classmethod
    def of(cls, head: Sequence[Row], runs: Sequence[Row], intake: Sequence[Row]) -> Taken:
        """From the rows of CHAIN_HEAD, QUEUED_RUNS and INTAKE_TAKE."""
        return cls(
            (0, GENESIS) if not head else (head[0][0], head[0][1]),
            {row[0]: RunState.from_row(row) for row in runs},
            [(intake_id, _submission(*columns)) for intake_id, *columns in sorted(intake)],
        )


@dataclass(slots=True)
class Sealed:
    """What one batch did: per queued submission its first position or its refusal."""

    outcomes: dict[int, int | RacsError] = field(default_factory=dict)
    own: list[int] | RacsError | None = None
    """The positions of the sequencer's own submission, or why it was refused."""
    events: int = 0
    """Events chained by the batch."""


def _trial(states: Mapping[str, RunState], events: Sequence[PendingEvent]) -> Projector:
    # Copies of the states the submission touches, so a refusal part-way leaves no trace.
    copies: dict[str, RunState] = {}
    for event in events:
        run_id = event.run_id
        state = None if run_id is None else states.get(run_id)
        if run_id is not None and state is not None:
            copies[run_id] = RunState.from_row(state.row())
    return Projector(copies)


def seal_batch(
    tx: Tx,
    taken: Taken,
    channel: str,
    own: Sequence[PendingEvent] | None = None,
    limit: int = BATCH_SUBMISSIONS,
) -> Sealed:
    """Chain what a batch took (``limit`` at most), then ``own``: writes, no reads.

    ``own`` joins only a batch that empties the queue: what its writer queued earlier is
    in the queue, and must be chained first. Runs in the batch's transaction, under the
    sequencer lock; the caller commits.
    """
    submissions: list[tuple[int | None, Sequence[PendingEvent]]] = list(taken.queued)
    if own and len(taken.queued) < limit:
        submissions.append((None, own))
    result = Sealed()
    if not submissions:
        return result
    first, digest = taken.head
    states = taken.states
    projector = Projector(states)
    rows: list[EventRow] = []
    position = first
    for intake, events in submissions:
        outcome: int | RacsError
        try:
            placed = place(_trial(states, events), events, position)
        except RacsError as exc:
            outcome = exc
        else:
            for (pos, run_id, seq, type_, ts, _, _), event in zip(placed, events, strict=True):
                projector.apply(pos, run_id, seq, type_, ts, event.payload)
            rows.extend(placed)
            outcome = position + 1
            position += len(placed)
        if intake is None:
            result.own = (
                outcome
                if isinstance(outcome, RacsError)
                else list(range(outcome, outcome + len(events)))
            )
        else:
            result.outcomes[intake] = outcome
    if rows:
        write_events(tx, seal(digest, rows), projector)
    result.events = len(rows)
    if taken.queued:
        _record_refusals(tx, result.outcomes)
        for payload in announcements(result.outcomes):
            tx.run("SELECT pg_notify(?, ?)", (channel, payload))
    return result


def _record_refusals(tx: Tx, outcomes: Mapping[int, int | RacsError]) -> None:
    refused = [
        (intake, exc.code, exc.message)
        for intake, exc in outcomes.items()
        if isinstance(exc, RacsError)
    ]
    if refused:
        # The waiting writer takes its refusal away. Only a writer that died waiting leaves
        # one behind: unwaited submissions (starts of generated run ids) are never refused.
        tx.run_many("INSERT INTO ledger_refusals (intake, code, message) VALUES (?, ?, ?)", refused)


def announcements(outcomes: Mapping[int, int | RacsError]) -> Iterator[str]:
    """NOTIFY payloads: ``intake:first_position`` (or ``intake:!``), comma-separated."""
    parts: list[str] = []
    size = 0
    for intake, outcome in outcomes.items():
        part = f"{intake}:{REFUSED if isinstance(outcome, RacsError) else outcome}"
        if size + len(part) + 1 > _NOTIFY_BYTES:
            yield ",".join(parts)
            parts, size = [], 0
        parts.append(part)
        size += len(part) + 1
    if parts:
        yield ",".join(parts)


def announced(payload: str) -> Iterator[tuple[int, int | None]]:
    """The ``(intake, first position or None when refused)`` pairs of one NOTIFY payload."""
    for part in payload.split(","):
        intake, _, outcome = part.partition(":")
        if outcome:
            yield int(intake), None if outcome == REFUSED else int(outcome)


def take_refusal(tx: Tx, intake: int) -> RacsError | None:
    """The refusal of a submission, removed from the table (None if it is not there)."""
    rows = tx.rows(
        "DELETE FROM ledger_refusals WHERE intake = ? RETURNING code, message", (intake,)
    )
    return RacsError(rows[0][0], rows[0][1]) if rows else None

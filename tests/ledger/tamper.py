"""Tampering with a ledger behind its back, as someone holding the file or the schema would.

Shared by the evidence tests and ``bench/tamper_bench.py``. Every edit goes around the
ledger (a raw connection); those that touch events lift the append-only guard and, on
SQLite, put it back afterwards, as a careful attacker would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger.helpers import Store
from racs.core.errors import RacsError
from racs.ledger import Anchor, Ledger
from racs.ledger.hashing import GENESIS, chain, event_json

SQLITE_GUARDS = (
    """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: DELETE refused'); END""",
)


def edit_events(store: Store, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run ``sql`` on the events with the guard lifted, then restore the guard."""
    store.raw(sql, params, bypass=True)
    if store.kind == "sqlite":
        for guard in SQLITE_GUARDS:
            store.raw(guard)


def rechain(store: Store, start: int = 1) -> None:
    """Recompute every stored hash from ``start`` on, so the chain verifies again."""
    rows = store.raw(
        "SELECT position, run_id, seq, type, ts, payload, hash FROM events ORDER BY position"
    )
    digest = GENESIS
    updates = []
    for position, run_id, seq, type_, ts, payload, stored in rows:
        digest = chain(digest, event_json(position, run_id, seq, type_, ts, payload))
        if position >= start and digest != stored:
            updates.append((digest, position))
    for digest, position in updates:
        edit_events(store, "UPDATE events SET hash = ? WHERE position = ?", (digest, position))


def rewrite_and_rechain(store: Store, ledger: Ledger, position: int, old: str, new: str) -> None:
    """Change text in one payload, rechain everything after it and rebuild the projections:
    nothing inside the ledger disagrees any more."""
    edit_events(
        store,
        "UPDATE events SET payload = REPLACE(payload, ?, ?) WHERE position = ?",
        (old, new, position),
    )
    rechain(store, position)
    ledger.rebuild()


def truncate(store: Store, ledger: Ledger, keep: int) -> None:
    """Remove every event after position ``keep`` and rebuild the projections to match."""
    edit_events(store, "DELETE FROM events WHERE position > ?", (keep,))
    ledger.rebuild()


# Projection edits: each leaves the events alone, so only replaying the projections shows it.
PROJECTION_EDITS: dict[str, str] = {
    "run cost x100": "UPDATE runs SET cost_usd = cost_usd * 100 WHERE cost_usd IS NOT NULL",
    "run status": "UPDATE runs SET status = 'completed' WHERE status = 'cancelled'",
    "run tokens": "UPDATE runs SET input_tokens = 1 WHERE input_tokens = 100",
    "run metadata": "UPDATE runs SET metadata = '{}' WHERE metadata <> '{}'",
    "run deleted": "DELETE FROM runs WHERE status = 'failed'",
    "roll-up cost x100": "UPDATE run_rollup SET cost_usd = cost_usd * 100 WHERE cost_usd > 0",
    "roll-up runs": "UPDATE run_rollup SET completed = completed + 1",
    "roll-up row deleted": "DELETE FROM run_rollup WHERE workspace_id = 'ws_2'",
    "cache_usage tokens": "UPDATE cache_usage SET cache_read_tokens = 999",
    "cache_usage row deleted": "DELETE FROM cache_usage WHERE provider = 'openai'",
    "cache_usage timestamp": "UPDATE cache_usage SET ts = ts + 1 WHERE provider = 'openai'",
    "usage roll-up hits": "UPDATE usage_rollup SET hits = hits + 1",
    "histogram count": "UPDATE run_histogram SET runs = runs + 1",
    "histogram row added": "INSERT INTO run_histogram VALUES ('latency', 1, 0, 'ws_9', 1)",
}


def detected(verify: Callable[[], Any]) -> bool:
    """Whether verification refuses: a failed result, or an error (nothing says ok)."""
    try:
        return not verify().ok
    except RacsError:
        return True


def corrupt_page(path: Path, page: int, page_size: int, mode: str, seed: int) -> None:
    """Damage one page of a (closed, checkpointed) SQLite file in place."""
    data = bytearray(path.read_bytes())
    start = (page - 1) * page_size
    if mode == "zero":
        data[start : start + page_size] = bytes(page_size)
    elif mode == "garbage":
        data[start : start + page_size] = bytes((seed * 7 + i * 31) % 251 for i in range(page_size))
    else:  # one flipped byte, somewhere past the page's header
        offset = start + 8 + (seed * 2654435761) % (page_size - 8)
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def content(path: Path) -> Any:
    """Everything a reader can see in a SQLite ledger file (None when it cannot be read)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")
            seen: dict[str, Any] = {"schema": schema.fetchall()}
            for table in tables:
                seen[table] = sorted(map(repr, conn.execute(f"SELECT * FROM {table}")))
            return seen
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def anchored(ledger: Ledger) -> tuple[Anchor, ...]:
    """An anchor of the ledger's current head, as a tuple for ``verify``."""
    return (ledger.anchor(),)

"""The tamper matrix: how many edits behind the ledger's back does verification find? Prints counts.

    python bench/tamper_bench.py                 # SQLite, every page, three damage modes
    python bench/tamper_bench.py --pages 40      # a sample of 40 pages
    python bench/tamper_bench.py --postgres      # the PostgreSQL cases too

Each case starts from a copy of one pristine ledger (a few hundred runs with usage), takes
an anchor of its head (kept "elsewhere"), applies one edit with a raw connection, then asks
``verify()`` (without the anchor) and ``verify(anchors)``. A case is *detected* when
verification fails or raises; *harmless* when it passes and everything a reader can see is
unchanged (a damaged byte in free space changes nothing); *missed* otherwise. Cases:
projection edits (run cost, status, tokens, metadata, roll-up, cache_usage, usage roll-up,
histogram), event edits, payload rewrite + rechain + rebuild, tail truncation + rebuild, a
removed append-only guard, and single-page damage (zeroed, garbage, one flipped byte).
Run with an older racs on PYTHONPATH for the "before" figures (no anchors there).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from racs.core.errors import RacsError
from racs.ledger import Ledger, create_ledger
from racs.ledger.hashing import GENESIS, chain, event_json

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
_ONE_RUN = "run_id = (SELECT MIN(run_id) FROM runs WHERE cost_usd > 0)"
_ONE_USAGE = "position = (SELECT MAX(position) FROM cache_usage)"
PROJECTION_EDITS = {
    "run cost x100": f"UPDATE runs SET cost_usd = cost_usd * 100 WHERE {_ONE_RUN}",
    "run status": "UPDATE runs SET status = 'completed' WHERE status = 'cancelled'",
    "run tokens": f"UPDATE runs SET input_tokens = input_tokens + 1 WHERE {_ONE_RUN}",
    "run metadata": f"UPDATE runs SET metadata = '{{\"n\":-1}}' WHERE {_ONE_RUN}",
    "run deleted": f"DELETE FROM runs WHERE {_ONE_RUN}",
    "roll-up cost x100": "UPDATE run_rollup SET cost_usd = cost_usd * 100",
    "roll-up runs": "UPDATE run_rollup SET completed = completed + 1",
    "cache_usage tokens": f"UPDATE cache_usage SET cache_read_tokens = 999 WHERE {_ONE_USAGE}",
    "cache_usage deleted": f"DELETE FROM cache_usage WHERE {_ONE_USAGE}",
    "usage roll-up calls": "UPDATE usage_rollup SET calls = calls + 1",
    "histogram count": "UPDATE run_histogram SET runs = runs + 1",
    "histogram row added": "INSERT INTO run_histogram VALUES ('ttft', 1, 0, 'ws_x', 1)",
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        self.now += 997
        return self.now


def build(path: str, runs: int) -> None:
    """A varied pristine ledger: runs of two workspaces, usage records, every ending."""
    rng = random.Random(7)
    with create_ledger(path, clock=Clock()) as ledger:
        for n in range(runs):
            run_id = ledger.start_run(
                workspace_id=f"ws_{n % 2}",
                agent_id="a",
                provider="anthropic",
                model=rng.choice(["m1", "m2"]),
                metadata={"n": n},
            )
            ledger.record_provider_call(run_id, {"attempt": 1})
            ledger.record_cache_usage(
                provider="anthropic",
                model="m1",
                input_tokens=1000 + n,
                cache_read_tokens=rng.randrange(1000),
                prefix_key=f"pk{n % 5}",
                run_id=run_id,
            )
            if n % 10 == 9:
                ledger.cancel_run(run_id, reason="stop")
            else:
                ledger.complete_run(
                    run_id,
                    input_tokens=1000 + n,
                    output_tokens=50,
                    cost_usd=0.01 * n,
                    latency_ms=100 + rng.random() * 900,
                    ttft_ms=rng.random() * 100,
                )


def _lift_guard(conn: sqlite3.Connection) -> list[str]:
    """Drop the append-only triggers; their exact SQL, to put back unchanged."""
    guards = [
        row[0]
        for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"
        )
    ]
    conn.execute("DROP TRIGGER IF EXISTS events_no_update")
    conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
    return guards


def raw(path: str, *statements: str, guarded: bool = True) -> None:
    """Run ``statements`` with the guard lifted, then restore it exactly (unless not
    ``guarded``: the guard-removal case)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        guards = _lift_guard(conn)
        for sql in statements:
            conn.execute(sql)
        if guarded:
            for guard in guards:
                conn.execute(guard)
    finally:
        conn.close()


def rechain(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    rows = conn.execute(
        "SELECT position, run_id, seq, type, ts, payload, hash FROM events ORDER BY position"
    ).fetchall()
    conn.close()
    digest = GENESIS
    updates = []
    for position, run_id, seq, type_, ts, payload, stored in rows:
        digest = chain(digest, event_json(position, run_id, seq, type_, ts, payload))
        if digest != stored:
            updates.append((digest, position))
    conn = sqlite3.connect(path, isolation_level=None)
    guards = _lift_guard(conn)
    conn.executemany("UPDATE events SET hash = ? WHERE position = ?", updates)
    for guard in guards:
        conn.execute(guard)
    conn.close()


def rebuild(path: str) -> None:
    with create_ledger(path) as ledger:
        ledger.rebuild()


def content(path: str) -> Any:
    """Everything a reader sees (None when the file cannot be read)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            seen = {"schema": conn.execute("SELECT * FROM sqlite_master ORDER BY name").fetchall()}
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                seen[table] = sorted(map(repr, conn.execute(f"SELECT * FROM {table}")))
            return seen
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def verdicts(path: str, anchor: Any) -> tuple[bool, bool]:
    """(detected without the anchor, detected with it)."""

    def one(check: Callable[[Ledger], Any]) -> bool:
        try:
            with create_ledger(path) as ledger:
                return not check(ledger).ok
        except (RacsError, sqlite3.Error):
            return True

    plain = one(lambda ledger: ledger.verify())
    if anchor is None:  # an older racs: no anchors
        return plain, plain
    return plain, one(lambda ledger: ledger.verify([anchor]))


def damage_page(path: str, page: int, page_size: int, mode: str, seed: int) -> None:
    data = bytearray(Path(path).read_bytes())
    start = (page - 1) * page_size
    if mode == "zero":
        data[start : start + page_size] = bytes(page_size)
    elif mode == "garbage":
        data[start : start + page_size] = random.Random(seed).randbytes(page_size)
    else:
        data[start + 8 + random.Random(seed).randrange(page_size - 8)] ^= 0x5A
    Path(path).write_bytes(bytes(data))


def sqlite_matrix(workdir: Path, runs: int, pages: int | None) -> None:
    pristine = str(workdir / "pristine.db")
    build(pristine, runs)
    with create_ledger(pristine) as ledger:
        head = ledger.verify()
        anchor = ledger.anchor() if hasattr(ledger, "anchor") else None
    reference = content(pristine)
    conn = sqlite3.connect(pristine)
    page_size, page_count = conn.execute("PRAGMA page_size").fetchone()[0], 0
    page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    events = head.checked

    cases: list[tuple[str, str, Callable[[str], None]]] = []
    for name, sql in PROJECTION_EDITS.items():
        cases.append(("projection", name, lambda p, sql=sql: raw(p, sql)))
    for position in (2, events // 2, events - 1):
        cases.append(
            (
                "event edit",
                f"payload at {position}",
                lambda p, n=position: raw(
                    p, f"UPDATE events SET payload = REPLACE(payload, '1', '2') WHERE position={n}"
                ),
            )
        )
        cases.append(
            (
                "event edit",
                f"timestamp at {position}",
                lambda p, n=position: raw(p, f"UPDATE events SET ts = ts + 1 WHERE position={n}"),
            )
        )
        cases.append(
            (
                "rewrite+rechain",
                f"payload at {position}, rechained, rebuilt",
                lambda p, n=position: (
                    raw(
                        p,
                        "UPDATE events SET payload = REPLACE(payload, '\"attempt\":1', "
                        f"'\"attempt\":9') WHERE position={n}",
                    ),
                    raw(p, f"UPDATE events SET ts = ts + 5 WHERE position={n}"),
                    rechain(p),
                    rebuild(p),
                ),
            )
        )
    for keep in (1, events // 2, events - 1):
        cases.append(
            (
                "truncation",
                f"keep {keep} of {events}, rebuilt",
                lambda p, k=keep: (raw(p, f"DELETE FROM events WHERE position > {k}"), rebuild(p)),
            )
        )
    cases.append(
        ("guard", "triggers dropped", lambda p: raw(p, "SELECT 1", guarded=False)),
    )
    sample = list(range(1, page_count + 1))
    if pages is not None and pages < len(sample):
        sample = sorted(random.Random(1).sample(sample, pages))
    for page in sample:
        for mode in ("zero", "garbage", "flip"):
            cases.append(
                (
                    f"page {mode}",
                    f"page {page}",
                    lambda p, pg=page, m=mode: damage_page(p, pg, page_size, m, pg),
                )
            )

    tally: dict[str, Counter[str]] = {}
    for group, name, apply in cases:
        path = str(workdir / "case.db")
        shutil.copy(pristine, path)
        apply(path)
        plain, with_anchor = verdicts(path, anchor)
        if with_anchor:
            outcome = "detected"
        elif content(path) == reference:
            outcome = "harmless"
        else:
            outcome = "MISSED"
            print(f"  missed: {group}: {name}")
        tally.setdefault(group, Counter())[outcome] += 1
        tally[group]["without anchor"] += plain
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)

    print(
        f"SQLite: {runs} runs, {events} events, {page_count} pages of {page_size} bytes "
        f"({len(sample)} sampled); anchor {'taken' if anchor else 'not supported'}"
    )
    _print_tally(tally)


def _print_tally(tally: dict[str, Counter[str]]) -> None:
    total: Counter[str] = Counter()
    heads = ("tried", "detected", "harmless", "missed", "no anchor")
    print(f"  {'case':<18} " + " ".join(f"{h:>9}" for h in heads))
    for group, counts in tally.items():
        tried = counts["detected"] + counts["harmless"] + counts["MISSED"]
        total.update(counts)
        print(
            f"  {group:<18} {tried:>9} {counts['detected']:>9} {counts['harmless']:>9} "
            f"{counts['MISSED']:>9} {counts['without anchor']:>9}"
        )
    tried = total["detected"] + total["harmless"] + total["MISSED"]
    print(
        f"  {'all':<18} {tried:>9} {total['detected']:>9} {total['harmless']:>9} "
        f"{total['MISSED']:>9} {total['without anchor']:>9}"
    )
    print(
        f"tamper cases detected: {total['detected']} of {tried - total['harmless']} that changed "
        f"anything ({total['harmless']} harmless, {total['MISSED']} missed)"
    )


def postgres_matrix(url: str, runs: int) -> None:
    import psycopg

    schema = f"racs_tamper_{uuid.uuid4().hex[:10]}"
    target = f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"
    tally: dict[str, Counter[str]] = {}
    edits: list[tuple[str, str, list[str]]] = [
        ("projection", name, [sql]) for name, sql in PROJECTION_EDITS.items()
    ]
    edits += [
        ("guard", "update/delete trigger disabled",
         ["ALTER TABLE events DISABLE TRIGGER events_no_update_delete"]),
        ("event edit", "payload", ["SET session_replication_role = replica",
         "UPDATE events SET payload = REPLACE(payload, '1', '2') WHERE position = 5"]),
        ("truncation", "tail of 10", ["SET session_replication_role = replica",
         "DELETE FROM events WHERE position > (SELECT MAX(position) - 10 FROM events)"]),
    ]  # fmt: skip
    try:
        for group, name, statements in edits:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            clock = Clock()
            with create_ledger(target, clock=clock) as ledger:
                for n in range(runs):
                    run_id = ledger.start_run(
                        workspace_id="ws", agent_id="a", provider="p", model="m"
                    )
                    ledger.record_cache_usage(
                        provider="p", model="m", input_tokens=n, cache_read_tokens=n // 2
                    )
                    if n % 10 == 9:
                        ledger.cancel_run(run_id)
                    else:
                        ledger.complete_run(
                            run_id, input_tokens=n, cost_usd=0.5, latency_ms=10 + n, ttft_ms=n
                        )
                anchor = ledger.anchor() if hasattr(ledger, "anchor") else None
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{schema}"')
                for sql in statements:
                    conn.execute(sql)
            with create_ledger(target) as ledger:
                if statements[-1].startswith("DELETE FROM events"):
                    ledger.rebuild()
                try:
                    plain = not ledger.verify().ok
                    found = not ledger.verify([anchor]).ok if anchor else plain
                except RacsError:
                    plain = found = True
            counts = tally.setdefault(group, Counter())
            counts["detected" if found else "MISSED"] += 1
            counts["without anchor"] += plain
            if not found:
                print(f"  missed: {group}: {name}")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print(f"PostgreSQL: {runs} runs per case")
    _print_tally(tally)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="runs in the pristine ledger")
    parser.add_argument("--pages", type=int, help="damage a random sample of this many pages")
    parser.add_argument("--postgres", action="store_true", help="also the PostgreSQL cases")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_matrix(Path(tmp), args.runs, args.pages)
    if args.postgres:
        url = os.environ.get("RACS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        postgres_matrix(url, max(20, args.runs // 10))


if __name__ == "__main__":
    main()

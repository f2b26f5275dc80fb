"""One contract suite, every backend: the ``store`` fixture is a SQLite file or PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from ledger.helpers import PG_URL, T0, FakeClock, Store, postgres_unavailable
from racs.ledger import Ledger


def _sqlite_store(tmp_path: Path) -> Store:
    return Store("sqlite", str(tmp_path / "nested" / "ledger.db"))


def _postgres_store() -> Iterator[Store]:
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg

    schema = f"racs_test_{uuid.uuid4().hex[:12]}"
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options={quote(f'-csearch_path={schema}')}"
    store = Store("postgres", url, schema)
    try:
        yield store
    finally:
        for ledger in store.opened:
            ledger.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty ledger location on each backend."""
    if request.param == "sqlite":
        sqlite_store = _sqlite_store(tmp_path)
        yield sqlite_store
        for ledger in sqlite_store.opened:
            ledger.close()
    else:
        yield from _postgres_store()


@pytest.fixture
def clock() -> FakeClock:
    """The ledger's clock, at 2024-01-01T00:00Z, one millisecond per reading."""
    return FakeClock()


@pytest.fixture
def ledger(store: Store, clock: FakeClock) -> Ledger:
    """An open ledger on the backend under test; its first event is stamped T0."""
    opened = store.open(clock)
    clock.now = T0  # opening read the clock to date the schema migrations
    return opened

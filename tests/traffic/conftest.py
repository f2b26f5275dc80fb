"""The shared Claude Code transcripts, read where they lie (never copied)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from racs.core.prices import PriceBook, database_available


@pytest.fixture(scope="session")
def transcripts(shared: Callable[[str], Path]) -> Path:
    """``../shared/traffic/claude-code``: skipped locally when absent, a failure in CI."""
    return shared("traffic/claude-code")


@pytest.fixture(scope="session")
def prices() -> PriceBook:
    """The pinned genai-prices database (the ``prices`` extra, part of ``test``)."""
    if not database_available():
        pytest.fail("the test extra installs genai-prices; dollars cannot be checked")
    return PriceBook()


PG_URL = os.environ.get("RACS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_target() -> Iterator[str]:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: no server to test against
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    schema = f"racs_traffic_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh ledger location: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
    else:
        yield from _postgres_target()

"""The ledger as a source, and `racs ingest` into it: SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from racs.cli import main
from racs.core.accounting import Tokens
from racs.core.prices import PriceBook
from racs.ledger import create_ledger
from racs.report.build import build_report
from racs.traffic import ledger as ledger_source
from racs.traffic.ingest import ingest
from racs.traffic.problems import Problems
from racs.traffic.sources import read
from traffic.test_claude_code import EXPECTED, _totals
from traffic.test_report_numbers import DOLLARS_EXACT

T0 = 1_770_000_000_000


def _open(target: str, clock: object = None) -> object:
    if target.startswith("postgresql://"):
        return create_ledger(url=target, clock=clock)  # type: ignore[arg-type]
    return create_ledger(target, clock=clock)  # type: ignore[arg-type]


class TestIngest:
    def test_ingest_is_idempotent_and_reads_back_the_same_report(
        self, transcripts: Path, ledger_target: str, prices: PriceBook
    ) -> None:
        """455 runs; a second ingest adds none; the ledger's report equals the files'."""
        problems = Problems()
        first = ingest(read([transcripts], problems), lambda c: _open(ledger_target, c))
        again = ingest(read([transcripts], problems), lambda c: _open(ledger_target, c))
        assert (first.added, first.already) == (455, 0)
        assert (again.added, again.already) == (0, 455)
        back = list(read([ledger_target], problems))
        assert not problems, problems.to_dict()
        assert _totals(back) == EXPECTED
        report = build_report(iter(back), prices, problems)
        for session, usd in DOLLARS_EXACT.items():
            assert report.by["session"][session].cost.total == pytest.approx(usd, abs=1e-9)
        with _open(ledger_target) as lg:  # type: ignore[attr-defined]
            assert lg.count_runs() == 455
            totals = lg.cache_usage_totals()
            assert sum(t.cache_read_tokens for t in totals) == 40_925_580
            # The runs are dated at the requests' own times (2026-02-10 .. 2026-02-12).
            day = 1_770_768_000_000  # 2026-02-11T00:00:00Z
            assert lg.count_runs(since=day, until=day + 86_400_000 - 1) == 156

    def test_cli_ingest_then_ledger_stats(
        self, transcripts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        db = str(tmp_path / "l.db")
        assert main(["ingest", str(transcripts / "short.jsonl"), "--ledger", db]) == 0
        assert main(["ingest", str(transcripts / "short.jsonl"), "--ledger", db]) == 0
        out = capsys.readouterr().out
        assert "Ingested 1 requests (0 already in the ledger)." in out
        assert "Ingested 0 requests (1 already in the ledger)." in out
        assert main(["ledger", "stats", "--ledger", db, "--json"]) == 0
        stats = json.loads(capsys.readouterr().out)
        assert stats["runs"] == 1
        # Priced as the report prices it: (3*5 + 11515*0.5 + 13835*10 + 13*25) / 1e6.
        assert stats["cost_usd"] == pytest.approx(0.1444475)


class TestLedgerShapes:
    def test_usage_joined_with_its_run_and_twins_merged(self, ledger_target: str) -> None:
        """A run's cache.usage gets the run's output; an unlinked record and a run with
        the same counts are one call; a lone record and a metrics-only run count once."""
        clock = iter(range(T0, T0 + 10_000, 1000))
        with _open(ledger_target, lambda: next(clock)) as lg:  # type: ignore[attr-defined]
            run = lg.start_run(
                workspace_id="w",
                agent_id="a",
                provider="anthropic",
                model="claude-sonnet-4-5",
                prefix_key="p1",
            )
            lg.record_cache_usage(
                provider="anthropic",
                model="claude-sonnet-4-5",
                input_tokens=5000,
                cache_read_tokens=4000,
                cache_write_tokens_1h=900,
                run_id=run,
                timestamp=T0,
            )
            lg.complete_run(
                run,
                input_tokens=5000,
                output_tokens=70,
                cache_read_tokens=4000,
                cache_write_tokens_1h=900,
            )
            # Written twice for one call (as racs simulate does): usage, then a run.
            lg.record_cache_usage(
                provider="openai",
                model="gpt-4o",
                input_tokens=3000,
                cache_read_tokens=2048,
                prefix_key="p2",
                timestamp=T0 + 1,
            )
            twin = lg.start_run(
                workspace_id="w", agent_id="b", provider="openai", model="gpt-4o", prefix_key="p2"
            )
            lg.complete_run(twin, input_tokens=3000, output_tokens=12, cache_read_tokens=2048)
            lg.record_cache_usage(
                provider="openai",
                model="gpt-4o",
                input_tokens=100,
                cache_read_tokens=0,
                prefix_key="p3",
                timestamp=T0 + 2,
            )
            alone = lg.start_run(
                workspace_id="w", agent_id="c", provider="google", model="gemini-2.5-pro"
            )
            lg.complete_run(alone, input_tokens=800, output_tokens=5)
        problems = Problems()
        got = sorted(
            ((r.model, r.tokens) for r in ledger_source.read(ledger_target, problems)),
            key=lambda x: x[0],
        )
        assert not problems
        assert got == [
            ("claude-sonnet-4-5", Tokens(100, 4000, 0, 0, 900, 70)),
            ("gemini-2.5-pro", Tokens(800, 0, 0, 0, 0, 5)),
            ("gpt-4o", Tokens(952, 2048, 0, 0, 0, 12)),
            ("gpt-4o", Tokens(100, 0, 0, 0, 0, 0)),
        ]

    def test_a_sqlite_file_is_recognised_as_a_ledger(self, tmp_path: Path) -> None:
        db = tmp_path / "anything.sqlite"
        create_ledger(str(db)).close()
        assert ledger_source.is_ledger(db)
        assert not ledger_source.is_ledger(tmp_path / "missing.db")

    def test_another_sqlite_file_is_not_a_ledger_and_stays_untouched(self, tmp_path: Path) -> None:
        """Opening it as a ledger would migrate it: it is named as unrecognised instead."""
        other = tmp_path / "app.db"
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE notes (body TEXT)")
        before = other.read_bytes()
        problems = Problems()
        assert list(read([other], problems)) == []
        assert problems.by_reason == {"binary file skipped": 1}
        assert other.read_bytes() == before

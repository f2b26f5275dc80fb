"""Every table fits the width (COLUMNS, else the terminal, else 120 columns) by dropping
and abbreviating columns in a documented order; --wide prints everything."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racs.cli import main
from racs.core.prices import PriceBook
from racs.core.text import abbreviate, fit_lines, table
from racs.report.build import build_report
from racs.report.text import render
from racs.traffic.problems import Problems
from racs.traffic.sources import read

HEADERS = ["name", "a", "b", "note"]
ROWS = [["x" * 30, 1234, 5678, "one two three four five six seven eight nine ten"]]


def _dropped_in_order(
    text_at: Callable[[int], str], headers: list[str], narrowest: int
) -> list[str]:
    """The headers in the order they leave the first line as the width shrinks to
    ``narrowest`` (where the columns no step removes still fit)."""
    gone: list[str] = []
    for width in range(200, narrowest - 1, -1):
        head = re.split(r"\s{2,}", text_at(width).splitlines()[0].strip())
        gone.extend(h for h in headers if h not in gone and h not in head)
    return gone


class TestTable:
    def test_steps_apply_in_order_until_it_fits(self) -> None:
        """Wide enough: unchanged. At 60 the note wraps into the 16+ columns left; at 50
        it waits for the name to shrink to 12, then wraps; at 30 b goes, then the note."""
        fit = [("note", -1), ("name", 12), ("b", 0), ("note", 0)]
        full = table(HEADERS, ROWS, width=200, fit=fit)
        assert full == table(HEADERS, ROWS)
        assert max(map(len, full.splitlines())) == 30 + 4 + 4 + 48 + 6
        wrapped = table(HEADERS, ROWS, width=60, fit=fit).splitlines()
        assert wrapped[2] == "x" * 30 + "  1234  5678  one two three"
        assert wrapped[3:] == [" " * 44 + t for t in ("four five six", "seven eight nine", "ten")]
        shrunk = table(HEADERS, ROWS, width=50, fit=fit).splitlines()
        assert shrunk[2:] == [
            "xxxxxx\u2026xxxxx  1234  5678  one two three four five",
            " " * 26 + "six seven eight nine ten",
        ]
        assert table(HEADERS, ROWS, width=30, fit=fit).splitlines()[2] == "xxxxxx\u2026xxxxx  1234"
        order = _dropped_in_order(lambda w: table(HEADERS, ROWS, width=w, fit=fit), HEADERS, 18)
        assert order == ["b", "note"]

    def test_abbreviate_keeps_both_ends(self) -> None:
        """The middle gives way: 'abcdefghij' in 7 is 'abc…hij'."""
        assert abbreviate("abcdefghij", 7) == "abc\u2026hij"
        assert abbreviate("abcdefghij", 10) == "abcdefghij"

    def test_long_lines_wrap_under_their_indent(self) -> None:
        """A prose line too wide wraps, its continuation two spaces further in."""
        text = fit_lines("  " + "word " * 12, 30)
        assert text.splitlines() == [
            "  word word word word word",
            "    word word word word word",
            "    word word",
        ]


class TestReportOrder:
    def test_breakdown_columns_leave_in_the_documented_order(
        self, shared: Callable[[str], Path]
    ) -> None:
        """By session: efficiency, fresh, output, requests, write 5m, write 1h, read, hit
        (the sample has no 30m writes); the session id shrinks to 36, then 20 characters."""
        problems = Problems()
        report = build_report(
            read([shared("traffic/claude-code")], problems), PriceBook(), problems
        )

        def session_table(width: int) -> str:
            text = render(report, width=width)
            return text.split("By session:\n")[1]

        headers = ["requests", "fresh", "read", "write 5m", "write 1h", "output", "usd", "hit"]
        order = _dropped_in_order(session_table, [*headers, "efficiency"], 36)
        assert order == [
            "efficiency",
            "fresh",
            "output",
            "requests",
            "write 5m",
            "write 1h",
            "read",
            "hit",
        ]
        first_row = session_table(80).splitlines()[2]
        assert first_row.split()[0] == "258c7280-a\u202664d01a85d"  # 20 characters


def _lines_fit(out: str, width: int) -> None:
    too_wide = [line for line in out.splitlines() if len(line) > width]
    assert too_wide == []


@pytest.mark.parametrize("width", [80, 100, 120])
class TestEveryLineFits:
    def test_report(
        self,
        width: int,
        shared: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The report of the sample (Claude Code and Codex), every period."""
        monkeypatch.setenv("COLUMNS", str(width))
        sources = [str(shared("traffic/claude-code")), str(shared("traffic/codex"))]
        for period in ("day", "week", "month"):
            assert main(["report", *sources, "--utc", "--period", period]) == 0
            _lines_fit(capsys.readouterr().out, width)

    def test_replay(
        self,
        width: int,
        shared: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The replay of the sample, with every request's choices."""
        monkeypatch.setenv("COLUMNS", str(width))
        assert main(["replay", str(shared("traffic/claude-code")), "--requests"]) == 0
        _lines_fit(capsys.readouterr().out, width)

    def test_simulate(
        self, width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The demonstration, lint messages and all."""
        monkeypatch.setenv("COLUMNS", str(width))
        assert main(["simulate", "--calls", "20", "--no-ledger"]) == 0
        _lines_fit(capsys.readouterr().out, width)

    def test_blocks(
        self,
        width: int,
        shared: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The blocks of the sample, one of them active, against the largest."""
        monkeypatch.setenv("COLUMNS", str(width))
        sources = [str(shared("traffic/claude-code")), str(shared("traffic/codex"))]
        args = ["--utc", "--as-of", "2026-02-12T16:00Z", "--token-limit", "max"]
        assert main(["blocks", *sources, *args]) == 0
        _lines_fit(capsys.readouterr().out, width)


class TestPiped:
    def test_120_columns_when_stdout_is_a_pipe_and_wide_prints_all(
        self, shared: Callable[[str], Path]
    ) -> None:
        """Without COLUMNS, a piped report fits 120 columns; --wide goes past them."""
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
        base = [sys.executable, "-m", "racs.cli", "report", str(shared("traffic/claude-code"))]
        fitted = subprocess.run(
            [*base, "--utc"], env=env, capture_output=True, text=True, check=True
        )
        assert max(map(len, fitted.stdout.splitlines())) <= 120
        wide = subprocess.run(
            [*base, "--utc", "--wide"], env=env, capture_output=True, text=True, check=True
        )
        assert max(map(len, wide.stdout.splitlines())) > 120
        assert "efficiency" in wide.stdout.split("By session:\n")[1].splitlines()[0]


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.text(alphabet="abc xyz-0123456789", max_size=40), min_size=4, max_size=4),
        min_size=1,
        max_size=6,
    ),
    width=st.integers(20, 120),
)
def test_a_table_whose_steps_can_drop_every_column_fits(rows: list[list[str]], width: int) -> None:
    """Whatever the cells and the width (at least the first column's 14 characters, its
    header and the indent): steps that abbreviate the first column and drop the others
    bring every line within the width."""
    headers = ["first", "second", "third", "fourth"]
    fit = [("fourth", -1), ("first", 14), ("second", 0), ("third", 0), ("fourth", 0)]
    text = table(headers, rows, "  ", width=width, fit=fit)
    assert all(len(line) <= width for line in text.splitlines())

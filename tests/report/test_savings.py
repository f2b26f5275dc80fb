"""Findings ranked by what a different choice would have saved (replay's hindsight)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racs.core.accounting import Tokens
from racs.core.model import Pricing
from racs.core.prices import PriceBook
from racs.replay.quote import stream_hindsight
from racs.report.build import ReportBuilder, build_report
from racs.report.findings import MIXED_TIER, UNCACHED
from racs.report.hindsight import savings_of
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.sources import read

SONNET = "claude-sonnet-4-5"
# USD per MTok: input 3, read 0.30, 5m write 3.75, 1h write 6 (no output in these lines).
CARD = {SONNET: Pricing(3.0, 0.3, 3.75, 6.0, 15.0)}


def _prices() -> PriceBook:
    return PriceBook(CARD, database=False)


def _line(m: str, stamp: str, *, fresh: int = 1, read: int = 0, w5: int = 0, w1h: int = 0) -> str:
    usage = {
        "input_tokens": fresh,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": w5 + w1h,
        "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1h},
        "output_tokens": 0,
    }
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": "s",
            "timestamp": f"2026-02-10T{stamp}Z",
            "requestId": f"req_{m}",
            "message": {"model": SONNET, "id": m, "usage": usage},
        }
    )


def _report(tmp_path: Path, *lines: str) -> list[object]:
    f = tmp_path / "s.jsonl"
    f.write_text("\n".join(lines) + "\n")
    problems = Problems()
    return list(build_report(read([f], problems), _prices(), problems, hindsight=True).findings)


# Writes at 5m, one 20-minute pause: the prefix expires and is written again.
PAUSED = (
    _line("m0", "10:00:00", w5=100_000),
    _line("m1", "10:01:00", read=100_000, w5=1_000),
    _line("m2", "10:21:00", w5=102_000),
    _line("m3", "10:22:00", read=102_000, w5=1_000),
)


class TestMixedTier:
    def test_one_1h_write_before_the_pause(self, tmp_path: Path) -> None:
        """Recorded (micro-USD): 375,003 + 33,753 + 382,503 + 34,353 = 825,612. With m1's
        1,000 new tokens written at 1h (6,000 instead of 3,750) its 101,000-token entry
        outlives the pause: m2 reads it (30,300) and writes 1,000 at 5m (3,750): 375,003 +
        36,003 + 34,053 + 34,353 = 479,412, saving $0.3462, ranked first."""
        findings = _report(tmp_path, *PAUSED)
        top = findings[0]
        assert top.cause == MIXED_TIER
        assert top.saved_usd == pytest.approx(0.3462, abs=1e-12)
        assert top.detail == (
            "writing 1h only before the stream's longest pause (20m 00s) and 5m elsewhere "
            "would have saved $0.3462"
        )
        assert not top.unavoidable

    def test_a_saving_is_counted_once(self, tmp_path: Path) -> None:
        """The expiry's own quote (a 1h write at m1) is the mixed finding's choice: it
        saves nothing more, and says so."""
        findings = _report(tmp_path, *PAUSED)
        [expiry] = [f for f in findings if f.cause == "expiry"]
        assert expiry.quote == (
            "hindsight: a 1h write at the previous request would have saved $0.3462 "
            "(the same choice as a larger finding of this stream)"
        )
        assert expiry.saved_usd == 0 and not expiry.unavoidable


class TestUnavoidable:
    def test_an_expiry_after_four_hours(self, tmp_path: Path) -> None:
        """No tier outlives four hours: the expiry is unavoidable and saves nothing; the
        premium of the write nobody read ($0.075 = 100,000 x (3.75 - 3)) is the cold
        start's saving."""
        findings = _report(
            tmp_path, _line("n0", "10:00:00", w5=100_000), _line("n1", "14:00:00", w5=100_000)
        )
        by = {f.cause: f for f in findings}
        assert by["expiry"].unavoidable and by["expiry"].saved_usd == 0
        assert by["cold_start"].saved_usd == pytest.approx(0.075, abs=1e-12)
        assert findings[0].cause == "cold_start"
        assert by["expiry"].to_dict()["unavoidable"] is True


class TestUncached:
    def test_a_stream_that_never_read(self, tmp_path: Path) -> None:
        """Three prompts of 20,000 fresh tokens a minute apart: the last two paid 20,000 x
        (3 - 0.30) = $0.054 each over reading ($0.108). Paid 3 x 60,000 = 180,000
        micro-USD; caching the 20,000 tokens at 5m then reading costs 75,000 + 2 x 6,000 =
        87,000: $0.093 saved."""
        findings = _report(
            tmp_path,
            _line("k0", "10:00:00", fresh=20_000),
            _line("k1", "10:01:00", fresh=20_000),
            _line("k2", "10:02:00", fresh=20_000),
        )
        [uncached] = [f for f in findings if f.cause == UNCACHED]
        assert uncached.usd == pytest.approx(0.108, abs=1e-12)
        assert uncached.saved_usd == pytest.approx(0.093, abs=1e-12)
        assert uncached.detail == (
            "3 requests never read the cache: if their first 20,000 tokens (the smallest "
            "prompt) repeat, paying for them cost $0.1080 more than reading them"
        )

    def test_no_uncached_finding_across_long_pauses(self, tmp_path: Path) -> None:
        """Requests hours apart could not have read any cache: no uncached finding."""
        findings = _report(
            tmp_path,
            _line("k0", "10:00:00", fresh=20_000),
            _line("k1", "12:00:00", fresh=20_000),
        )
        assert all(f.cause != UNCACHED for f in findings)

    def test_json_keeps_the_old_fields_and_adds_two(self, tmp_path: Path) -> None:
        """The wire form adds ``savedUsd`` and ``unavoidable`` to the old keys."""
        [f, *_] = _report(tmp_path, *PAUSED)
        assert list(f.to_dict())[-3:] == ["quote", "savedUsd", "unavoidable"]


T0 = 1_770_000_000_000


@st.composite
def _streams(draw: st.DrawFn) -> list[Request]:
    """One stream of 2-8 requests: gaps from seconds to hours, reads no more than the
    previous prompt, writes at 5m or 1h, some never reading."""
    n = draw(st.integers(2, 8))
    t = float(T0)
    out = []
    prev = 0
    for i in range(n):
        t += draw(st.sampled_from([5, 60, 200, 400, 1_200, 4_000, 20_000])) * 1000
        read = draw(st.integers(0, prev)) if prev else 0
        new = draw(st.integers(0, 40_000))
        tier = draw(st.sampled_from(["5m", "1h", None]))
        tokens = Tokens(
            fresh=draw(st.integers(1, 3_000)),
            read=read,
            write_5m=new if tier == "5m" else 0,
            write_1h=new if tier == "1h" else 0,
        )
        out.append(Request(t, "anthropic", SONNET, tokens, "sess", "s", source=f"x:{i + 1}"))
        prev = int(tokens.input)
    return out


class TestGapBound:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(stream=_streams())
    def test_savings_never_exceed_the_gap_to_the_optimum(self, stream: list[Request]) -> None:
        """Whatever the stream, its findings' savings add up to at most what the optimum
        would have saved over the record."""
        prices = _prices()
        builder = ReportBuilder(prices, top=1_000)
        builder.add_all(stream)
        found = builder.finish(Problems()).findings
        if not found:
            return
        uncached = any(f.cause == UNCACHED for f in found)
        prefix = int(min(r.tokens.input for r in stream)) if uncached else None
        gap = stream_hindsight(stream, prices, prefix=prefix).gap_usd
        got = savings_of(found, stream, prices)
        saved = [f.saved_usd for f in got]
        assert all(s is not None and s >= 0 for s in saved), [
            (f.cause, f.usd, f.saved_usd, f.request.source) for f in got
        ]
        assert sum(s or 0.0 for s in saved) <= gap + 1e-9


class TestDemo:
    def test_the_naive_prompts_are_the_top_findings(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The README's demo (`racs simulate`, then `racs report --ledger`): each provider's
        naive stream, which never reads, is an uncached finding, ranked first; together
        they save about what the naive streams paid over the structured ones (the optimum
        may do a little better than the structured prompt), never more than they paid."""
        from racs.cli.app import main

        ledger = tmp_path / "demo.db"
        assert main(["simulate", "--calls", "40", "--ledger", str(ledger)]) == 0
        capsys.readouterr()
        problems = Problems()
        report = build_report(read([ledger], problems), PriceBook(), problems, hindsight=True)
        top = report.findings[:4]
        assert {f.cause for f in top} == {UNCACHED}
        assert sorted(f.request.stream for f in top) == [
            f"simulate/naive@{p}" for p in ("anthropic", "deepseek", "google", "openai")
        ]
        naive = sum(b.cost.total for s, b in report.by["stream"].items() if "naive" in s)
        structured = sum(b.cost.total for s, b in report.by["stream"].items() if "structured" in s)
        saved = sum(f.saved_usd or 0.0 for f in top)
        assert 0.9 * (naive - structured) < saved < naive

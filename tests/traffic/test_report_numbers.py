"""The report on real transcripts: tokens, dollars to the cent, causes, filters, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from racs.core.prices import PriceBook
from racs.report.build import Filters, Report, build_report
from racs.report.wire import SCHEMA, to_json
from racs.traffic.problems import Problems
from racs.traffic.sources import read
from traffic.test_claude_code import EXPECTED, S6AD, S258, SFA8, SSHORT, SSUB


def _report(path: Path, prices: PriceBook, **filters: object) -> Report:
    problems = Problems()
    return build_report(read([path], problems), prices, problems, Filters(**filters))  # type: ignore[arg-type]


# Dollars at the published prices (USD per MTok, genai-prices, February 2026, every
# request under 200k input so no long-context tier):
#   claude-opus-4-6   input 5, read 0.50, write 5m 6.25, write 1h 10, output 25
#   claude-sonnet-4-5 input 3, read 0.30, write 5m 3.75, write 1h 6,  output 15
#   claude-haiku-4-5  input 1, read 0.10, write 5m 1.25, write 1h 2,  output 5
# Per session and model, the deduplicated tokens (jq, as in the importer tests):
# 258c7280 opus:   fresh 183, read 14,938,375, w1h 351,961, out 38,905
#   = (183*5 + 14938375*0.5 + 351961*10 + 38905*25) / 1e6 = 11.9623375
# 258c7280 sonnet: fresh 15, read 34,159, w1h 42,176, out 3
#   = (15*3 + 34159*0.3 + 42176*6 + 3*15) / 1e6 = 0.2633937       -> total 12.2257312
# 6adcf0da opus:   fresh 119, read 9,243,229, w5m 211,249, out 17,345
#   = (119*5 + 9243229*0.5 + 211249*6.25 + 17345*25) / 1e6 = 6.37614075
# fa812bfe opus:   fresh 1,505, read 15,540,548, w5m 262,626, out 36,262
#   = (1505*5 + 15540548*0.5 + 262626*6.25 + 36262*25) / 1e6 = 10.3257615
# fa812bfe haiku:  fresh 122, read 635,125, w5m 98,183, out 45
#   = (122*1 + 635125*0.1 + 98183*1.25 + 45*5) / 1e6 = 0.18658825 -> total 10.51234975
# subagent opus:   fresh 1,576, read 427,286, w1h 25,842, out 1,586
#   = (1576*5 + 427286*0.5 + 25842*10 + 1586*25) / 1e6 = 0.519593
# subagent haiku:  fresh 24, read 95,343, w1h 14,285, out 7
#   = (24*1 + 95343*0.1 + 14285*2 + 7*5) / 1e6 = 0.0381633      -> total 0.5577563
# short opus:      fresh 3, read 11,515, w1h 13,835, out 13
#   = (3*5 + 11515*0.5 + 13835*10 + 13*25) / 1e6 = 0.1444475
DOLLARS = {
    S258: 12.23,
    S6AD: 6.38,
    SFA8: 10.51,
    SSUB: 0.56,
    SSHORT: 0.14,
}
DOLLARS_EXACT = {
    S258: 12.2257312,
    S6AD: 6.37614075,
    SFA8: 10.51234975,
    SSUB: 0.5577563,
    SSHORT: 0.1444475,
}


class TestTotals:
    def test_tokens_per_session_equal_the_deduplicated_usage(
        self, transcripts: Path, prices: PriceBook
    ) -> None:
        report = _report(transcripts, prices)
        for session, expected in EXPECTED.items():
            b = report.by["session"][session]
            t = b.tokens
            got = (b.requests, t.fresh, t.read, t.write_5m, t.write_1h, t.output)
            assert got == expected

    def test_dollars_per_session_to_the_cent(self, transcripts: Path, prices: PriceBook) -> None:
        report = _report(transcripts, prices)
        got = {s: round(b.cost.total, 2) for s, b in report.by["session"].items()}
        assert got == DOLLARS
        for s, exact in DOLLARS_EXACT.items():
            assert report.by["session"][s].cost.total == pytest.approx(exact, abs=1e-9)
        assert report.total.cost.total == pytest.approx(sum(DOLLARS_EXACT.values()), abs=1e-9)
        assert report.unpriced_models == []

    def test_1h_writes_are_priced_at_the_1h_rate(
        self, transcripts: Path, prices: PriceBook
    ) -> None:
        """short.jsonl writes 13,835 tokens at 1h: $10/MTok, not the 5m $6.25."""
        b = _report(transcripts / "short.jsonl", prices).total
        assert b.cost.write_1h == pytest.approx(13_835 * 10 / 1e6)
        assert b.cost.write_5m == 0

    def test_hit_ratio_and_prefix_efficiency(self, transcripts: Path, prices: PriceBook) -> None:
        """short: 11,515 read of 3 + 11,515 + 13,835 = 25,353 input; nothing read back."""
        b = _report(transcripts / "short.jsonl", prices).total
        assert b.hit_ratio == pytest.approx(11_515 / 25_353)
        assert b.prefix_efficiency == 0.0


class TestFindings:
    def test_causes_on_real_traffic(self, transcripts: Path, prices: PriceBook) -> None:
        """The 258c7280 session: its compaction, the 1h tier it did not need, a miss at
        line 498 (read fell from 111,067 cached to 21,460 after 2m 38s within the 1h TTL)."""
        report = _report(transcripts / f"{S258}.jsonl", prices)
        by_source = {(f.cause, f.request.source.rsplit(":", 1)[1]): f for f in report.findings}
        miss = by_source[("unexplained_miss", "498")]
        # cached before: 107,740 read + 3,327 written = 111,067; the request read 21,460
        # and wrote 89,928 of a 111,391 input: new suffix 111,391 - 111,067 = 324, so
        # 89,928 + 3 fresh - 324 = 89,607 excess, each paid at 1h $10 instead of $0.50.
        assert miss.excess_tokens == 89_607
        assert miss.usd == pytest.approx(89_607 * (10 - 0.5) / 1e6)
        compaction = by_source[("compaction", "1261")]
        assert compaction.excess_tokens == 12_500  # 12,497 written + 3 fresh, prompt shrank
        tier = next(
            f for f in report.findings if f.cause == "tier_choice" and f.request.stream == S258
        )
        assert tier.usd is not None and tier.usd > 0
        assert [f.usd for f in report.findings] == sorted(
            (f.usd for f in report.findings), reverse=True
        )

    def test_every_finding_has_a_price_and_an_action(
        self, transcripts: Path, prices: PriceBook
    ) -> None:
        report = _report(transcripts, prices)
        assert report.findings
        for f in report.findings:
            assert f.usd is not None and f.usd > 0
            assert f.action
        assert sum(s.count for s in report.causes.values()) >= len(report.findings)


class TestFilters:
    def test_session_prefix_and_model(self, transcripts: Path, prices: PriceBook) -> None:
        report = _report(transcripts, prices, session="258c", model="sonnet")
        assert report.total.requests == 3
        assert report.total.cost.total == pytest.approx(0.2633937)

    def test_since_until(self, transcripts: Path, prices: PriceBook) -> None:
        """2026-02-11 holds exactly the 258c7280 session."""
        day = 86_400_000
        since = 1_770_768_000_000  # 2026-02-11T00:00:00Z
        report = _report(transcripts, prices, since_ms=since, until_ms=since + day)
        assert set(report.by["session"]) == {S258}
        assert report.total.requests == 156

    def test_project(self, transcripts: Path, prices: PriceBook) -> None:
        report = _report(transcripts, prices, project="spotter-0zw")
        assert set(report.by["session"]) == {S6AD}


class TestJson:
    def test_schema_and_round_trip(self, transcripts: Path, prices: PriceBook) -> None:
        doc = to_json(_report(transcripts, prices))
        assert doc["schema"] == SCHEMA == "racs.report/1"
        assert json.loads(json.dumps(doc)) == doc
        assert set(doc) == {
            "schema",
            "sources",
            "filters",
            "timezone",
            "total",
            "by",
            "periods",
            "hourly",
            "causes",
            "findings",
            "gaps",
            "unpricedModels",
            "problems",
            "duplicates",
        }
        assert set(doc["by"]) == {"session", "stream", "agent", "model", "project", "day"}
        assert [d["key"] for d in doc["by"]["day"]] == ["2026-02-10", "2026-02-11", "2026-02-12"]
        assert sum(doc["gaps"]["counts"]) == 455 - 9  # every request but each stream's first
        assert doc["total"]["tokens"]["input"] == sum(
            doc["total"]["tokens"][k] for k in ("fresh", "read", "write5m", "write30m", "write1h")
        )

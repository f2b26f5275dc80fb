"""The nine lints, their fixed order, and the patterns (engine.md section 4)."""

from __future__ import annotations

import pytest

import racs
from engine.helpers import plan_input, seg
from racs.core.keys import fnv1a64


def findings(segments: list[dict], **kw: object) -> list[tuple[str, str, str | None]]:
    engine = racs.create_racs()
    return [(f.code, f.severity, f.segment_id) for f in engine.lint(plan_input(segments, **kw))]


class TestOrder:
    def test_every_lint_in_the_specified_order(self) -> None:
        """segment-order, volatile-early, per-segment (unstable-tools, missing-stability,
        timestamp, identifier), below-minimum; then the planner stage in plan()."""
        segments = [
            seg("turn", "dynamic", "volatile", content="hello"),
            seg("tools", "tools", "volatile", content="[]"),
            seg(
                "sys",
                "system",
                "stable",
                content="Today is 2026-11-21T10:00:00Z, id 0123456789abcdef0123456789abcdef",
            ),
            seg("dyn", "dynamic", "stable", content="plain"),
        ]
        engine = racs.create_racs(profiles={"anthropic": {"minCacheableTokens": 100}})
        lint = [(f.code, f.severity, f.segment_id) for f in engine.lint(plan_input(segments))]
        assert lint == [
            ("segment-order", "warning", "turn"),
            ("volatile-early", "error", "turn"),
            ("unstable-tools", "error", "tools"),
            ("timestamp-in-stable", "warning", "sys"),
            ("identifier-in-stable", "warning", "sys"),
            ("missing-stability", "info", "dyn"),
            ("below-minimum", "info", None),
        ]
        plan = engine.plan(plan_input(segments))
        assert [(f.code, f.severity, f.segment_id) for f in plan.findings] == lint

    def test_lint_never_contains_planner_findings(self) -> None:
        """write-premium-trap comes from plan(), never from lint()."""
        segments = [seg("s", tokens=2000)]
        engine = racs.create_racs()
        inp = plan_input(segments, reuse={"intervalSeconds": 40_000})
        assert engine.lint(inp) == ()
        assert [f.code for f in engine.plan(inp).findings] == ["write-premium-trap"]


class TestVolatileEarly:
    def test_fires_when_less_than_half_is_stable_and_below_minimum(self) -> None:
        """2*stable < total and stable < max(min, 1)."""
        segs = [seg("s", tokens=1000), seg("t", "dynamic", "volatile", 1001)]
        assert ("volatile-early", "error", "t") in findings(segs)

    def test_quiet_at_half(self) -> None:
        """2*stable == total is not early."""
        segs = [seg("s", tokens=1000), seg("t", "dynamic", "volatile", 1000)]
        assert [c for c, *_ in findings(segs)] == ["below-minimum"]

    def test_quiet_when_stable_reaches_the_minimum(self) -> None:
        """A cacheable stable prefix is never 'early' however large the tail."""
        segs = [seg("s", tokens=1024), seg("t", "dynamic", "volatile", 100_000)]
        assert findings(segs) == []

    def test_without_minimum_only_an_empty_prefix_is_early(self) -> None:
        """Passive providers without a minimum: max(0, 1) = 1, so only stable = 0 fires."""
        segs = [seg("t", "dynamic", "volatile", 10), seg("s", tokens=5)]
        got = findings(segs, provider="deepseek", model="deepseek-chat")
        assert got == [("segment-order", "warning", "t"), ("volatile-early", "error", "t")]


class TestSegmentRules:
    def test_unstable_tools_only_when_volatile(self) -> None:
        """Tools declared semi are allowed; volatile tools are an error."""
        assert findings([seg("t", "tools", "semi", 2000)]) == []
        got = findings([seg("s", tokens=2000), seg("t", "tools", "volatile", 10)])
        assert got == [("unstable-tools", "error", "t")]

    def test_missing_stability_is_dynamic_declared_stable(self) -> None:
        """A dynamic segment declared stable gets the info finding."""
        assert findings([seg("d", "dynamic", "stable", 2000)]) == [
            ("missing-stability", "info", "d")
        ]

    def test_content_lints_skip_hash_only_segments(self) -> None:
        """Without content there is nothing to scan."""
        assert findings([seg("s", tokens=2000)]) == []

    def test_identifiers_only_in_stable_timestamps_in_semi_too(self) -> None:
        """timestamp-in-stable covers stable and semi; identifier-in-stable stable only."""
        text = "at 1700000000 with 550e8400-e29b-41d4-a716-446655440000"
        got = findings(
            [seg("a", tokens=2000, content=text), seg("b", "history", "semi", 10, content=text)]
        )
        assert got == [
            ("timestamp-in-stable", "warning", "a"),
            ("identifier-in-stable", "warning", "a"),
            ("timestamp-in-stable", "warning", "b"),
        ]


class TestPatterns:
    engine = racs.create_racs()

    def lint_text(self, text: str) -> list[racs.LintFinding]:
        return list(self.engine.lint(plan_input([seg("s", tokens=5000, content=text)])))

    @pytest.mark.parametrize(
        "text",
        [
            "Generated 2026-11-21 09:30",
            "at 2026-11-21T09:30:15.123456789+02:00",
            "epoch 1732181415",
            "ms 1732181415123",
            "Today is the 21st",
            "the current time: 09",
            "7 o'clock, TODAY",
        ],
    )
    def test_timestamps_found(self, text: str) -> None:
        """ISO-8601 datetimes, unix epochs (10/13 digits), 'today'/'current time' near a digit."""
        assert [f.code for f in self.lint_text(text)] == ["timestamp-in-stable"]

    @pytest.mark.parametrize(
        "text",
        [
            "2026-11-21",  # a date alone is not a datetime
            "12345678901",  # 11 digits is not an epoch
            "today we write\n5 things",  # newline breaks the window
            "today" + "." * 33 + "1",  # 33 characters is too far
        ],
    )
    def test_timestamps_not_found(self, text: str) -> None:
        """Near misses stay quiet."""
        assert self.lint_text(text) == []

    def test_one_finding_names_every_kind(self) -> None:
        """A single finding lists every kind present."""
        (finding,) = self.lint_text("2026-11-21T09:30 and 1732181415 and today 5")
        assert (
            "ISO-8601" in finding.message
            and "epoch" in finding.message
            and "today" in finding.message
        )

    @pytest.mark.parametrize(
        ("text", "kind", "match"),
        [
            (
                "id 550E8400-E29B-41D4-A716-446655440000 x",
                "UUID v4",
                "550E8400-E29B-41D4-A716-446655440000",
            ),
            ("req deadbeefdeadbeefdeadbeef0 end", "hex run", "deadbeefdeadbeefdeadbeef0"),
            (
                "tok QUJDREVGR0hJSktMTU5PUFFSU1RVVldY1== end",
                "base64-like run",
                "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY1==",
            ),
        ],
    )
    def test_identifiers_named_by_digest_only(self, text: str, kind: str, match: str) -> None:
        """The finding names the kind and the first 8 hex chars of the match's fnv1a64,
        never the match itself."""
        (finding,) = self.lint_text(text)
        assert finding.code == "identifier-in-stable"
        assert kind in finding.message
        assert fnv1a64(match)[:8] in finding.message
        assert match not in finding.message

    def test_uuid_v1_is_not_v4(self) -> None:
        """Only version-4 UUIDs (version nibble 4, variant 8-b) count as UUID v4."""
        # hyphens also break every hex and base64-like run, so nothing is reported
        assert self.lint_text("x 550e8400-e29b-11d4-a716-446655440000 y") == []

    def test_base64_needs_a_digit_and_a_letter(self) -> None:
        """Letters-only or digits-only runs are not identifiers."""
        assert self.lint_text("abcdefghijklmnopqrstuvwxyzabcdef") == []
        assert self.lint_text("ghijklmnopqrstuvwxyzGHIJKLMNOP/+") == []
        # 24+ digits are still a hex run, which is checked first
        assert "hex run" in self.lint_text("123456789012345678901234")[0].message

    def test_pattern_scans_are_linear(self) -> None:
        """Adversarial inputs (long near-miss runs) finish quickly: no catastrophic regex."""
        import time

        start = time.perf_counter()
        self.lint_text("a" * 200_000 + "1" * 23 + "today" + " " * 100_000)
        self.lint_text(("f" * 23 + "-") * 20_000)
        assert time.perf_counter() - start < 5  # generous: a backtracking regex takes minutes

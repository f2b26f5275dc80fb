"""Same answers as @takk/racs where racs keeps no documented improvement (issue 17)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import racs
from engine.helpers import FakeClock, plan_input, seg
from racs.core.model import TelemetryEvent

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "takk-racs-state-v1.json"


def _events(engine: racs.Racs) -> list[TelemetryEvent]:
    seen: list[TelemetryEvent] = []
    engine.on(seen.append)
    return seen


def _gemini(agent: str, digest: str, **reuse: Any) -> dict[str, Any]:
    return plan_input(
        [
            seg("docs", "documents", tokens=10_000, contentHash=digest),
            seg("q", "dynamic", "volatile"),
        ],
        provider="google",
        model="gemini-2.5-pro",
        agentId=agent,
        **({"reuse": reuse} if reuse else {}),
    )


class TestResourceTrapBreakEven:
    def test_storage_trap_reports_break_even(self) -> None:
        """Half a call per hour cannot pay for storage: `none`, the trap, and the numbers.

        save per call = 10000/1e6 x (1.0 - 0.1) = 0.009 USD; storage per hour =
        10000/1e6 x 1.0 = 0.01 USD; premium tokens = 0.01/1.0 x 1e6 = 10000;
        min reuses = ceil(0.01/0.009) = 2; profitable: 0.5 >= 2 is false.
        """
        engine = racs.create_racs(
            pricing={
                "gemini-2.5-pro": {
                    "inputPerMTok": 1.0,
                    "cacheReadPerMTok": 0.1,
                    "storagePerMTokHour": 1.0,
                }
            }
        )
        plan = engine.plan(_gemini("a", "d1", callsPerHour=0.5))
        assert plan.directives[0].kind == "none"
        assert [f.code for f in plan.findings] == ["write-premium-trap"]
        assert plan.break_even is not None
        be = plan.break_even.to_dict()
        assert (be["writePremiumTokens"], be["minReusesToProfit"], be["profitable"]) == (
            10_000,
            2,
            False,
        )


class TestProfileMerge:
    def test_explicit_null_keeps_the_shipped_value(self) -> None:
        """`{"minCacheableTokens": None}` leaves Anthropic's shipped 1024 in place."""
        engine = racs.create_racs(profiles={"anthropic": {"minCacheableTokens": None}})
        assert engine.profile_of("anthropic").min_cacheable_tokens == 1024

    def test_breakpoint_profile_without_ttls_uses_5m(self) -> None:
        """A custom breakpoint provider with no `ttls` gets a 5m breakpoint, not `none`."""
        engine = racs.create_racs(profiles={"custom": {"family": "breakpoint"}})
        plan = engine.plan(
            plan_input([seg("sys", tokens=2000), seg("q", "dynamic", "volatile")], "custom", "m")
        )
        assert [d.to_dict() for d in plan.directives] == [
            {"kind": "breakpoint", "segmentId": "sys", "ttl": "5m"}
        ]


class TestAsciiPatterns:
    def _codes(self, content: str) -> list[str]:
        engine = racs.create_racs()
        findings = engine.lint(plan_input([seg("s", content=content, tokens=2000)]))
        return [f.code for f in findings]

    def test_word_boundary_is_ascii(self) -> None:
        """CJK letters are not word characters in JavaScript: the epoch is found."""
        assert self._codes("订单1767225600到期") == ["timestamp-in-stable"]

    def test_digit_is_ascii(self) -> None:
        """Arabic-Indic digits are not `\\d` in JavaScript: no 'today' next to a number."""
        assert self._codes("today is \u0661\u0662 days away") == []

    def test_today_window_counts_utf16_units(self) -> None:
        """The 32-character window of the 'today' pattern counts UTF-16 units, as
        JavaScript does: 20 emoji are 40 units, too far from the digit."""
        assert self._codes("today " + "😀" * 20 + "5") == []
        assert self._codes("today " + "😀" * 12 + "5") == ["timestamp-in-stable"]

    def test_hex_run_boundary_is_ascii(self) -> None:
        """`é` is not a word character in JavaScript, so the run is a hex run (found before
        the base64-like kind), not only base64-like."""
        engine = racs.create_racs()
        content = "é0123456789abcdef0123456789abcdef"
        (finding,) = engine.lint(plan_input([seg("s", content=content, tokens=2000)]))
        assert finding.code == "identifier-in-stable"
        assert "(hex run," in finding.message


def _as_javascript_sees_it(text: str) -> str:
    """Every non-ASCII character as JavaScript's ASCII regexes see it: a non-word,
    non-digit character, one per UTF-16 code unit ("!" matches no lint class)."""
    return "".join(c if c.isascii() else "!" * (2 if ord(c) > 0xFFFF else 1) for c in text)


_PIECES = st.sampled_from(
    [
        "today",
        "Current Time",
        " ",
        "\n",
        "-",
        ":",
        "T",
        "Z",
        "2026",
        "01",
        "1767225600",
        "176722560012",
        "deadbeef",
        "0123456789abcdef",
        "é",
        "订",
        "\u0661",  # ARABIC-INDIC DIGIT ONE
        "\u0662\u0660\u0662\u0666",  # 2026 in Arabic-Indic digits
        "\u212a",  # Kelvin sign: folds to "k" only under Unicode case rules
        "😀",
        "A1b2C3d4",
        "uuid-4",
    ]
)


class TestAsciiInvariant:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(_PIECES, min_size=1, max_size=40).map("".join))
    def test_non_ascii_characters_act_as_javascript_sees_them(self, text: str) -> None:
        """Findings depend on non-ASCII characters only as JavaScript's regexes see them:
        replacing each by "!" per UTF-16 unit changes nothing."""
        engine = racs.create_racs()

        def findings(content: str) -> list[tuple[str, str]]:
            out = engine.lint(plan_input([seg("s", content=content, tokens=2000)]))
            return [(f.code, f.message) for f in out]

        assert findings(text) == findings(_as_javascript_sees_it(text))


class TestTelemetry:
    def test_drift_and_resource_action_precede_plan_created(self, clock: FakeClock) -> None:
        """The reference emits prefix.drifted, then resource.action, then plan.created."""
        engine = racs.create_racs(clock=clock)
        engine.plan(_gemini("a", "d1"))
        seen = _events(engine)
        engine.plan(_gemini("a", "d2"))
        assert [e.type for e in seen] == ["prefix.drifted", "resource.action", "plan.created"]

    def test_no_resource_action_over_the_prefix_cap(self, clock: FakeClock) -> None:
        """A plan past max_prefixes gets no resource bookkeeping, so no resource.action."""
        engine = racs.create_racs(clock=clock, max_prefixes=1)
        engine.plan(_gemini("a", "d1"))
        seen = _events(engine)
        plan = engine.plan(_gemini("b", "d2"))
        assert plan.directives[0].to_dict()["action"] == "create"
        # the prefix registry and the drift lineages (same cap) are both full: one overflow,
        # one event (issue 26)
        assert [e.type for e in seen] == ["limit.reached", "plan.created"]

    def test_usage_recorded_carries_the_usage_timestamp(self, clock: FakeClock) -> None:
        """A usage with its own timestamp is reported at that time, not the clock's."""
        engine = racs.create_racs(clock=clock)
        seen = _events(engine)
        engine.record(
            {
                "provider": "anthropic",
                "model": "m",
                "inputTokens": 10,
                "cacheReadTokens": 0,
                "timestamp": 1234,
            }
        )
        assert [(e.type, e.timestamp) for e in seen] == [("usage.recorded", 1234)]  # type: ignore[union-attr]

    def test_drift_lineage_cap_follows_max_prefixes(self, clock: FakeClock) -> None:
        """With max_prefixes=2, a third lineage evicts the first: its change is no drift."""
        engine = racs.create_racs(clock=clock, max_prefixes=2)
        for agent in ("a", "b", "c"):
            engine.plan(plan_input([seg("s", tokens=2000)], agentId=agent))
        engine.plan(plan_input([seg("s", tokens=2000, contentHash="changed")], agentId="a"))
        assert engine.drifts() == ()


class TestOptionMappings:
    def _engine(self) -> racs.Racs:
        engine = racs.create_racs()
        for key in ("p1", "p2"):
            engine.record(
                {
                    "provider": "anthropic",
                    "model": "m",
                    "prefixKey": key,
                    "inputTokens": 100,
                    "cacheReadTokens": 40,
                }
            )
        return engine

    def test_stats_accepts_a_mapping(self) -> None:
        """`stats({"prefixKey": ...})`, the JavaScript calling style, filters."""
        stats = self._engine().stats({"prefixKey": "p1"})
        assert (stats.calls, [p.prefix_key for p in stats.prefixes]) == (1, ["p1"])

    def test_invalidate_accepts_a_mapping(self) -> None:
        """`invalidate({"prefixKey": ...})` clears that prefix only."""
        engine = racs.create_racs()
        a = engine.plan(plan_input([seg("s", tokens=2000)], agentId="a")).prefix_key
        engine.plan(plan_input([seg("s", tokens=2000)], agentId="b"))
        assert engine.invalidate({"prefixKey": a}) == 1
        assert engine.invalidate({"provider": "anthropic"}) == 1

    def test_unknown_option_is_refused(self) -> None:
        """A misspelt option raises instead of silently matching nothing."""
        with pytest.raises(racs.RacsError) as err:
            self._engine().stats({"prefix": "p1"})
        assert err.value.code == "ERR_INVALID_INPUT"

    def test_mapping_and_arguments_together_are_refused(self) -> None:
        """A mapping is the whole filter: no second argument beside it."""
        with pytest.raises(racs.RacsError):
            self._engine().invalidate({"prefixKey": "p1"}, "anthropic")


def _reference_snapshot() -> dict[str, Any]:
    if not FIXTURE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{FIXTURE} is missing")
        pytest.skip(f"{FIXTURE} is missing")
    loaded = racs.file_state(FIXTURE).load()
    assert loaded is not None
    return loaded


class TestReferenceSnapshot:
    """../shared/fixtures/takk-racs-state-v1.json was written by @takk/racs 1.0.0."""

    NOW = 1_750_000_000_000

    def _engine(self) -> racs.Racs:
        state = racs.memory_state()  # never written back to the shared fixture
        state.save(_reference_snapshot())
        return racs.create_racs(state=state, key_scheme="fnv1a64", clock=lambda: self.NOW)

    def test_usage_aggregates_restore(self) -> None:
        """1 call: 3000 read + 5 uncached, hit ratio 3000/3005."""
        stats = self._engine().stats()
        assert (stats.calls, stats.read_tokens, stats.uncached_tokens) == (1, 3000, 5)
        assert stats.hit_ratio == pytest.approx(3000 / 3005)
        assert [p.prefix_key for p in stats.prefixes] == ["0e0d66300682c2b2"]

    def test_keep_warm_entries_restore(self) -> None:
        """Both entries are due at refreshAt = savedAt + 270 s (0.9 x 5m)."""
        due = self._engine().schedule(self.NOW + 270_000)
        assert [(e.prefix_key, e.ttl, e.refresh_at) for e in due] == [
            ("0e0d66300682c2b2", "5m", self.NOW + 270_000),
            ("e0bcfd67b75932a1", "5m", self.NOW + 270_000),
        ]

    def test_fingerprint_lineage_restores(self) -> None:
        """Lineage "ag" continues: the same prefix is no drift, a changed `sys` is.

        The reference keeps the stable-token total only, so a change anywhere in the stable
        run invalidates all 3000 tokens.
        """
        engine = self._engine()

        def plan(digest: str) -> str:
            return engine.plan(
                plan_input(
                    [seg("sys", tokens=3000, contentHash=digest), seg("t", "dynamic", "volatile")],
                    agentId="ag",
                )
            ).prefix_key

        assert plan("h1") == "0e0d66300682c2b2"
        reports = engine.drifts()
        assert len(reports) == 2  # the restored report and this one
        latest = reports[-1]
        assert (
            latest.previous_key,
            latest.prefix_key,
            latest.changed_segment_ids,
            latest.invalidated_tokens,
        ) == ("e0bcfd67b75932a1", "0e0d66300682c2b2", ("sys",), 3000)

    def test_drift_report_restores(self) -> None:
        """The one drift report comes back as written."""
        (report,) = self._engine().drifts()
        assert report.to_dict() == {
            "agentId": "ag",
            "prefixKey": "e0bcfd67b75932a1",
            "previousKey": "0e0d66300682c2b2",
            "changedSegmentIds": ["sys"],
            "invalidatedTokens": 3000,
            "timestamp": self.NOW,
        }

    def test_prices_restored_usage(self) -> None:
        """With pricing, restored tokens get dollars: 3000/1e6 x (3 - 0.3) = 0.0081 USD."""
        state = racs.memory_state()
        state.save(_reference_snapshot())
        engine = racs.create_racs(
            state=state,
            pricing={"claude-sonnet-4-5": {"inputPerMTok": 3, "cacheReadPerMTok": 0.3}},
        )
        assert engine.stats().saved_usd == pytest.approx(0.0081)

    def test_file_that_is_not_json_raises(self, tmp_path: Path) -> None:
        """Like the reference, a state file that is not JSON at all is an error."""
        path = tmp_path / "state.json"
        path.write_text("{not json")
        with pytest.raises(racs.RacsError) as err:
            racs.create_racs(state=racs.file_state(path))
        assert err.value.code == "ERR_STATE_IO"
        assert str(path) in err.value.message

    def test_corrupt_reference_section_degrades(self) -> None:
        """A corrupt section of a reference snapshot restores empty; the rest still loads."""
        snapshot = json.loads(json.dumps(_reference_snapshot()))
        snapshot["data"]["keeper"] = {"entries": "garbage"}
        state = racs.memory_state()
        state.save(snapshot)
        engine = racs.create_racs(state=state, key_scheme="fnv1a64")
        assert engine.schedule(self.NOW + 270_000) == ()
        assert engine.stats().calls == 1

"""State shared with @takk/racs 1.0.0 in both directions (issue 26).

The fixtures under ../shared/fixtures were written by the reference (see their SOURCES.md):
racs restores them, and with ``snapshot_format="takk-v1"`` writes the same layout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import racs
from engine.helpers import FakeClock, plan_input, seg
from racs.core.errors import RacsError

GEMINI = "fixtures/takk-racs-state-gemini-v1.json"
ONE_CALL = "fixtures/takk-racs-state-v1.json"
CREATED_AT = 1_796_659_795_278
"""lastWriteAt of the fixture's resource: when the reference created the cached content."""


def _gemini_prompt(question: str = "What does clause 3 say?") -> dict[str, Any]:
    """The prompt the reference planned (SOURCES.md): agent contracts, 17,000 stable tokens."""
    return plan_input(
        [
            seg("sys", content="Contract clause. " * 4000),
            seg("q", "dynamic", "volatile", content=question),
        ],
        provider="google",
        model="gemini-2.5-pro",
        agentId="contracts",
        reuse={"intervalSeconds": 60},
    )


def _restored(snapshot: dict[str, Any], now: Callable[[], float], **options: Any) -> racs.Racs:
    state = racs.memory_state()  # never written back to the shared fixture
    state.save(snapshot)
    return racs.create_racs(state=state, key_scheme="fnv1a64", clock=now, **options)


def _fixture(shared: Callable[[str], Path], name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(shared(name).read_text(encoding="utf-8"))
    return loaded


def _shape(value: Any) -> Any:
    """Keys and JSON types, values dropped: the layout two snapshots must share."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


class TestGeminiResourcesRestore:
    def test_same_prompt_within_the_ttl_reuses(self, shared: Callable[[str], Path]) -> None:
        """Planned 60 s after the reference created it (TTL 300 s), the resource is reused."""
        engine = _restored(_fixture(shared, GEMINI), lambda: CREATED_AT + 60_000)
        plan = engine.plan(_gemini_prompt())
        assert plan.prefix_key == "f7e682162a0ff710"
        assert [d.to_dict() for d in plan.directives] == [
            {
                "kind": "resource",
                "action": "reuse",
                "resourceKey": "f7e682162a0ff710",
                "ttlSeconds": 300,
            }
        ]

    def test_no_section_is_reported_corrupt(
        self, shared: Callable[[str], Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        """The resources section restores whole: nothing is logged as corrupt."""
        with caplog.at_level(logging.WARNING, logger="racs"):
            _restored(_fixture(shared, GEMINI), lambda: CREATED_AT)
        assert "corrupt" not in caplog.text

    def test_the_model_comes_from_the_keep_warm_entry(self, shared: Callable[[str], Path]) -> None:
        """The reference's resource names no model; its keeper entry (same key) does."""
        engine = _restored(_fixture(shared, GEMINI), lambda: CREATED_AT)
        (resource,) = engine.snapshot()["data"]["resources"]
        assert (resource["resourceKey"], resource["model"]) == (
            "f7e682162a0ff710",
            "gemini-2.5-pro",
        )

    def test_past_the_ttl_it_is_created_again(self, shared: Callable[[str], Path]) -> None:
        """At lastWriteAt + 300 s the cached content is gone: create."""
        engine = _restored(_fixture(shared, GEMINI), lambda: CREATED_AT + 300_000)
        (directive,) = engine.plan(_gemini_prompt()).directives
        assert directive.to_dict()["action"] == "create"


def _gemini_twice(clock: FakeClock, **options: Any) -> racs.Racs:
    """The reference's fixture scenario: a create, then a reuse 60 s later."""
    engine = racs.create_racs(key_scheme="fnv1a64", clock=clock, **options)
    engine.plan(_gemini_prompt("first"))
    clock.advance(60)
    engine.plan(_gemini_prompt("second"))
    return engine


class TestTakkFormat:
    def test_layout_matches_the_references_gemini_snapshot(
        self, shared: Callable[[str], Path], clock: FakeClock
    ) -> None:
        """Same sections, entries with the same keys and JSON types, in the same order."""
        written = _gemini_twice(clock, snapshot_format="takk-v1").snapshot()
        reference = _fixture(shared, GEMINI)
        assert _shape(written) == _shape(reference)
        assert list(written["data"]) == list(reference["data"])

    def test_same_values_as_the_reference_wrote(
        self, shared: Callable[[str], Path], clock: FakeClock
    ) -> None:
        """Keys, tokens, TTLs and caps equal the reference's; only times and the volatile
        segment's hash (racs never hashes volatile text) differ."""
        data = _gemini_twice(clock, snapshot_format="takk-v1").snapshot()["data"]
        ref = _fixture(shared, GEMINI)["data"]
        (fingerprint,) = data["fingerprints"]["entries"]
        (ref_fingerprint,) = ref["fingerprints"]["entries"]
        assert {k: fingerprint[k] for k in ("key", "prefixKey", "tokens")} == {
            "key": "contracts",
            "prefixKey": "f7e682162a0ff710",
            "tokens": 17_000,  # "Contract clause. " is 17 chars x 4000 / 4
        }
        assert fingerprint["segments"][0] == ref_fingerprint["segments"][0]
        assert data["fingerprints"]["capacity"] == ref["fingerprints"]["capacity"] == 1000
        (entry,) = data["keeper"]["entries"]
        (ref_entry,) = ref["keeper"]["entries"]
        for name in ("prefixKey", "provider", "model", "ttl"):
            assert entry[name] == ref_entry[name]
        assert entry["refreshAt"] - entry["lastWriteAt"] == 270_000  # 0.9 x 300 s
        (resource,) = data["resources"]
        assert {k: v for k, v in resource.items() if k != "lastWriteAt"} == {
            "key": "f7e682162a0ff710",
            "provider": "google",
            "ttlSeconds": 300,
        }

    def test_ledger_entries_match_the_references(
        self, shared: Callable[[str], Path], clock: FakeClock
    ) -> None:
        """A recorded call is written as the reference's ledger entry, field for field."""
        engine = racs.create_racs(clock=clock, snapshot_format="takk-v1")
        engine.record(
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "prefixKey": "0e0d66300682c2b2",
                "inputTokens": 3005,
                "cacheReadTokens": 3000,
            }
        )
        ledger = engine.snapshot()["data"]["ledger"]
        assert ledger == _fixture(shared, ONE_CALL)["data"]["ledger"]

    def test_round_trip_keeps_what_the_layout_holds(self, clock: FakeClock) -> None:
        """Written in takk-v1 and restored: usage, keep-warm, resources and lineage."""
        state = racs.memory_state()
        engine = racs.create_racs(clock=clock, state=state, snapshot_format="takk-v1")
        first = engine.plan(_gemini_prompt())
        engine.record(
            {
                "provider": "google",
                "model": "gemini-2.5-pro",
                "prefixKey": first.prefix_key,
                "inputTokens": 17_010,
                "cacheReadTokens": 17_000,
            }
        )
        stats = engine.stats()
        engine.close()
        assert "planCounter" not in state.snapshot["data"]  # type: ignore[index]
        restored = racs.create_racs(clock=clock, state=state)
        back = restored.stats()
        tokens = ("calls", "hits", "read_tokens", "write_tokens", "uncached_tokens", "saved_usd")
        assert [getattr(back, n) for n in tokens] == [getattr(stats, n) for n in tokens]
        # storage spend is racs's own: the reference's layout has no place for it
        assert stats.storage_spend_usd and back.storage_spend_usd == 0
        at = clock.now + 270_000
        assert [e.prefix_key for e in restored.schedule(at)] == [first.prefix_key]
        clock.advance(60)
        (directive,) = restored.plan(_gemini_prompt("later")).directives
        assert directive.to_dict()["action"] == "reuse"
        assert restored.drifts() == ()

    def test_the_reference_layout_is_read_back_as_such(self, clock: FakeClock) -> None:
        """A takk-v1 snapshot carries none of racs's own sections."""
        data = _gemini_twice(clock, snapshot_format="takk-v1").snapshot()["data"]
        assert set(data) == {"ledger", "fingerprints", "keeper", "resources", "drifts"}

    def test_unknown_format_is_refused(self) -> None:
        """Only racs and takk-v1 exist."""
        with pytest.raises(RacsError, match="snapshot_format must be one of racs, takk-v1"):
            racs.create_racs(snapshot_format="takk-v2")

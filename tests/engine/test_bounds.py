"""The engine refuses numbers that would overflow its sums, and loads hostile snapshots safely."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import racs
from engine.helpers import FakeClock, plan_input, seg

MAX_TOKENS = 2**32 - 1  # the documented bound of a token count (README, "Bounds")
MAX_NUMBER = 2**53 - 1  # of any other count, amount or duration


def usage(**fields: Any) -> dict[str, Any]:
    """A usage record in the wire form."""
    record: dict[str, Any] = {"provider": "anthropic", "model": "m", "inputTokens": 10}
    record["cacheReadTokens"] = 0
    record.update(fields)
    return record


class TestHostileNumbers:
    """Each of these was accepted (or escaped as OverflowError) before."""

    @pytest.mark.parametrize(
        "record",
        [
            usage(inputTokens=10**308),  # a 309-digit integer
            usage(inputTokens=10**400),
            usage(inputTokens=1.7e308),
            usage(cacheReadTokens=2**63),
            usage(cacheWriteTokens5m=MAX_TOKENS + 1),
            usage(timestamp=1e300),
            usage(timestamp=253_402_300_800_000),  # year 10000
        ],
        ids=["309 digits", "401 digits", "1.7e308", "2**63", "2**32", "ts 1e300", "year 10000"],
    )
    def test_usage_is_refused(self, record: dict[str, Any]) -> None:
        """ERR_INVALID_INPUT, and the engine's totals are untouched."""
        engine = racs.create_racs(clock=FakeClock())
        with pytest.raises(racs.RacsError) as caught:
            engine.record(record)
        assert caught.value.code == "ERR_INVALID_INPUT"
        assert engine.stats().calls == 0

    def test_two_huge_records_cannot_make_the_sums_infinite(self) -> None:
        """The issue's two records of 1.7e308: refused, so every snapshot still saves."""
        state = racs.memory_state()
        engine = racs.create_racs(state=state, clock=FakeClock())
        for _ in range(2):
            with pytest.raises(racs.RacsError):
                engine.record(usage(inputTokens=1.7e308))
        engine.record(usage(inputTokens=MAX_TOKENS, cacheReadTokens=MAX_TOKENS))
        engine.record(usage(inputTokens=MAX_TOKENS, cacheReadTokens=MAX_TOKENS))
        engine.flush()
        assert engine.stats().read_tokens == 2 * MAX_TOKENS  # 8_589_934_590
        assert state.snapshot is not None
        json.dumps(state.snapshot, allow_nan=False)  # finite throughout

    @pytest.mark.parametrize("tokens", [10**308, MAX_NUMBER + 1, 1e300])
    def test_segment_tokens_are_bounded(self, tokens: float) -> None:
        """POST /plan with two segments of 10**308 tokens escaped as OverflowError."""
        engine = racs.create_racs(clock=FakeClock())
        data = plan_input(
            [
                seg("a", tokens=tokens),
                seg("b", tokens=tokens),
            ]
        )
        with pytest.raises(racs.RacsError) as caught:
            engine.plan(data)
        assert caught.value.code == "ERR_INVALID_INPUT"
        assert "segments[0].tokens" in caught.value.message


class TestHostileSnapshots:
    """A snapshot file is input too: deep, huge or damaged ones start empty, quietly."""

    def test_a_100k_deep_snapshot_starts_empty(self, tmp_path: Path) -> None:
        """It was a RecursionError; now a warning and an empty engine."""
        path = tmp_path / "state.json"
        path.write_text('{"version": 1, "data": ' + "[" * 100_000 + "]" * 100_000 + "}")
        engine = racs.create_racs(state=racs.file_state(path), clock=FakeClock())
        assert engine.stats().calls == 0

    def test_a_deep_but_parseable_snapshot_starts_empty(self, tmp_path: Path) -> None:
        """500 levels parse, but nothing racs writes nests that deep."""
        path = tmp_path / "state.json"
        path.write_text('{"version": 1, "data": {"usage": ' + "[" * 500 + "]" * 500 + "}}")
        engine = racs.create_racs(state=racs.file_state(path), clock=FakeClock())
        assert engine.stats().calls == 0

    def test_aggregates_out_of_range_are_dropped(self) -> None:
        """An aggregate of 1e308 would turn infinite on the next record: the section is
        refused as corrupt instead."""
        state = racs.memory_state()
        engine = racs.create_racs(state=state, clock=FakeClock())
        engine.record(usage(cacheReadTokens=5))
        engine.close()
        assert state.snapshot is not None
        state.snapshot["data"]["usage"][0]["read"] = 1.7e308
        restored = racs.create_racs(state=state, clock=FakeClock())
        assert restored.stats().calls == 0

    def test_corrupt_sections_are_not_quoted(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The warning names the section and the kind of fault, never the file's text."""
        path = tmp_path / "state.json"
        data = {
            "prefixes": [{"prefixKey": "k", "provider": "p", "model": "m", "lastSeen": "s3cr3t"}]
        }
        path.write_text(json.dumps({"version": 1, "savedAt": 0, "data": data}))
        with caplog.at_level(logging.WARNING, logger="racs"):
            racs.create_racs(state=racs.file_state(path), clock=FakeClock())
        assert "prefixes" in caplog.text
        assert "s3cr3t" not in caplog.text


class TestPrivateDirectories:
    """Directories racs makes are 0700 whatever the umask."""

    def test_state_directories_under_umask_000(self, tmp_path: Path) -> None:
        """Every directory created for a snapshot file is the owner's alone."""
        old = os.umask(0)
        try:
            racs.create_racs(state=racs.file_state(tmp_path / "a" / "b" / "s.json")).close()
        finally:
            os.umask(old)
        for directory in (tmp_path / "a", tmp_path / "a" / "b"):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "a" / "b" / "s.json").stat().st_mode) == 0o600

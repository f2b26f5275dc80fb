"""The shared Claude Code transcripts: calibration exact outside named anomalies, the
optimum never above any strategy on any stream, the recorded replay equals the bill."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from racs.core.prices import PriceBook
from racs.replay.run import OPTIMUM, Replay, replay
from racs.traffic.problems import Problems
from racs.traffic.sources import read


@pytest.fixture(scope="module")
def result(shared: Callable[[str], Path]) -> Replay:
    return replay(read([shared("traffic/claude-code")], Problems()), prices=PriceBook())


def test_calibration_is_exact_outside_named_anomalies(result: Replay) -> None:
    """Replaying the recorded choices reproduces every recorded write; every request the
    model cannot explain is named (13 of 455: 2 compactions, 7 reads from outside the
    stream, 4 misses the report calls unexplained too)."""
    cal = result.calibration
    assert result.requests == 455
    assert cal.error_tokens == 0 and cal.errors == []
    assert cal.exact + sum(cal.anomalies.values()) == cal.requests
    assert cal.anomalies == {"compaction": 2, "external": 7, "unexplained_miss": 4}


def test_recorded_strategy_costs_what_was_billed(result: Replay) -> None:
    """Under the neutral setting the recorded replay prices exactly like the usage."""
    assert math.isclose(result.total("recorded"), result.billed.total, rel_tol=1e-9)


def test_optimum_never_above_any_strategy(result: Replay) -> None:
    """On every stream, in both settings, no strategy is cheaper than the optimum."""
    for stream in result.streams:
        for costs in stream.costs.values():
            best = costs[OPTIMUM].total
            for name, cost in costs.items():
                assert best <= cost.total + 1e-9, (stream.key, name)


def test_captured_shares(result: Replay) -> None:
    """The measured shares quoted in the README (neutral setting)."""
    shares = {n: result.captured(n) for n in ("recorded", "5m", "1h", "racs")}
    assert shares["recorded"] == pytest.approx(0.9909, abs=5e-4)
    assert shares["5m"] == pytest.approx(0.9972, abs=5e-4)
    assert shares["1h"] == pytest.approx(0.9806, abs=5e-4)

"""The issue's numbers on the shared Claude Code transcripts, replayed with ``learned``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from racs.core.prices import PriceBook, database_available
from racs.replay.run import OPTIMUM, Replay, replay
from racs.traffic.problems import Problems
from racs.traffic.sources import read


@pytest.fixture(scope="module")
def replayed(shared: Callable[[str], Path]) -> Replay:
    """One neutral replay of the shared corpus (about two seconds)."""
    corpus = shared("traffic/claude-code")
    if not database_available():
        pytest.fail("the test extra installs genai-prices; dollars cannot be checked")
    requests = read([corpus], Problems())
    return replay(
        requests, strategies=("5m", "1h", "learned"), prices=PriceBook(), settings=("neutral",)
    )


def test_learned_captures_at_least_99_5_percent_in_total(replayed: Replay) -> None:
    """(none - learned) / (none - optimum) >= 0.995 over the whole corpus."""
    captured = replayed.captured("learned")
    assert captured is not None and captured >= 0.995


def test_no_stream_is_one_percent_worse_than_the_better_fixed_tier(replayed: Replay) -> None:
    """Per stream: learned - min(5m-only, 1h-only) <= 1% of the stream's optimum."""
    assert replayed.streams
    for stream in replayed.streams:
        costs = stream.costs["neutral"]
        best = min(costs["5m"].total, costs["1h"].total)
        assert costs["learned"].total - best <= 0.01 * costs[OPTIMUM].total, stream.key


def test_racs_replay_strategy_learned_on_the_command_line(shared: Callable[[str], Path]) -> None:
    """`racs replay --strategy learned --json`: priced beside 5m, same cost on this session
    (12 + 5 requests, no gap over 5 minutes: learned stays on 5m)."""
    path = shared("traffic/claude-code/subagent.jsonl")
    flags = ("--strategy", "5m", "--strategy", "learned", "--setting", "neutral", "--json")
    out = subprocess.run(
        [sys.executable, "-m", "racs.cli", "replay", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    neutral = json.loads(out.stdout)["strategies"]["neutral"]
    assert neutral["learned"]["totalUsd"] == pytest.approx(neutral["5m"]["totalUsd"])
    assert neutral["learned"]["capturedShare"] > 0.99

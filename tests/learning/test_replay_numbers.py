"""The issue's numbers on the shared Claude Code transcripts, replayed with ``learned``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from racs.prices import PriceBook, database_available
from racs.replay.run import OPTIMUM, Replay, replay
from racs.traffic.problems import Problems
from racs.traffic.sources import read

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "traffic" / "claude-code"


@pytest.fixture(scope="module")
def replayed() -> Replay:
    """One neutral replay of the shared corpus (about two seconds)."""
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the shared transcripts at {SHARED}")
        pytest.skip(f"no shared transcripts at {SHARED}")
    if not database_available():
        pytest.fail("the test extra installs genai-prices; dollars cannot be checked")
    requests = read([SHARED], Problems())
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


def test_racs_replay_strategy_learned_on_the_command_line() -> None:
    """`racs replay --strategy learned --json`: priced beside 5m, same cost on this session
    (12 + 5 requests, no gap over 5 minutes: learned stays on 5m)."""
    path = SHARED / "subagent.jsonl"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {path}")
        pytest.skip(f"no {path}")
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

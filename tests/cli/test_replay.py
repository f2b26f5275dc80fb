"""`racs replay` end to end: text, JSON, usage errors, and the page in real Chromium."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cli.conftest import Runner


@pytest.fixture
def transcript(shared: Callable[[str], Path]) -> Callable[[str], Path]:
    """One shared Claude Code transcript by file name."""
    return lambda name: shared(f"traffic/claude-code/{name}")


class TestReplayCommand:
    def test_json_figures(self, racs: Runner, transcript: Callable[[str], Path]) -> None:
        """subagent.jsonl: 17 requests; recorded equals billed; the optimum captures 100%."""
        out = racs("replay", str(transcript("subagent.jsonl")), "--json", "--requests")
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["schema"] == "racs.replay/1"
        assert doc["requests"] == 17
        neutral = doc["strategies"]["neutral"]
        assert neutral["recorded"]["totalUsd"] == pytest.approx(doc["billedUsd"])
        assert neutral["optimum"]["capturedShare"] == pytest.approx(1.0)
        assert neutral["optimum"]["gapUsd"] == 0
        assert len(doc["perRequest"]) == 17
        assert doc["calibration"]["errorTokens"] == 0

    def test_text_names_strategies_and_anomalies(
        self, racs: Runner, transcript: Callable[[str], Path]
    ) -> None:
        out = racs("replay", str(transcript("subagent.jsonl")), "--strategy", "racs@300")
        assert out.returncode == 0, out.stderr
        assert "racs@300" in out.stdout and "optimum" in out.stdout
        assert "calibration: " in out.stdout and "external" in out.stdout

    def test_unknown_strategy_is_a_usage_error(
        self, racs: Runner, transcript: Callable[[str], Path]
    ) -> None:
        out = racs("replay", str(transcript("short.jsonl")), "--strategy", "bogus")
        assert out.returncode == 2
        assert len(out.stderr.strip().splitlines()) == 1
        assert "unknown strategy 'bogus'" in out.stderr

    def test_missing_path_is_a_usage_error(self, racs: Runner, tmp_path: Path) -> None:
        out = racs("replay", str(tmp_path / "nope.jsonl"))
        assert out.returncode == 2 and "no such file" in out.stderr


def test_page_draws_one_line_per_strategy(
    racs: Runner, tmp_path: Path, transcript: Callable[[str], Path], chromium: Any
) -> None:
    """The page shows a polyline per strategy and the optimum, and legend totals equal
    the JSON totals; no script, no page errors."""
    source = str(transcript("subagent.jsonl"))
    page_path = tmp_path / "replay.html"
    out = racs("replay", source, "--json", "--html", str(page_path), "--setting", "neutral")
    assert out.returncode == 0, out.stderr
    totals = json.loads(out.stdout)["strategies"]["neutral"]
    page = chromium.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(page_path.as_uri())
    lines = page.locator("#cumulative polyline.series")
    assert lines.count() == len(totals)
    names = [lines.nth(i).get_attribute("data-strategy") for i in range(lines.count())]
    assert sorted(n or "" for n in names) == sorted(totals)
    shown = page.locator("ul.legend .usd")
    for i in range(shown.count()):
        name = page.locator("ul.legend .name").nth(i).inner_text()
        usd = float(shown.nth(i).get_attribute("data-usd") or "nan")
        assert usd == pytest.approx(totals[name]["totalUsd"], abs=1e-6)
    box = page.locator("#cumulative").bounding_box()
    assert box is not None and box["width"] > 400
    assert errors == []

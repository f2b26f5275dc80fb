"""`racs replay` end to end: text, JSON, usage errors, and the page in real Chromium."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .conftest import Runner

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "traffic" / "claude-code"
CHROMIUM = "/usr/bin/chromium"


def _transcript(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {path}")
        pytest.skip(f"no {path}")
    return path


class TestReplayCommand:
    def test_json_figures(self, racs: Runner) -> None:
        """subagent.jsonl: 17 requests; recorded equals billed; the optimum captures 100%."""
        out = racs("replay", str(_transcript("subagent.jsonl")), "--json", "--requests")
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

    def test_text_names_strategies_and_anomalies(self, racs: Runner) -> None:
        out = racs("replay", str(_transcript("subagent.jsonl")), "--strategy", "racs@300")
        assert out.returncode == 0, out.stderr
        assert "racs@300" in out.stdout and "optimum" in out.stdout
        assert "calibration: " in out.stdout and "external" in out.stdout

    def test_unknown_strategy_is_a_usage_error(self, racs: Runner) -> None:
        out = racs("replay", str(_transcript("short.jsonl")), "--strategy", "bogus")
        assert out.returncode == 2
        assert len(out.stderr.strip().splitlines()) == 1
        assert "unknown strategy 'bogus'" in out.stderr

    def test_missing_path_is_a_usage_error(self, racs: Runner, tmp_path: Path) -> None:
        out = racs("replay", str(tmp_path / "nope.jsonl"))
        assert out.returncode == 2 and "no such file" in out.stderr


def _require_browser() -> None:
    missing = not Path(CHROMIUM).exists() or shutil.which("chromium") is None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Chromium at {CHROMIUM} and the playwright package")
        pytest.skip(f"Chromium ({CHROMIUM}) or playwright is not installed")


def test_page_draws_one_line_per_strategy(racs: Runner, tmp_path: Path) -> None:
    """The page shows a polyline per strategy and the optimum, and legend totals equal
    the JSON totals; no script, no page errors."""
    source = str(_transcript("subagent.jsonl"))
    _require_browser()
    from playwright.sync_api import sync_playwright

    page_path = tmp_path / "replay.html"
    out = racs("replay", source, "--json", "--html", str(page_path), "--setting", "neutral")
    assert out.returncode == 0, out.stderr
    totals = json.loads(out.stdout)["strategies"]["neutral"]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
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
        finally:
            browser.close()

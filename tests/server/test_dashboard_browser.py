"""The dashboard in real headless Chromium: figures match /stats and the traffic report;
screenshots are saved under $RACS_TEST_ARTIFACTS (default: the test's tmp_path)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import racs
from racs.cli.app import main
from racs.ledger import create_ledger
from server.conftest import Served, plan_input

HOUR_MS = 3_600_000


def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $RACS_TEST_ARTIFACTS, else the test's own tmp_path."""
    folder = Path(os.environ.get("RACS_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _seed(served: Served) -> None:
    """Plans, usage and a drift so every panel has something to show."""
    with served.client() as c:
        key = c.post("/plan", json=plan_input(agent="support-bot")).json()["prefixKey"]
        c.post("/plan", json=plan_input(agent="support-bot", system="Changed. " * 1000))
        key = c.post("/plan", json=plan_input(agent="support-bot")).json()["prefixKey"]
        rows = [(0, 2250), (2250, 0), (2250, 0), (2250, 0), (0, 2250), (2250, 0)]
        for read, write in rows:
            c.post(
                "/usage",
                json={
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "prefixKey": key,
                    "inputTokens": 2400,
                    "cacheReadTokens": read,
                    "cacheWriteTokens5m": write,
                },
            )
        c.post(
            "/usage",
            json={
                "provider": "openai",
                "model": "gpt-4o",
                "inputTokens": 5000,
                "cacheReadTokens": 3072,
            },
        )


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_dashboard_shows_the_stats(
    serve: Callable[..., Served], token: str | None, chromium: Any, tmp_path: Path
) -> None:
    """Hit ratio, calls and token totals on the page equal GET /stats; with a token the
    page asks for it and then shows the same figures."""
    served = serve(token=token, history_interval=0.3)
    _seed(served)
    with served.client() as c:
        stats = c.get("/stats").json()
    page = chromium.new_page(viewport={"width": 1360, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served.url + "/?interval=1")
    if token is not None:
        page.wait_for_selector("#token-form:not(.hidden)")
        page.fill("#token-input", token)
        page.click("#token-form button")
    page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
    value = lambda sel: page.get_attribute(sel, "data-value")  # noqa: E731
    assert float(value("#hit-ratio") or "nan") == pytest.approx(stats["hitRatio"])
    assert int(value("#calls") or "-1") == stats["calls"]
    assert float(value("#read-tokens") or "nan") == stats["readTokens"]
    assert float(value("#write-tokens") or "nan") == stats["writeTokens"]
    assert float(value("#uncached-tokens") or "nan") == stats["uncachedTokens"]
    assert page.inner_text("#hit-ratio") == f"{stats['hitRatio'] * 100:.1f}%"
    assert int(value("#plans") or "-1") == 3
    assert page.locator("#prefixes tbody tr").count() == len(stats["prefixes"])
    assert "system" in page.inner_text("#drifts")
    # A chart line appears once two history samples exist.
    page.wait_for_selector("#chart-hit path.line", timeout=10_000)
    page.wait_for_function("document.querySelectorAll('#chart-hit path.line').length === 1")
    # No ledger: the traffic panels say how to get one instead of failing.
    assert page.is_visible("#no-ledger") and not page.is_visible("#spend-total")
    if token is None:
        page.wait_for_timeout(1200)  # let the bar transition finish
        page.screenshot(path=str(artifacts(tmp_path) / "dashboard-engine.png"), full_page=True)
    # Before the token is entered, the polls are 401 by design.
    assert [e for e in errors if "401" not in e] == []


def _day(ms: float) -> str:
    d = datetime.fromtimestamp(ms / 1000, UTC)
    return f"{d:%b} {d.day}"


def test_dashboard_tells_the_traffic_story(
    serve: Callable[..., Served],
    chromium: Any,
    shared: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The shared Claude Code transcripts ingested into a ledger: the page's time axis is
    the traffic's own dates, its spend is `racs report --ledger`'s total to the cent, its
    top finding is the report's, a session page draws every request of the session, and
    the console stays clean. Screenshots of both pages are kept."""
    transcripts = shared("traffic/claude-code")
    db = str(tmp_path / "ledger.db")
    assert main(["ingest", str(transcripts), "--ledger", db]) == 0
    capsys.readouterr()
    assert main(["report", "--ledger", db, "--json", "--no-hindsight"]) == 0
    report = json.loads(capsys.readouterr().out)
    ledger = create_ledger(db)
    served = serve(engine=racs.create_racs(ledger=ledger), ledger=ledger)
    out = artifacts(tmp_path)
    try:
        page = chromium.new_page(viewport={"width": 1440, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(served.url + "/?interval=2")
        page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
        page.wait_for_selector("#findings tbody tr[data-cause]", timeout=20_000)
        page.wait_for_selector("#whatif tbody tr[data-strategy]", timeout=20_000)

        # The axis spans the traffic's own hours (February 2026), not the last seconds.
        first, last = report["total"]["firstMs"], report["total"]["lastMs"]
        start = int(page.get_attribute("#chart-spend", "data-start") or "0")
        end = int(page.get_attribute("#chart-spend", "data-end") or "0")
        assert start <= first < start + HOUR_MS
        assert end - HOUR_MS <= last < end
        labels = page.locator("#chart-spend .time-label").all_text_contents()
        days = {
            _day(first + k * 86_400_000) for k in range(1, int((last - first) // 86_400_000) + 1)
        }
        assert days and all(any(label.startswith(d) for label in labels) for d in days), labels
        range_label = page.inner_text("#range-label")
        assert _day(first) in range_label and _day(last) in range_label

        # Spend first, to the cent.
        total = report["total"]["usd"]["total"]
        assert page.inner_text("#spend-total") == f"${total:,.2f}"
        assert float(page.get_attribute("#spend-total", "data-value") or "nan") == pytest.approx(
            total, abs=0.005
        )
        assert (
            int(page.get_attribute("#requests-total", "data-value") or "-1")
            == (report["total"]["requests"])
        )

        # The top finding is the report's.
        top = report["findings"][0]
        row = page.locator("#findings tbody tr").first
        assert row.get_attribute("data-cause") == top["cause"]
        assert float(row.get_attribute("data-usd") or "nan") == pytest.approx(top["usd"])
        assert f"${top['usd']:.4f}" in row.inner_text()
        assert row.get_attribute("data-session") == top["session"]
        causes = page.locator("#causes tbody tr")
        assert causes.count() == len(report["causes"])
        assert causes.first.get_attribute("data-cause") == report["causes"][0]["cause"]

        page.wait_for_timeout(600)
        page.screenshot(path=str(out / "dashboard-overview.png"), full_page=True)

        # A session page draws each of its requests.
        session = report["by"]["session"][0]
        page.click(f"#sessions a[data-session='{session['key']}']")
        page.wait_for_selector("body[data-view=session]")
        page.wait_for_function(
            "n => document.querySelectorAll('#session-chart g.req').length === n",
            arg=session["requests"],
            timeout=20_000,
        )
        assert page.inner_text("#session-id") == session["key"]
        assert page.inner_text("#s-spend") == f"${session['usd']['total']:,.2f}"
        assert page.locator("#session-gaps circle.gap-dot").count() > 0
        assert "view=session" in page.url
        page.wait_for_timeout(600)
        page.screenshot(path=str(out / "dashboard-session.png"), full_page=True)

        # Back to the overview through the history, and no console error on the way.
        page.go_back()
        page.wait_for_selector("body[data-view=overview]")
        assert errors == []
    finally:
        ledger.close()

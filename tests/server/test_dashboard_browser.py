"""The dashboard in real headless Chromium: figures match /stats; a screenshot is saved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.conftest import Served, plan_input

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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
    serve: Callable[..., Served], token: str | None, chromium: Any
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
    if token is None:
        ARTIFACTS.mkdir(exist_ok=True)
        page.wait_for_timeout(1200)  # let the bar transition finish
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    # Before the token is entered, the polls are 401 by design.
    assert [e for e in errors if "401" not in e] == []

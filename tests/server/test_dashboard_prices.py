"""The dashboard shows dollars for the best-known models with no pricing configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from server.conftest import Served

# The models `racs simulate` runs, one per adapter family.
SIMULATED = (
    ("anthropic", "claude-sonnet-4-5"),
    ("openai", "gpt-4.1"),
    ("google", "gemini-2.5-pro"),
    ("deepseek", "deepseek-chat"),
)


def test_net_savings_without_a_pricing_flag(serve: Callable[..., Served], chromium: Any) -> None:
    """Net USD comes from the bundled price database; nothing says pricing is missing."""
    served = serve()
    with served.client() as c:
        for provider, model in SIMULATED:
            for read in (0, 3000, 3000):
                c.post(
                    "/usage",
                    json={
                        "provider": provider,
                        "model": model,
                        "inputTokens": 4000,
                        "cacheReadTokens": read,
                        "cacheWriteTokens5m": 3000 if read == 0 and provider == "anthropic" else 0,
                    },
                )
        stats = c.get("/stats").json()
    assert stats["netUsd"] is not None and stats["netUsd"] > 0
    assert stats["unpricedModels"] == []
    assert all(p["netUsd"] is not None for p in stats["prefixes"])
    page = chromium.new_page(viewport={"width": 1360, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(served.url + "/?interval=1")
    page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
    shown = page.get_attribute("#net-usd", "data-value")
    assert shown not in (None, "")
    assert float(shown or "nan") == pytest.approx(stats["netUsd"])
    assert "no pricing configured" not in page.inner_text("body")
    assert errors == []

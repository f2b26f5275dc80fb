"""Shared fixtures: a local provider stub (never the internet) and a fresh engine."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import racs
from racs.testing import StubServer, count_markers

# Belt and braces: no SDK may reach a real endpoint or phone home from these tests.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("ANTHROPIC_API_KEY", "test")
os.environ.setdefault("OPENAI_API_KEY", "test")
# The price database's disk cache goes to a folder of this run, never the user's ~/.cache.
os.environ.setdefault("RACS_CACHE_DIR", tempfile.mkdtemp(prefix="racs-test-cache-"))


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A running stub; at teardown no accepted body carried more than four markers."""
    with StubServer() as server:
        yield server
        for received in server.requests:
            assert count_markers(received.body) <= 4, received.path


@pytest.fixture
def engine() -> racs.Racs:
    """A fresh engine with a fixed clock."""
    return racs.create_racs(clock=lambda: 1_760_000_000_000)


SHARED_ROOT = Path(__file__).resolve().parents[1].parent / "shared"
"""``../shared`` beside the clone: public data read where it lies, never copied in."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI needs {what}")
    pytest.skip(f"missing {what}")


@pytest.fixture(scope="session")
def shared() -> Callable[[str], Path]:
    """``shared("traffic/claude-code")``: a path under ``../shared``; a missing one skips
    locally and fails with ``CI`` set."""

    def find(relative: str) -> Path:
        path = SHARED_ROOT / relative
        if not path.exists():
            _missing(str(path))
        return path

    return find


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by playwright (no browser download); closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package")
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        _missing(f"Chromium at {CHROMIUM}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()

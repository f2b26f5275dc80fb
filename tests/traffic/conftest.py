"""The shared Claude Code transcripts, read where they lie (never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "traffic" / "claude-code"


@pytest.fixture(scope="session")
def transcripts() -> Path:
    """``../shared/traffic/claude-code``: skipped locally when absent, a failure in CI."""
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the shared transcripts at {SHARED}")
        pytest.skip(f"no shared transcripts at {SHARED}")
    return SHARED

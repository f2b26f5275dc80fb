"""The shared traffic, read where it lies (never copied): skipped locally, required in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "traffic"


def shared(name: str) -> Path:
    """A path under ``../shared/traffic``; skip (locally) or fail (CI) when absent."""
    path = SHARED / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {path}")
        pytest.skip(f"no {path}")
    return path

"""Engine test fixtures."""

from __future__ import annotations

import pytest

from engine.helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A settable fake clock (ms since the epoch)."""
    return FakeClock()

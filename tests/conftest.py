"""Shared fixtures: a local provider stub (never the internet) and a fresh engine."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import racs
from racs.testing import StubServer, count_markers

# Belt and braces: no SDK may reach a real endpoint or phone home from these tests.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("ANTHROPIC_API_KEY", "test")
os.environ.setdefault("OPENAI_API_KEY", "test")


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

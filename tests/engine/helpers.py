"""Builders for plan inputs in the camelCase wire form."""

from __future__ import annotations

from typing import Any

import pytest

from racs.testing import FakeClock as FakeClock  # re-exported for the engine tests


def seg(
    id: str,
    role: str = "system",
    stability: str = "stable",
    tokens: float | None = None,
    content: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A segment; hash-only (contentHash = id) unless content is given."""
    out: dict[str, Any] = {"id": id, "role": role, "stability": stability}
    if content is not None:
        out["content"] = content
    else:
        out["contentHash"] = f"h-{id}"
    if tokens is not None:
        out["tokens"] = tokens
    out.update(extra)
    return out


def plan_input(
    segments: list[dict[str, Any]],
    provider: str = "anthropic",
    model: str = "claude-sonnet-4-5",
    **extra: Any,
) -> dict[str, Any]:
    """A PlanInput mapping."""
    return {"provider": provider, "model": model, "segments": segments, **extra}


def require_service(name: str, error: Exception) -> None:
    """Skip locally when a service is down, but fail in CI where it must run."""
    import os

    if os.environ.get("CI"):
        raise RuntimeError(f"{name} is required in CI but unreachable: {error}") from error
    pytest.skip(f"{name} unreachable: {error}")

"""The service's own JSON envelopes, typed once: the handlers build them, the OpenAPI
document is generated from them (the engine's and the ledger's values have their own
dataclasses in ``racs.core.model`` and ``racs.ledger.model``)."""

from __future__ import annotations

from typing import Literal, NotRequired

# typing_extensions' TypedDict (a pydantic dependency): pydantic reads the typing one only
# from Python 3.12 on.
from typing_extensions import TypedDict


class Health(TypedDict):
    """``GET /healthz``."""

    ok: Literal[True]
    version: str
    plansCreated: int
    ledger: bool
    uptimeSeconds: float
    stateSaveFailures: NotRequired[int]
    """Failed periodic state saves since start (only with ``--state``)."""


class Ok(TypedDict):
    """``POST /usage``."""

    ok: Literal[True]


class Refreshed(TypedDict):
    """``POST /refreshed``: ``refreshed`` is False when no keep-warm entry matched."""

    ok: Literal[True]
    refreshed: bool


class Invalidated(TypedDict):
    """``POST /invalidate``: the number of distinct prefixes cleared."""

    invalidated: int


class InvalidateFilter(TypedDict, total=False):
    """``POST /invalidate`` body; an empty body or ``{}`` clears every prefix."""

    prefixKey: str | None
    provider: str | None


class RefreshedBody(TypedDict):
    """``POST /refreshed`` body: the prefix touched, and when (ms, default now)."""

    prefixKey: str
    now: NotRequired[float | None]


class StatsSample(TypedDict):
    """One point of ``GET /stats/history``; sums that overflowed are null."""

    t: int
    calls: int
    hitRatio: float | None
    readTokens: int | None
    writeTokens: int | None
    uncachedTokens: int | None
    savedUsd: float | None
    netUsd: float | None
    plans: int


class History(TypedDict):
    """``GET /stats/history``: samples oldest first."""

    intervalSeconds: float
    samples: list[StatsSample]


class Error(TypedDict):
    """Every refusal's body: @takk/racs's ``{"error": message}`` plus the machine code."""

    error: str
    """What went wrong, for a person."""
    code: str
    """The error code (``ERR_INVALID_INPUT``, ``ERR_UNAUTHORIZED``, ...)."""

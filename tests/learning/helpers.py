"""A learned engine on a fake clock, and the calls of a cadence."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import racs
from racs.core.model import CachePlan
from racs.testing import FakeClock


def seg(id: str, role: str = "system", stability: str = "stable", **extra: Any) -> dict[str, Any]:
    """A hash-only segment."""
    return {"id": id, "role": role, "stability": stability, "contentHash": f"h-{id}", **extra}


# Anthropic list prices of claude-sonnet-4-5 (USD per MTok): read 0.1x, 5m 1.25x, 1h 2x.
SONNET = {
    "inputPerMTok": 3.0,
    "cacheReadPerMTok": 0.3,
    "cacheWrite5mPerMTok": 3.75,
    "cacheWrite1hPerMTok": 6.0,
}
GEMINI = {"inputPerMTok": 1.25, "cacheReadPerMTok": 0.125, "storagePerMTokHour": 4.5}
GPT = {"inputPerMTok": 2.0, "cacheReadPerMTok": 0.5}


def learned_engine(clock: FakeClock, **options: Any) -> racs.Racs:
    """An engine with learned reuse and the three price cards above."""
    pricing = {"claude-sonnet-4-5": SONNET, "gemini-2.5-pro": GEMINI, "gpt-4.1": GPT}
    return racs.create_racs(clock=clock, reuse_policy="learned", pricing=pricing, **options)


def prompt(
    provider: str = "anthropic",
    model: str = "claude-sonnet-4-5",
    tokens: float = 10_000,
    history: float = 0,
    **extra: Any,
) -> dict[str, Any]:
    """A fixed system prompt (plus growing history when ``history``) and a volatile turn."""
    segments = [seg("sys", tokens=tokens)]
    if history:
        segments.append(seg("hist", "history", "semi", tokens=history, contentHash=f"h{history}"))
    segments.append(seg("turn", "dynamic", "volatile", tokens=10))
    return {"provider": provider, "model": model, "segments": segments, **extra}


def run(engine: racs.Racs, clock: FakeClock, gaps_s: Iterable[float], **kw: Any) -> list[CachePlan]:
    """Plan once, then once after each gap; returns every plan."""
    plans = [engine.plan(prompt(**kw))]
    for gap in gaps_s:
        clock.advance(gap)
        plans.append(engine.plan(prompt(**kw)))
    return plans


def tiers(plans: Iterable[CachePlan]) -> list[str | None]:
    """Each plan's breakpoint tier (``None`` when it writes nothing)."""
    out: list[str | None] = []
    for plan in plans:
        marks = [d.to_dict()["ttl"] for d in plan.directives if d.kind == "breakpoint"]
        out.append(marks[0] if marks else None)
    return out


def growing(
    engine: racs.Racs, clock: FakeClock, gaps_s: Iterable[float], step: int = 200
) -> list[CachePlan]:
    """Plan a conversation whose history grows ``step`` tokens a call, once per gap."""
    plans = [engine.plan(prompt(history=step))]
    for i, gap in enumerate(gaps_s):
        clock.advance(gap)
        plans.append(engine.plan(prompt(history=step * (i + 2))))
    return plans

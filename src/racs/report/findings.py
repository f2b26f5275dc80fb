"""Findings: a request that paid for more than its new suffix, its cause, price and fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from racs.core.accounting import Rates, Tokens, cost_of
from racs.core.text import duration
from racs.core.text import tokens as fmt_tokens
from racs.core.text import usd as money
from racs.traffic.model import Request

COLD_START: Final = "cold_start"
MODEL_SWITCH: Final = "model_switch"
EXPIRY: Final = "expiry"
COMPACTION: Final = "compaction"
DRIFT: Final = "drift"
BELOW_MINIMUM: Final = "below_minimum"
UNEXPLAINED: Final = "unexplained_miss"
TIER_CHOICE: Final = "tier_choice"
MIXED_TIER: Final = "mixed_tier"
UNCACHED: Final = "uncached"

CAUSES: Final[dict[str, str]] = {
    EXPIRY: "the gap since the entry's last use outlived its TTL",
    MODEL_SWITCH: "the stream changed model; caches are per model",
    COMPACTION: "the prompt shrank (compaction or rewrite) and was written again",
    DRIFT: "content changed inside the cached prefix",
    BELOW_MINIMUM: "the prompt is under the model's minimum cacheable size",
    COLD_START: "the stream's first request wrote its prefix",
    UNEXPLAINED: "the cache missed within its TTL without a visible reason",
    TIER_CHOICE: "writes at the 1h tier where the 5m tier would have stayed warm",
    MIXED_TIER: "one tier for every write where 1h before the longest pauses and 5m elsewhere "
    "costs less",
    UNCACHED: "repeated prompts that never read the cache (totals: beyond other causes)",
}
"""Each cause and what it means (the JSON schema's ``cause`` values)."""

ACTIONS: Final[dict[str, str]] = {
    EXPIRY: "write at the 1h tier for streams that pause between 5 minutes and an hour",
    MODEL_SWITCH: "keep one model per conversation; send side tasks to a subagent",
    COMPACTION: "compact earlier and less often, keeping the system prompt and tools first",
    DRIFT: "move the changing block after the last cache breakpoint",
    BELOW_MINIMUM: "drop the cache markers on prompts this small: they cannot cache",
    COLD_START: "start streams from one shared prefix (same system prompt and tools first)",
    UNEXPLAINED: "diff the prompt prefix between these two requests (tools, system, dates)",
    TIER_CHOICE: "write at the 5m tier: the stream's gaps stay under five minutes",
    MIXED_TIER: "write at the 5m tier, and at 1h only on the request before a long pause",
    UNCACHED: "put the stable part first (system prompt, tools) and, where the provider "
    "asks for it, mark it for caching",
}
"""One concrete thing to do per cause (each finding refines it with its numbers)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One priced finding: which request (or stream), why, how much, what to do."""

    cause: str
    usd: float | None
    """What it paid minus what reading would have cost (``None``: model unpriced)."""
    excess_tokens: int
    """Tokens paid at write (or fresh) prices that were already in the prefix."""
    request: Request
    detail: str
    action: str
    quote: str | None = None
    """Hindsight from replay: what the best choice would have saved (top findings only)."""
    saved_usd: float | None = None
    """What a different choice would have saved, from replay's hindsight (top findings
    only; ``None``: not replayed). A stream's findings never save more together than the
    stream's gap to its optimum."""
    unavoidable: bool = False
    """Replay's hindsight finds no choice that would have saved anything here."""

    def to_dict(self) -> dict[str, Any]:
        """Wire form (see the report schema in the README)."""
        r = self.request
        return {
            "cause": self.cause,
            "usd": self.usd,
            "excessTokens": self.excess_tokens,
            "timestampMs": r.timestamp_ms,
            "session": r.session,
            "stream": r.stream,
            "model": r.model,
            "project": r.project,
            "requestId": r.request_id,
            "source": r.source,
            "detail": self.detail,
            "action": self.action,
            "quote": self.quote,
            "savedUsd": self.saved_usd,
            "unavoidable": self.unavoidable,
        }


def excess_usd(tokens: Tokens, excess: float, rates: Rates | None) -> float | None:
    """Price ``excess`` tokens at what this request paid for them minus the read price.

    The excess is taken from the writes first (tiers in proportion to what was written),
    then from the fresh input; the price is the difference of two ``cost_of``.
    """
    if rates is None:
        return None
    written = min(excess, tokens.writes)
    share = written / tokens.writes if written > 0 else 0.0
    fresh = min(max(0.0, excess - written), tokens.fresh)
    paid = Tokens(
        fresh=fresh,
        write_5m=tokens.write_5m * share,
        write_30m=tokens.write_30m * share,
        write_1h=tokens.write_1h * share,
    )
    instead = Tokens(read=written + fresh)
    return cost_of(paid, rates).total - cost_of(instead, rates).total


def action_of(cause: str, r: Request, usd: float | None, rates: Rates | None, **facts: Any) -> str:
    """The cause's action, made concrete with this finding's numbers where they help."""
    gap = facts.get("gap_s")
    if cause == EXPIRY:
        longer = facts.get("longer")
        if isinstance(longer, str) and longer != facts.get("ttl"):
            if rates is None or usd is None:
                return f"write this stream at the {longer} tier"
            cached = float(facts.get("cached") or 0)
            ttl = str(facts.get("ttl"))
            extra = (
                cost_of(Tokens(**{f"write_{longer}": cached}), rates).total
                - cost_of(Tokens(**{f"write_{ttl}": cached}), rates).total
            )
            return (
                f"write this stream at the {longer} tier: on its {fmt_tokens(cached)}-token "
                f"prefix that costs {money(extra)} more per write, against {money(usd)} lost here"
            )
        if facts.get("extended") and not (isinstance(gap, int | float) and gap > 86_400):
            return (
                "ask for 24h retention (prompt_cache_retention='24h'): it costs nothing "
                "extra and outlives pauses like this one"
            )
        if facts.get("ttl") in ("5m", "30m", "1h"):
            return "no tier outlives this pause: resume within the TTL or accept the re-write"
        return "resume within the provider's retention or accept the re-write"
    if cause == MODEL_SWITCH:
        return (
            f"keep {facts['before']} for this conversation, or send the {facts['after']} "
            "call from a subagent with a cache of its own"
        )
    if cause == UNEXPLAINED:
        return (
            "diff this prompt against the stream's previous one: a change in the tools, "
            "the system prompt or early messages (dates, ids) rewrites the prefix"
        )
    return ACTIONS[cause]


def detail_of(cause: str, *, excess: float, gap_s: float | None, **facts: Any) -> str:
    """The numbers behind one finding, in a sentence."""
    n = fmt_tokens(excess)
    gap = duration(gap_s) if gap_s is not None else "-"
    if cause == EXPIRY:
        return f"{n} tokens written again after a {gap} gap ({facts['retention']})"
    if cause == MODEL_SWITCH:
        return f"{n} tokens written again on switching {facts['before']} -> {facts['after']}"
    if cause == COMPACTION:
        return (
            f"prompt shrank from {fmt_tokens(facts['before'])} to "
            f"{fmt_tokens(facts['after'])} tokens; {n} written again"
        )
    if cause == DRIFT:
        return f"block {facts['block']} changed inside the cached prefix; {n} written again"
    if cause == BELOW_MINIMUM:
        return f"{n} tokens under the minimum of {fmt_tokens(facts['minimum'])}"
    if cause == COLD_START:
        return f"{n} tokens written by the stream's first request"
    if cause == UNEXPLAINED:
        return (
            f"read dropped to {fmt_tokens(facts['read'])} of {fmt_tokens(facts['cached'])} "
            f"cached after {gap} ({facts['ttl']}); {n} written again"
        )
    return f"{n} tokens"

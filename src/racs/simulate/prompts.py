"""The two prompts of ``racs simulate``: the same content, structured and naive.

The structured prompt puts tools, system and documents first (stable), history next
(semi) and the live turn last (volatile). The naive one stamps the time into the system
prompt and puts the live turn before the tools: the two classic mistakes. All text is
generated from the seed (vocabulary words, no digits or ids), so identical options give
identical prompts.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

SIM_EPOCH_MS: Final = 1_767_225_600_000
"""2026-01-01T00:00:00Z: where the simulated clock starts."""

VARIANTS: Final = ("structured", "naive")

_WORDS: Final = (
    "agent",
    "account",
    "answer",
    "audit",
    "balance",
    "billing",
    "budget",
    "cache",
    "careful",
    "check",
    "client",
    "concise",
    "context",
    "contract",
    "customer",
    "detail",
    "document",
    "error",
    "escalate",
    "evidence",
    "explain",
    "invoice",
    "ledger",
    "limit",
    "local",
    "manual",
    "order",
    "payment",
    "policy",
    "prefer",
    "priority",
    "quote",
    "record",
    "refund",
    "reply",
    "request",
    "review",
    "route",
    "safety",
    "schedule",
    "search",
    "source",
    "state",
    "status",
    "summary",
    "support",
    "ticket",
    "tool",
    "update",
    "verify",
    "warranty",
    "window",
)


def _prose(rng: random.Random, words: int) -> str:
    """Deterministic filler text: sentences of vocabulary words, no digits or ids."""
    out: list[str] = []
    sentence: list[str] = []
    for _ in range(words):
        sentence.append(rng.choice(_WORDS))
        if len(sentence) >= rng.randint(8, 16):
            out.append(" ".join(sentence).capitalize() + ".")
            sentence = []
    if sentence:
        out.append(" ".join(sentence).capitalize() + ".")
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class _Content:
    tools: str
    system: str
    documents: str
    history: str


@functools.lru_cache(maxsize=8)
def _content(seed: int) -> _Content:
    rng = random.Random(seed)
    tools = "\n".join(
        f'{{"name": "{name}", "description": "{_prose(rng, 180)}"}}'
        for name in ("lookup_order", "issue_refund", "search_policy", "escalate_ticket")
    )
    return _Content(
        tools=tools,
        system="You are the support agent of a store. " + _prose(rng, 960),
        documents=_prose(rng, 2800),
        history=_prose(rng, 900),
    )


def _turn(seed: int, call: int) -> str:
    rng = random.Random(f"{seed}:turn:{call}")
    return f"Customer message {call + 1}: " + _prose(rng, rng.randint(30, 60))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prompt_segments(variant: str, seed: int, call: int, now_ms: int) -> list[dict[str, Any]]:
    """The segments (wire form) of one call of the structured or the naive prompt."""
    c = _content(seed)
    turn = {"id": "turn", "role": "dynamic", "stability": "volatile", "content": _turn(seed, call)}
    tools = {"id": "tools", "role": "tools", "stability": "stable", "content": c.tools}
    docs = {"id": "documents", "role": "documents", "stability": "stable", "content": c.documents}
    history = {"id": "history", "role": "history", "stability": "semi", "content": c.history}
    if variant == "structured":
        system = {"id": "system", "role": "system", "stability": "stable", "content": c.system}
        return [tools, system, docs, history, turn]
    # The two classic mistakes: a clock in the "stable" system prompt, and the live
    # turn placed before the tools.
    stamped = f"Current time: {_iso(now_ms)}. " + c.system
    system = {"id": "system", "role": "system", "stability": "stable", "content": stamped}
    return [system, turn, tools, docs, history]

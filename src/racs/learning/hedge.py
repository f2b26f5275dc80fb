"""The hedge: what the learned policy may risk against the 5m-only reference, per stream.

Pauses come in bursts at task boundaries, not as independent draws, so a stream that paused
once may never pause again, and every stream ends (an endless pause) after its last call.
Paying for protection on the strength of the learned gaps alone can therefore lose to
simply writing 5m. The hedge keeps, per stream, an account of the policy against a
5m-only client on the same calls (in USD, or input-price units when unpriced):

- ``floor``: a lower bound of what any strategy pays for the calls so far (each prefix token
  read at least once per call, each token the prompt grew by sent once at the input price);
- ``ahead``: what the policy has saved against 5m-only (a prefix read after a gap that
  outlived the 5m tier, which 5m-only would have rewritten) minus what its protection cost
  (keep-warm touches sent, the 1h premium over 5m on what it wrote);
- ``since_long``/``long_touches``: how many calls ago the last gap outlived the 5m tier,
  and how many touches would have bridged it.

An option is admissible when what it can lose against writing 5m at worst fits
(``allowance``): a longer tier's write premium only out of ``ahead`` (protection that has
paid) or, on a declared interval beyond 5m, one rewrite; a keep-warm budget (every touch
wasted, as at a stream's end) out of ``ahead`` plus ``EPSILON`` of the floor, or, for the
``RECENT_CALLS`` calls after a long gap, the touches that bridge that gap again; no write
out of the same, or one rewrite after a long gap. So the policy is 5m-only until
protection has paid or a pause was just seen, and what it loses to 5m-only over a stream
is at most ``EPSILON`` of the floor plus, per long gap, one bridge and one rewrite (the
README's worst case, tested on random streams).

The account is the policy's own reading of the calls (a prefix that grows, the reference
tier's nominal TTL); replay checks it against the cache model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from racs.core.tiers import seconds_of
from racs.learning.costs import KEEPWARM_TOUCHES, SURVIVAL, Prices

EPSILON: Final = 0.01
"""Share of the optimum's lower bound a stream may risk on keep-warm touches it has not earned."""
RECENT_CALLS: Final = 30
"""Calls after a gap that outlived the 5m tier during which bridging such a gap is allowed."""


class Limits(NamedTuple):
    """What one decision may lose against the reference tier alone, at worst."""

    premium: float
    """On the write premium of a longer tier."""
    touches: float
    """On that premium plus every keep-warm touch of the budget."""
    none: float
    """On writing nothing (the new suffix unread at the next use)."""


class Hedge:
    """One stream's account against 5m-only (see the module docstring)."""

    _FIELDS: Final = (
        "floor",
        "ahead",
        "since_long",
        "long_touches",
        "survival",
        "tier",
        "k",
        "ttl_s",
        "prefix",
        "entry",
    )

    __slots__ = (
        "ahead",
        "entry",
        "floor",
        "k",
        "long_touches",
        "prefix",
        "since_long",
        "survival",
        "tier",
        "ttl_s",
    )

    def __init__(self) -> None:
        self.floor = 0.0
        self.ahead = 0.0
        self.since_long = -1
        """Calls since the last gap that outlived the 5m tier (-1: none seen)."""
        self.long_touches = 0
        self.tier: str | None = None
        """The previous call's decision (``None`` before the first, or for no write)."""
        self.k = 0
        """The previous call's keep-warm budget."""
        self.ttl_s = 0.0
        """The previous decision's TTL (seconds)."""
        self.prefix = 0.0
        """The previous call's prefix tokens."""
        self.entry: str | None = None
        """The tier of the stream's newest cache entry (the last decision that wrote)."""
        self.survival = 1.0
        """Share of their TTL this stream's entries live: ``SURVIVAL`` once one was found
        dead in the last fifth of its TTL without keep-warm (early eviction)."""

    def observe(
        self,
        prices: Prices,
        gap_s: float | None,
        prefix: float,
        read: float,
        ref: str,
        spacing: float,
    ) -> None:
        """Account for the call about to be decided: the gap that led to it and what it
        reads from the cache (``read`` tokens of its ``prefix``). ``ref``: the reference
        (shortest) tier; ``spacing``: keep-warm touches fall every ``spacing`` TTLs."""
        # Each prefix token is read at least; tokens new to the prompt are sent once at input.
        grown = prefix - self.prefix if prefix > self.prefix else 0.0
        self.floor += prefix * prices.read + grown * (prices.input - prices.read)
        if gap_s is None:
            return
        ref_write = prices.write(ref)
        lived = self.ttl_s * (1 + spacing * self.k)
        if (
            read == 0
            and self.prefix
            and self.tier is not None
            and SURVIVAL * lived < gap_s <= lived
        ):
            # The previous entry (kept warm or not) died in the last fifth of its lifetime:
            # entries here live less. A routing miss seconds after a write says nothing.
            self.survival = SURVIVAL
        short_ttl_s = seconds_of(ref) * self.survival
        if self.k and gap_s > self.ttl_s * self.survival:
            every = spacing * self.ttl_s * self.survival
            sent = self.k if math.isinf(gap_s) else min(self.k, math.ceil(gap_s / every) - 1)
            self.ahead -= max(0, sent) * self.prefix * prices.read
        if gap_s > short_ttl_s:
            if read > 0:
                # The shortest tier alone would have written what this call reads.
                self.ahead += read * (ref_write - prices.read)
            self.since_long = 0
            needed = math.ceil(gap_s / (SURVIVAL * spacing * short_ttl_s)) - 1
            # The smallest keep-warm budget the policy weighs that bridges the gap.
            self.long_touches = next(
                (k for k in KEEPWARM_TOUCHES if k >= needed), KEEPWARM_TOUCHES[-1]
            )
        elif self.since_long >= 0:
            self.since_long += 1
        if self.tier is None and read < self.prefix and gap_s <= short_ttl_s:
            # No write last time: the shortest tier would have read what this call cannot.
            self.ahead -= (min(self.prefix, prefix) - read) * (ref_write - prices.read)

    def allowance(
        self, prices: Prices, ref: str, prefix: float, declared_s: float | None = None
    ) -> Limits:
        """What the next decision may risk against the reference tier (``ref``) alone."""
        ahead = self.ahead
        earned = ahead if ahead > 0 else 0.0
        read = prices.read
        rewrite = prefix * (prices.write(ref) - read)
        # A declared reuse beyond the reference tier is the host's word for one such gap.
        declared = declared_s is not None and declared_s > seconds_of(ref) * self.survival
        trusted = rewrite if declared else 0.0
        # Losses so far come out of the speculative share, not out of bridging a gap just
        # seen (one unlucky miss must not stop a cron from learning).
        touches = max(ahead + EPSILON * self.floor, earned + trusted)
        none = touches
        if 0 <= self.since_long < RECENT_CALLS:
            touches = max(touches, earned + self.long_touches * prefix * read)
            none = max(none, earned + rewrite)
        return Limits(earned + trusted, max(touches, 0.0), max(none, 0.0))

    def decided(
        self,
        prices: Prices,
        ref: str,
        tier: str | None,
        touches: int,
        prefix: float,
        written: float,
    ) -> None:
        """Account for the decision: its write premium over the reference tier (or what
        no write saved)."""
        ref_write = prices.write(ref)
        if tier is None:
            self.ahead += written * (ref_write - prices.input)
            self.ttl_s = 0.0
        else:
            self.ahead -= written * (prices.write(tier) - ref_write)
            self.ttl_s = float(seconds_of(tier))
        self.tier = tier
        self.k = touches
        self.prefix = prefix
        if written > 0:
            self.entry = tier

    def to_list(self) -> list[Any]:
        """JSON-ready state (a lineage's ``a`` entry)."""
        return [getattr(self, name) for name in self._FIELDS]

    @classmethod
    def from_list(cls, raw: Sequence[Any]) -> Hedge:
        """Restore a state written by ``to_list`` (raises ValueError on a bad one)."""
        if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) != len(cls._FIELDS):
            raise ValueError("a must list the hedge's fields")
        h = cls()
        (floor, ahead, since, touches, survival, tier, k, ttl, prefix, entry) = raw
        h.floor, h.ahead, h.survival = float(floor), float(ahead), float(survival)
        h.ttl_s, h.prefix = float(ttl), float(prefix)
        h.since_long, h.long_touches, h.k = int(since), int(touches), int(k)
        for name in (tier, entry):
            if name is not None and not isinstance(name, str):
                raise ValueError("a: a tier must be a name or null")
        h.tier, h.entry = tier, entry
        values = (h.floor, h.ahead, h.survival, h.ttl_s, h.prefix)
        if not all(math.isfinite(v) for v in values) or not 0 < h.survival <= 1:
            raise ValueError("a: not finite")
        return h

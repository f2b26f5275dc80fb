"""Break-even of a cache write: the one place the planner and the learned policy compute it.

A write of ``covered`` tokens at multiplier ``w`` costs a premium of ``covered * (w - 1)``
input-token equivalents over sending them uncached; each later read saves
``covered * (1 - r)``. Multipliers come from the provider profile and the model's price
card (``PriceBook.card``): engine.md's precedence, which ``@takk/racs`` follows, takes the
profile's multiplier first and the card's ratio only where the profile has none
(``PROFILE_FIRST``); ``CARD_FIRST`` asks the card first.
"""

from __future__ import annotations

import math
from typing import Final, Literal, NamedTuple, TypeAlias

from racs.core.model import Pricing, ProviderProfile
from racs.core.tiers import TIER

Precedence: TypeAlias = Literal["profile", "card"]
PROFILE_FIRST: Final[Precedence] = "profile"
CARD_FIRST: Final[Precedence] = "card"


def ceil_or_inf(x: float) -> float:
    """``ceil(x)`` for finite x, infinity otherwise (never raises)."""
    return math.ceil(x) if math.isfinite(x) else math.inf


def _card_ratio(card: Pricing | None, price: float | None) -> float | None:
    if card is None or price is None or card.input_per_mtok <= 0:
        return None
    return price / card.input_per_mtok


def read_multiplier(
    profile: ProviderProfile, card: Pricing | None, precedence: Precedence = PROFILE_FIRST
) -> float | None:
    """The read price as a multiple of the input price (``None``: unknown)."""
    from_card = _card_ratio(card, card.cache_read_per_mtok if card is not None else None)
    if precedence == CARD_FIRST and from_card is not None:
        return from_card
    return profile.read_multiplier if profile.read_multiplier is not None else from_card


def write_multiplier(
    profile: ProviderProfile,
    card: Pricing | None,
    ttl: str,
    precedence: Precedence = PROFILE_FIRST,
) -> float | None:
    """The write price of tier ``ttl`` as a multiple of the input price (``None``: unknown)."""
    tier = TIER.get(ttl)
    price = getattr(card, tier.price_field) if card is not None and tier is not None else None
    from_card = _card_ratio(card, price)
    if precedence == CARD_FIRST and from_card is not None:
        return from_card
    w = profile.write_multiplier(ttl)
    return w if w is not None else from_card


class WriteEconomics(NamedTuple):
    """What a write of ``covered`` tokens costs and each read of them saves (tokens)."""

    premium: float
    """Input-token equivalents the write costs above sending the tokens uncached."""
    savings: float
    """Input-token equivalents each read saves."""
    min_reuses: float
    """Reads needed to pay the premium back (infinite when reads save nothing)."""


def write_economics(covered: float, w: float, r: float) -> WriteEconomics:
    """Premium, savings per read and reads to profit of writing ``covered`` tokens."""
    premium = max(0.0, covered * (w - 1))
    savings = covered * (1 - r)
    min_reuses = ceil_or_inf(premium / savings) if savings > 0 else math.inf
    return WriteEconomics(premium, savings, min_reuses)

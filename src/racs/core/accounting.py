"""Token classes and dollars: the one place racs turns usage into money.

Every surface (engine stats, ledger stats, adapters, the CLI, the simulators, the traffic
report and replay) counts tokens in the same five input classes plus output and prices
them here.

The rule for a missing cache price: a price written on the user's card always wins; a
cache price the card leaves out is the input price times the model's multiplier for that
class (its provider profile, refined by the model catalog and the user's overrides); with
no multiplier known either, the input price (no discount, no premium). A write tier priced
below the input price costs no premium (each tier is clamped at zero), never a positive
premium taken from the profile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, TypeVar

from racs.core.errors import invalid
from racs.core.model import CacheUsage, Pricing, ProviderProfile, camel
from racs.core.tiers import TIERS

MTOK: Final = 1e6


N = TypeVar("N", int, float)


def uncached(input_tokens: N, read: N, *writes: N) -> N:
    """Input tokens neither read from nor written to a cache (all-in input minus the rest).

    Never negative; whole numbers stay whole (the ledger stores them as integers).
    """
    rest = input_tokens - read
    for w in writes:
        rest -= w
    return rest if rest > 0 else rest * 0


def hit_ratio(read: float, writes: float, fresh: float) -> float:
    """Normalized hit ratio: read / (read + writes + fresh), 0 when empty."""
    denominator = read + writes + fresh
    return read / denominator if denominator > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Tokens:
    """One request's (or a sum of requests') tokens by class."""

    fresh: float = 0
    """Input tokens neither read from nor written to a cache."""
    read: float = 0
    write_5m: float = 0
    write_30m: float = 0
    write_1h: float = 0
    output: float = 0

    @property
    def writes(self) -> float:
        """Tokens written, all tiers."""
        return self.write_5m + self.write_30m + self.write_1h

    @property
    def input(self) -> float:
        """All-in input tokens: fresh + read + writes."""
        return self.fresh + self.read + self.writes

    def write(self, tier: str) -> float:
        """Tokens written in ``tier``."""
        return float(getattr(self, f"write_{tier}"))

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            self.fresh + other.fresh,
            self.read + other.read,
            self.write_5m + other.write_5m,
            self.write_30m + other.write_30m,
            self.write_1h + other.write_1h,
            self.output + other.output,
        )

    @classmethod
    def of_usage(cls, u: CacheUsage, output: float = 0) -> Tokens:
        """The classes of a ``CacheUsage`` (whose ``input_tokens`` is all-in)."""
        return cls.all_in(
            u.input_tokens,
            u.cache_read_tokens,
            {
                "5m": u.cache_write_tokens_5m,
                "30m": u.cache_write_tokens_30m,
                "1h": u.cache_write_tokens_1h,
            },
            output,
        )

    @classmethod
    def all_in(
        cls,
        input_tokens: float,
        read: float,
        writes: Mapping[str, float] | None = None,
        output: float = 0,
    ) -> Tokens:
        """Classes from an all-in input count, the reads and the writes per tier."""
        w = writes or {}
        # Not float(): whole counts stay ints, written as JSON integers.
        w5, w30, w1h = (w.get(t, 0) or 0 for t in ("5m", "30m", "1h"))
        return cls(uncached(input_tokens, read, w5, w30, w1h), read, w5, w30, w1h, output)


@dataclass(frozen=True, slots=True)
class Rates:
    """A model's resolved prices, USD per million tokens, every input class filled in."""

    input: float
    read: float
    write_5m: float
    write_30m: float
    write_1h: float
    output: float | None = None
    storage_per_mtok_hour: float | None = None
    source: str = "pricing"
    """Where the prices came from: ``pricing`` (the user's card) or ``genai-prices``."""

    def write(self, tier: str) -> float:
        """The write price of ``tier``."""
        return float(getattr(self, f"write_{tier}"))


def rates_of(pricing: Pricing, profile: ProviderProfile | None, source: str = "pricing") -> Rates:
    """Resolve a price card under the missing-price rule (see the module docstring)."""
    base = pricing.input_per_mtok

    def derived(price: float | None, multiplier: float | None) -> float:
        if price is not None:
            return price
        return base * multiplier if multiplier is not None else base

    read_mult = profile.read_multiplier if profile is not None else None
    # A provider that bills no writes (OpenAI automatic caching) charges the input price.
    billed = profile is not None and profile.bills_writes is not False
    writes = {
        t.name: derived(
            getattr(pricing, t.price_field),
            getattr(profile, t.profile_field) if billed else None,
        )
        for t in TIERS
    }
    storage = pricing.storage_per_mtok_hour
    if storage is None and profile is not None:
        storage = profile.storage_per_mtok_hour
    return Rates(
        input=base,
        read=derived(pricing.cache_read_per_mtok, read_mult),
        write_5m=writes["5m"],
        write_30m=writes["30m"],
        write_1h=writes["1h"],
        output=pricing.output_per_mtok,
        storage_per_mtok_hour=storage,
        source=source,
    )


@dataclass(frozen=True, slots=True)
class Cost:
    """Dollars by token class for some tokens at some rates."""

    fresh: float = 0.0
    read: float = 0.0
    write_5m: float = 0.0
    write_30m: float = 0.0
    write_1h: float = 0.0
    output: float = 0.0
    storage: float = 0.0
    saved: float = 0.0
    """What the cache reads saved against paying the input price for them."""
    write_premium: float = 0.0
    """What writes cost above the input price, each tier clamped at zero."""

    @property
    def input(self) -> float:
        """Dollars of all input classes."""
        return self.fresh + self.read + self.write_5m + self.write_30m + self.write_1h

    @property
    def total(self) -> float:
        """Everything billed: input classes, output and storage."""
        return self.input + self.output + self.storage

    @property
    def net(self) -> float:
        """Net saving of caching: reads saved minus write premium minus storage."""
        return self.saved - self.write_premium - self.storage

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Cost)))

    def to_dict(self) -> dict[str, float]:
        """camelCase USD fields, plus ``total`` and ``net``."""
        out = {f"{camel(f.name)}Usd": getattr(self, f.name) for f in fields(Cost)}
        out["totalUsd"] = self.total
        out["netUsd"] = self.net
        return out


def cost_of(tokens: Tokens, rates: Rates, storage_usd: float = 0.0) -> Cost:
    """Price ``tokens`` at ``rates``; ``storage_usd`` comes from :func:`storage_usd`."""
    per = rates.input / MTOK
    writes = {t.name: tokens.write(t.name) * rates.write(t.name) / MTOK for t in TIERS}
    premium = sum(
        max(0.0, tokens.write(t.name) * (rates.write(t.name) - rates.input) / MTOK) for t in TIERS
    )
    return Cost(
        fresh=tokens.fresh * per,
        read=tokens.read * rates.read / MTOK,
        write_5m=writes["5m"],
        write_30m=writes["30m"],
        write_1h=writes["1h"],
        output=tokens.output * (rates.output or 0.0) / MTOK,
        storage=storage_usd,
        saved=tokens.read * (rates.input - rates.read) / MTOK,
        write_premium=premium,
    )


def storage_usd(tokens: float, seconds: float, per_mtok_hour: float | None) -> float:
    """Storage of ``tokens`` held ``seconds`` at a per-MTok-hour price (0 without one)."""
    if not per_mtok_hour:
        return 0.0
    return tokens / MTOK * (seconds / 3600) * per_mtok_hour


# --- price cards ---------------------------------------------------------------------

_PRICING_FIELDS: Final = tuple(f.name for f in fields(Pricing))


def _price(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"{name} must be a number of USD per million tokens")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise invalid(f"{name} must be a finite, non-negative number")
    return number


def parse_pricing(raw: Any, name: str = "pricing") -> Pricing:
    """Validate one price card (a ``Pricing`` or a mapping with either key spelling)."""
    if isinstance(raw, Pricing):
        return raw
    if not isinstance(raw, Mapping):
        raise invalid(f"{name} must be an object of USD-per-million-token prices")
    values: dict[str, float | None] = {}
    for fname in _PRICING_FIELDS:
        key = camel(fname)
        value = raw.get(fname, raw.get(key))
        values[fname] = _price(value, f"{name}.{key}")
    if values["input_per_mtok"] is None:
        raise invalid(f"{name}.inputPerMTok is required")
    return Pricing(**values)  # type: ignore[arg-type]


def parse_pricing_table(raw: Any, name: str = "pricing") -> dict[str, Pricing]:
    """Validate a pricing table: model id -> price card (``None`` is an empty table)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise invalid(f"{name} must map model ids to price cards")
    return {str(m): parse_pricing(card, f"{name}[{str(m)!r}]") for m, card in raw.items()}

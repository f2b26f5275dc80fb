"""Which prices apply to a request: the user's card, else the bundled price database.

``PriceBook`` answers ``rates(provider, model, timestamp_ms=, input_tokens=)``. A card in
the user's pricing table always wins. Without one, and with the ``prices`` extra installed,
the pinned ``genai-prices`` database supplies the price in force on the request's date
(its dated prices) at the request's size (long-context tiers apply to every token of a
request above the threshold). racs never asks it to update itself over the network. A
model neither knows stays token-only and is listed by ``unpriced()``.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from racs.core.accounting import Rates, parse_pricing_table, rates_of
from racs.core.catalog import default_profile_of, normalize_model
from racs.core.facts import PROVIDER
from racs.core.model import Pricing, ProviderProfile

ProfileOf = Callable[[str, str], ProviderProfile | None]


# A price lookup is cached per minute: dated prices change at day boundaries and
# time-of-day prices at minute boundaries.
_BUCKET_MS: Final = 60_000


def database_available() -> bool:
    """True when the ``prices`` extra (``genai-prices``) is installed."""
    try:
        import genai_prices  # noqa: F401
    except ImportError:
        return False
    return True


def _tiered(price: Any, input_tokens: float) -> float | None:
    """A database price at a request's size (tiers apply above their start)."""
    if price is None:
        return None
    if isinstance(price, Decimal | int | float):
        return float(price)
    chosen = price.base
    for tier in reversed(price.tiers):
        if input_tokens > tier.start:
            chosen = tier.price
            break
    return float(chosen)


_PRICE_FIELDS: Final = (
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "output_mtok",
)


def _tier_starts(prices: Any) -> tuple[float, ...]:
    """Every long-context threshold of a model's prices, sorted: between two of them every
    price is the same, so a request's band names its prices."""
    starts: set[float] = set()
    for name in _PRICE_FIELDS:
        price = getattr(prices, name, None)
        for tier in getattr(price, "tiers", ()) or ():
            starts.add(float(tier.start))
    return tuple(sorted(starts))


class _Database:
    """The bundled genai-prices snapshot, looked up without any network access."""

    def __init__(self) -> None:
        from genai_prices.data_snapshot import get_snapshot

        self._snapshot = get_snapshot()
        self._models: dict[tuple[str, str], Any] = {}
        self._missing: set[tuple[str, str]] = set()

    def model(self, provider: str, model: str) -> Any | None:
        key = (provider, model)
        if key in self._missing:
            return None
        found = self._models.get(key)
        if found is not None:
            return found
        record = PROVIDER.get(provider)
        db_provider = record.price_db if record is not None else None
        if db_provider is None:
            # Local runtimes and custom providers: the same model name there has no list
            # price (or the user's own), so the database is not asked to guess one.
            self._missing.add(key)
            return None
        for candidate in (db_provider, None):
            try:
                _, info = self._snapshot.find_provider_model(model, None, candidate, None)
            except (LookupError, ValueError):
                continue
            self._models[key] = info
            return info
        self._missing.add(key)
        return None


class PriceBook:
    """Resolves a model's rates for a request; thread-safe, caches its look-ups."""

    def __init__(
        self,
        pricing: Mapping[str, Pricing] | None = None,
        profile_of: ProfileOf | None = None,
        *,
        database: bool = True,
    ) -> None:
        self.pricing: dict[str, Pricing] = dict(pricing or {})
        self._profile_of = profile_of if profile_of is not None else default_profile_of
        # Loading the database takes about 0.1 s: done at the first look-up that needs it,
        # so an engine that only plans, or prices from cards, never pays for it.
        self._use_db = database
        self._db: _Database | None = None
        self._card_rates: dict[tuple[str, str], Rates] = {}
        self._by_name: dict[str, Pricing] | None = None
        self._db_cache: dict[tuple[str, str, int], tuple[Any, tuple[float, ...]]] = {}
        self._db_memo: dict[tuple[str, str, int, int], tuple[Pricing, Rates]] = {}
        self._unpriced: set[str] = set()
        self._lock = threading.Lock()

    def profile(self, provider: str, model: str) -> ProviderProfile | None:
        """The model's effective profile (for the missing-price rule)."""
        return self._profile_of(provider, model)

    def card(
        self,
        provider: str,
        model: str,
        *,
        timestamp_ms: float | None = None,
        input_tokens: float = 0,
    ) -> Pricing | None:
        """The price card of one request as written: the user's card, else the database's
        prices in force then (at the request's size); ``None`` when the model is unpriced.

        Cache prices a card leaves out stay ``None`` here; ``rates`` fills them in.
        """
        card = self._card_of(model)
        if card is not None:
            return card
        found = self._database_card(provider, model, timestamp_ms, input_tokens)
        if found is None:
            with self._lock:
                self._unpriced.add(model)
        return found

    def rates(
        self,
        provider: str,
        model: str,
        *,
        timestamp_ms: float | None = None,
        input_tokens: float = 0,
    ) -> Rates | None:
        """The rates of one request, or ``None`` when the model is unpriced."""
        card = self._card_of(model)
        if card is not None:
            key = (provider, model)
            rates = self._card_rates.get(key)
            if rates is None:
                rates = rates_of(card, self.profile(provider, model))
                with self._lock:
                    self._card_rates[key] = rates
            return rates
        found = self._database_entry(provider, model, timestamp_ms, input_tokens)
        if found is None:
            with self._lock:
                self._unpriced.add(model)
            return None
        return found[1]

    def band(
        self,
        provider: str,
        model: str,
        *,
        timestamp_ms: float | None = None,
        input_tokens: float = 0,
    ) -> tuple[float, float]:
        """``(low, high]``: the input sizes priced as ``input_tokens`` is (long-context
        tiers), at that time; ask after ``rates`` (before, or for a card: every size)."""
        if self._card_of(model) is not None:
            return -math.inf, math.inf
        bucket = -1 if timestamp_ms is None else int(timestamp_ms // _BUCKET_MS)
        looked = self._db_cache.get((provider, model, bucket))
        if looked is None:
            return -math.inf, math.inf
        starts = looked[1]
        i = bisect.bisect_left(starts, input_tokens)
        return (starts[i - 1] if i > 0 else -math.inf), (starts[i] if i < len(starts) else math.inf)

    def _card_of(self, model: str) -> Pricing | None:
        """The user's card for ``model``: its own, else the card of its undated name (a
        card for ``claude-sonnet-4-5`` prices ``claude-sonnet-4-5-20250929``)."""
        card = self.pricing.get(model)
        if card is not None or not self.pricing:
            return card
        if self._by_name is None:
            self._by_name = {}
            for key, value in self.pricing.items():
                self._by_name.setdefault(normalize_model(key), value)
        return self._by_name.get(normalize_model(model))

    def unpriced(self) -> list[str]:
        """Models asked about that neither the card nor the database prices, sorted."""
        with self._lock:
            return sorted(self._unpriced)

    def _database(self) -> _Database | None:
        if self._db is None and self._use_db:
            with self._lock:
                if self._db is None:
                    if database_available():
                        self._db = _Database()
                    else:
                        self._use_db = False
        return self._db

    def _database_card(
        self, provider: str, model: str, timestamp_ms: float | None, input_tokens: float
    ) -> Pricing | None:
        found = self._database_entry(provider, model, timestamp_ms, input_tokens)
        return None if found is None else found[0]

    def _database_entry(
        self, provider: str, model: str, timestamp_ms: float | None, input_tokens: float
    ) -> tuple[Pricing, Rates] | None:
        """The database's card and rates of one request, memoised per minute and per
        long-context band (a report asks for the same few thousands of times)."""
        bucket = -1 if timestamp_ms is None else int(timestamp_ms // _BUCKET_MS)
        looked = self._db_cache.get((provider, model, bucket))
        if looked is not None:
            band = bisect.bisect_left(looked[1], input_tokens)
            memo = self._db_memo.get((provider, model, bucket, band))
            if memo is not None:
                return memo
        card = self._database_prices(provider, model, timestamp_ms, input_tokens)
        if card is None:
            return None
        prices_starts = self._db_cache[(provider, model, bucket)][1]
        band = bisect.bisect_left(prices_starts, input_tokens)
        entry = (card, rates_of(card, self.profile(provider, model), source="genai-prices"))
        with self._lock:
            if len(self._db_memo) > 100_000:
                self._db_memo.clear()
            self._db_memo[(provider, model, bucket, band)] = entry
        return entry

    def _database_prices(
        self, provider: str, model: str, timestamp_ms: float | None, input_tokens: float
    ) -> Pricing | None:
        db = self._database()
        if db is None:
            return None
        info = db.model(provider, model)
        if info is None:
            return None
        bucket = -1 if timestamp_ms is None else int(timestamp_ms // _BUCKET_MS)
        key = (provider, model, bucket)
        prices = self._db_cache.get(key)
        if prices is None:
            when = (
                datetime.now(tz=UTC)
                if bucket < 0
                else datetime.fromtimestamp(bucket * _BUCKET_MS / 1000, tz=UTC)
            )
            try:
                got = info.get_prices(when)
            except (LookupError, ValueError):
                return None
            prices = (got, _tier_starts(got))
            with self._lock:
                if len(self._db_cache) > 100_000:  # bounded: a long report spans many minutes
                    self._db_cache.clear()
                self._db_cache[key] = prices
        prices = prices[0]
        input_price = _tiered(getattr(prices, "input_mtok", None), input_tokens)
        if input_price is None:
            return None
        card = Pricing(
            input_per_mtok=input_price,
            cache_read_per_mtok=_tiered(getattr(prices, "cache_read_mtok", None), input_tokens),
            cache_write_5m_per_mtok=_tiered(
                getattr(prices, "cache_write_mtok", None), input_tokens
            ),
            cache_write_1h_per_mtok=_tiered(
                getattr(prices, "cache_write_1h_mtok", None), input_tokens
            ),
            output_per_mtok=_tiered(getattr(prices, "output_mtok", None), input_tokens),
        )
        if card.cache_write_5m_per_mtok is not None:
            # The database has one short-tier write price; OpenAI's 30-minute explicit
            # breakpoints (GPT-5.6+) are billed at it, as their price pages say.
            card = replace(card, cache_write_30m_per_mtok=card.cache_write_5m_per_mtok)
        return card


def price_book(pricing: PriceBook | Mapping[str, Any] | None) -> PriceBook:
    """A price book from a user pricing table (validated), or the book itself."""
    if isinstance(pricing, PriceBook):
        return pricing
    return PriceBook(parse_pricing_table(pricing))

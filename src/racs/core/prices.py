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
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from racs.core.accounting import Rates, parse_pricing_table, rates_of
from racs.core.catalog import default_profile_of, normalize_model
from racs.core.facts import PROVIDER
from racs.core.model import Pricing, ProviderProfile
from racs.core.pricecache import Fields, PriceCache, database_file, open_cache

ProfileOf = Callable[[str, str], ProviderProfile | None]


# A price lookup is cached per minute: dated prices change at day boundaries and
# time-of-day prices at minute boundaries.
_BUCKET_MS: Final = 60_000


def database_available() -> bool:
    """True when the ``prices`` extra (``genai-prices``) is installed (found, not imported)."""
    return database_file() is not None


def _tiered(price: Any, input_tokens: float) -> float | None:
    """A database price (``[base, [[start, price], ...]]``) at a request's size: a tier
    applies above its start."""
    if price is None:
        return None
    chosen, tiers = price
    for start, tiered in reversed(tiers):
        if input_tokens > start:
            return float(tiered)
    return float(chosen)


_PRICE_FIELDS: Final = (
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "output_mtok",
)


def _tier_starts(fields: Fields) -> tuple[float, ...]:
    """Every long-context threshold of a model's prices, sorted: between two of them every
    price is the same, so a request's band names its prices."""
    starts = {float(start) for price in fields.values() if price for start, _ in price[1]}
    return tuple(sorted(starts))


def _plain(prices: Any) -> Fields:
    """The database's prices of one moment as plain JSON values (what the cache keeps)."""
    fields: Fields = {}
    for name in _PRICE_FIELDS:
        price = getattr(prices, name, None)
        if price is None:
            fields[name] = None
        elif isinstance(price, Decimal | int | float):
            fields[name] = [float(price), []]
        else:
            tiers = [[float(t.start), float(t.price)] for t in price.tiers]
            fields[name] = [float(price.base), tiers]
    return fields


def _span_kind(prices: Any) -> str:
    """How long one answer of the database holds: for ever (``const``), a UTC day
    (dated prices) or a minute (time-of-day prices)."""
    if not isinstance(prices, list):
        return "const"
    kinds = {type(c.constraint).__name__ for c in prices if c.constraint is not None}
    return "day" if kinds <= {"StartDateConstraint"} else "minute"


def _span_start(kind: str, timestamp_ms: float) -> float:
    """The moment the database is asked for a span: its start (a minute's, a day's), so
    the answer does not depend on which request of the span came first."""
    if kind == "day":
        return timestamp_ms // 86_400_000 * 86_400_000
    if kind == "minute":
        return timestamp_ms // _BUCKET_MS * _BUCKET_MS
    return timestamp_ms


def _span(kind: str, timestamp_ms: float) -> str:
    if kind == "const":
        return "*"
    if kind == "day":
        return str(int(timestamp_ms // 86_400_000))
    return str(int(timestamp_ms // _BUCKET_MS))


def _card(fields: Fields, input_tokens: float) -> Pricing | None:
    """The card of one request from the database's prices (None without an input price)."""
    input_price = _tiered(fields.get("input_mtok"), input_tokens)
    if input_price is None:
        return None
    card = Pricing(
        input_per_mtok=input_price,
        cache_read_per_mtok=_tiered(fields.get("cache_read_mtok"), input_tokens),
        cache_write_5m_per_mtok=_tiered(fields.get("cache_write_mtok"), input_tokens),
        cache_write_1h_per_mtok=_tiered(fields.get("cache_write_1h_mtok"), input_tokens),
        output_per_mtok=_tiered(fields.get("output_mtok"), input_tokens),
    )
    if card.cache_write_5m_per_mtok is not None:
        # The database has one short-tier write price; OpenAI's 30-minute explicit
        # breakpoints (GPT-5.6+) are billed at it, as their price pages say.
        card = replace(card, cache_write_30m_per_mtok=card.cache_write_5m_per_mtok)
    return card


_Span = tuple[str, Fields, tuple[float, ...]]
"""A span's id, the database's prices over it and their long-context tier starts."""

_STORE: PriceCache | None = None
_STORE_LOCK = threading.Lock()


def _store() -> PriceCache:
    """The process's one disk cache of database answers (shared by every PriceBook)."""
    global _STORE
    if _STORE is None:
        with _STORE_LOCK:
            if _STORE is None:
                _STORE = open_cache()
    return _STORE


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
        self._db_cache: dict[
            tuple[str, str, str], tuple[str, Fields, tuple[float, ...]] | None
        ] = {}
        self._kinds: dict[tuple[str, str], str | None] = {}
        self._fixed: dict[
            tuple[str, str], tuple[tuple[float, ...], dict[int, tuple[Pricing, Rates]]]
        ] = {}
        self._db_memo: dict[tuple[str, str, str, int], tuple[Pricing, Rates]] = {}
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
        """The database's card and rates of one request, memoised per span of time over
        which its prices hold and per long-context band (a report asks for the same few
        thousands of times)."""
        fixed = self._fixed.get((provider, model))
        if fixed is not None:  # prices that never change: no clock, no span to work out
            starts, by_band = fixed
            entry = by_band.get(bisect.bisect_left(starts, input_tokens) if starts else 0)
            if entry is not None:
                return entry
        looked = self._database_span(provider, model, timestamp_ms)
        if looked is None:
            return None
        span, fields, starts = looked
        band = bisect.bisect_left(starts, input_tokens)
        memo_key = (provider, model, span, band)
        memo = self._db_memo.get(memo_key)
        if memo is not None:
            return memo
        card = _card(fields, input_tokens)
        if card is None:
            return None
        entry = (card, rates_of(card, self.profile(provider, model), source="genai-prices"))
        with self._lock:
            if len(self._db_memo) > 100_000:
                self._db_memo.clear()
            self._db_memo[memo_key] = entry
            if span == "*":
                self._fixed.setdefault((provider, model), (starts, {}))[1][band] = entry
        return entry

    def _database_span(self, provider: str, model: str, timestamp_ms: float | None) -> _Span | None:
        """The span the request's database prices hold over (for ever, its UTC day or its
        minute), those prices and their tier starts; asked of the disk cache first, of the
        database only when the cache has no answer."""
        if not self._use_db:
            return None
        at = time.time() * 1000 if timestamp_ms is None else timestamp_ms
        pair = (provider, model)
        if pair in self._kinds:
            kind = self._kinds[pair]
            if kind is None:
                return None
            key = (provider, model, _span(kind, at))
            if key in self._db_cache:
                return self._db_cache[key]
        kind, fields = self._stored_or_asked(provider, model, at)
        if kind is None:
            with self._lock:
                self._kinds[pair] = None
            return None
        span = _span(kind, at)
        looked = None if fields is None else (span, fields, _tier_starts(fields))
        with self._lock:
            self._kinds[pair] = kind
            if len(self._db_cache) > 100_000:  # bounded: a long report spans many minutes
                self._db_cache.clear()
            self._db_cache[(provider, model, span)] = looked
        return looked

    def _stored_or_asked(
        self, provider: str, model: str, at_ms: float
    ) -> tuple[str | None, Fields | None]:
        """(how long its prices hold, the prices) of a model at ``at_ms``; (None, None)
        when the database does not price the model."""
        store = _store()
        model_key = f"{provider}\x1f{model}"
        known, kind = store.get(model_key)
        if known and kind is None:
            return None, None
        if known and kind is not None:
            span_kind = str(kind.get("kind"))
            known, fields = store.get(f"{model_key}\x1f{_span(span_kind, at_ms)}")
            if known:
                return span_kind, fields
        db = self._database()
        if db is None:
            return None, None
        info = db.model(provider, model)
        if info is None:
            store.put(model_key, None)
            return None, None
        span_kind = _span_kind(info.prices)
        store.put(model_key, {"kind": span_kind})
        when = datetime.fromtimestamp(_span_start(span_kind, at_ms) / 1000, UTC)
        try:
            got: Fields | None = _plain(info.get_prices(when))
        except (LookupError, ValueError):
            got = None
        store.put(f"{model_key}\x1f{_span(span_kind, at_ms)}", got)
        return span_kind, got


def price_book(pricing: PriceBook | Mapping[str, Any] | None) -> PriceBook:
    """A price book from a user pricing table (validated), or the book itself."""
    if isinstance(pricing, PriceBook):
        return pricing
    return PriceBook(parse_pricing_table(pricing))

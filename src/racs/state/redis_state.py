"""Shared engine state on Redis or Valkey: many hosts, one set of claims, counters, totals.

Kept per entry, never as one snapshot: the plan counter is ``INCR``; a resource claim, the
lineage swap and the keep-warm entry are one Lua script per plan; usage totals are
``HINCRBY``/``HINCRBYFLOAT``; keep-warm entries, resources, touch leases and lineages are
keys with expiry. Round trips per engine call (loopback, pipelined or scripted):

- ``plan``: 1. Plus 1 when the plan drifts or creates/refreshes a priced resource (the
  report and the storage spend), plus 1 when another host invalidated since this host's
  last plan (reading the invalidation log).
- ``record``: 1. ``stats``: 2. ``schedule``, ``mark_refreshed``, ``drifts``,
  ``invalidate``: 1 each.

When Redis is unreachable every call falls back to the engine's local memories, logs one
warning and emits ``state.degraded``; it retries with a doubling back-off (at most 30 s)
and on success replays the outbox (usage, drift reports, resources created meanwhile) and
emits ``state.restored``. Nothing here raises into the host's call path.

An entry that cannot be decoded (bytes that are not UTF-8, a non-number in a count, JSON
of the wrong shape) is treated as absent and the next write of it replaces it; the first
time a key is found so, one warning is logged and ``state.degraded`` is emitted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from racs.core.errors import ERR_INVALID_INPUT, RacsError
from racs.core.keys import base36, fnv1a64_int, plan_id
from racs.core.model import (
    CacheStats,
    DriftReport,
    RefreshEntry,
    StateDegraded,
    StateRestored,
    TelemetryEvent,
)
from racs.core.prices import PriceBook
from racs.planning.drift import DriftTracker
from racs.planning.usage import FIELDS, Aggregate, UsageBook
from racs.state import redis_codec as codec
from racs.state import redis_scripts
from racs.state.kv import is_async_client
from racs.state.outbox import UNPRICED, OfflineResource, Outbox, QueueingBook
from racs.state.shared import PlanReply, PlanRound, drift_of

log = logging.getLogger("racs")

T = TypeVar("T")

DEFAULT_PREFIX: Final = "racs:"
INVALIDATION_LOG: Final = 1000
MAX_BACKOFF: Final = 30.0
MAX_UNREADABLE_NAMED: Final = 1000
"""Keys remembered as reported unreadable (past it, each is still counted, not logged)."""


class RedisState:
    """Engine state shared by every engine pointed at the same Redis and prefix.

    Pass it as ``create_racs(state=racs.redis_state(url))``. The engine keeps its local
    memories as a mirror (and as the fallback while Redis is away).
    """

    is_shared = True
    is_async = False

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = DEFAULT_PREFIX,
        lease_seconds: float = 15.0,
        create_claim_seconds: float | None = None,
        lineage_ttl_seconds: float = 7 * 86400,
        retry_seconds: float = 0.5,
        drift_ring: int = 200,
        owns_client: bool = False,
    ) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise RacsError(ERR_INVALID_INPUT, "redis_state prefix must be a non-empty string")
        for name, value in (
            ("lease_seconds", lease_seconds),
            ("lineage_ttl_seconds", lineage_ttl_seconds),
            ("retry_seconds", retry_seconds),
            ("create_claim_seconds", create_claim_seconds or 1),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise RacsError(ERR_INVALID_INPUT, f"redis_state {name} must be a number > 0")
        if is_async_client(client):
            raise RacsError(
                ERR_INVALID_INPUT, "redis_state needs a synchronous client (redis.Redis)"
            )
        self.client = client
        self.prefix = prefix
        self.host_id = base36(secrets.randbits(48))
        self._lease_ms = str(max(1, int(lease_seconds * 1000)))
        self._claim_ms = str(int((create_claim_seconds or 0) * 1000))
        self._lineage_ms = str(max(1, int(lineage_ttl_seconds * 1000)))
        self._retry = float(retry_seconds)
        self._ring = drift_ring
        self._owns_client = owns_client
        self._lock = threading.RLock()
        self._outbox = Outbox()
        self._down = False
        self._backoff = self._retry
        self._retry_at = 0.0
        self._gen: int | None = None
        self._loose: list[TelemetryEvent] = []
        """Events from calls outside the engine's, handed to the engine's next call."""
        self._offline_plans = 0
        self._requests = itertools.count(1)
        self._clock: Callable[[], float] = lambda: time.time_ns() // 1_000_000
        self._prices: PriceBook | None = None  # the engine's, once it binds
        self.unreadable_entries = 0
        """Entries found undecodable and treated as absent, since this backend started."""
        self._unreadable_keys: set[str] = set()

    # --- binding to an engine -------------------------------------------------------
    def usage_book(
        self, prices: PriceBook, max_keys: int, clock: Callable[[], float] | None = None
    ) -> UsageBook:
        """The engine's usage book: its aggregates stay local, its increments go out."""
        self._prices = prices
        if clock is not None:
            self._clock = clock
        return QueueingBook(prices, max_keys, self.queue_usage)

    # --- the engine's calls ---------------------------------------------------------
    def plan_round(self, request: PlanRound, seed: int, events: list[TelemetryEvent]) -> PlanReply:
        """Draw the plan number, swap the lineage, claim the resource, register keep-warm."""
        ns, key, lineage = self.prefix, request.prefix_key, request.lineage
        keepwarm = request.keepwarm
        args = [
            codec.num(request.now),
            lineage,
            key,
            request.provider,
            request.model,
            codec.encode_fingerprint(request.fingerprint),
            self._lineage_ms,
            "" if request.resource_ttl is None else codec.num(request.resource_ttl),
            codec.num(request.resource_tokens),
            "" if keepwarm is None else json.dumps(keepwarm[0]),
            "" if keepwarm is None else codec.num(keepwarm[1]),
            self._claim_ms,
            f"{self.host_id}:{next(self._requests)}",
        ]
        keys = [
            ns + "n",
            ns + "gen",
            ns + "lin:" + lineage,
            ns + "linidx",
            ns + "res:" + key,
            ns + "residx",
            ns + "kw:" + key,
            ns + "kwdue",
            ns + "linexp",
        ]
        reply = self._attempt(lambda: self._eval("plan", keys, args), events)
        if reply is None:
            return self._offline_round(request, seed)
        n, gen, prev, action, write = reply
        previous = codec.decode_fingerprint(prev) if prev else None
        if prev and previous is None:
            self._unreadable("lineage fingerprint", ns + "lin:" + lineage, events)
        resource_action = codec.action(action)
        if resource_action is None and codec.text_or_none(action):
            self._unreadable("resource record", ns + "res:" + key, events)
        return PlanReply(
            plan_id=plan_id(seed, int(n)),
            previous=previous,
            resource_action=resource_action,
            resource_last_write=codec.number_or_none(write) if resource_action else None,
            forget=self._catch_up(int(gen), events),
            fleet=True,
        )

    def push(self, events: list[TelemetryEvent]) -> None:
        """Queue the drift reports among ``events``, then send whatever the outbox holds."""
        reports = drift_of(events)
        with self._lock:
            for report in reports:
                self._outbox.add_report(report)
            if not self._outbox:
                return
        self._attempt(self._send_outbox, events)

    def stats(
        self,
        prefix_key: str | None,
        provider: str | None,
        model: str | None,
        agent_id: str | None,
        events: list[TelemetryEvent],
    ) -> CacheStats | None:
        """Fleet-wide stats from the per-key aggregates (2 round trips)."""
        book = self._attempt(lambda: self._fleet_book(events), events)
        return None if book is None else book.stats(prefix_key, provider, model, agent_id)

    def storage_spend(self) -> dict[str, float] | None:
        """Fleet-wide resource storage spend by aggregate key."""
        book = self._attempt(lambda: self._fleet_book(self._loose), self._loose)
        if book is None:
            return None
        return book.storage_spend()

    def due(self, now: float, events: list[TelemetryEvent]) -> list[RefreshEntry] | None:
        """Due entries whose touch lease this host holds: one host per touch."""
        args = [codec.num(now), self.prefix, self.host_id, self._lease_ms]
        rows = self._attempt(lambda: self._eval("schedule", [self.prefix + "kwdue"], args), events)
        if rows is None:
            return None
        entries = []
        for row in rows:
            warm = codec.decode_due(row)
            if warm is None:
                name = codec.text_or_none(row[0] if row else None) or "?"
                self._unreadable("keep-warm entry", self.prefix + "kw:" + name, events)
                continue
            entries.append(warm.public())
        entries.sort(key=lambda e: (e.refresh_at, e.prefix_key))
        return entries

    def slide(self, prefix_key: str, at: float, now: float, events: list[TelemetryEvent]) -> bool:
        """Restart the fleet's keep-warm window and resource record of ``prefix_key``."""
        slid = self._attempt(lambda: self._slide(prefix_key, at, now), events)
        if slid is None:
            with self._lock:
                self._outbox.add_slide(prefix_key, at)
        return bool(slid)

    def drifts(self, limit: int | None, events: list[TelemetryEvent]) -> list[DriftReport] | None:
        """The fleet's ring of drift reports, oldest first."""
        raw = self._attempt(lambda: self.client.lrange(self.prefix + "drifts", 0, -1), events)
        if raw is None:
            return None
        tracker = DriftTracker(ring=self._ring)
        reports = [codec.decode_report(x) for x in reversed(raw)]
        if None in reports:
            self._unreadable("drift report", self.prefix + "drifts", events)
        tracker.reports.extend(r for r in reports if r is not None)
        return list(tracker.latest(limit))

    def invalidate(
        self, prefix_key: str | None, provider: str | None, events: list[TelemetryEvent]
    ) -> tuple[set[str], list[tuple[str, float]]] | None:
        """Clear matching prefixes fleet-wide and bump the generation every host checks."""
        reply = self._attempt(lambda: self._invalidate(prefix_key or "", provider or ""), events)
        if reply is None:
            with self._lock:
                self._outbox.add_invalidation(prefix_key, provider)
            return None
        _gen, matched, deleted = reply
        keys = {codec.text_or_none(k) for k in matched}
        gone = [(codec.text_or_none(k), codec.number_or_none(ttl)) for k, ttl in deleted]
        readable = [(k, float(ttl)) for k, ttl in gone if k is not None and ttl is not None]
        if None in keys or len(readable) < len(gone):
            self._unreadable("resource or keep-warm entry", self.prefix + "residx", events)
        return {k for k in keys if k is not None}, readable

    # --- per-lineage fields and resource names ---------------------------------------
    def lineage_fields(self, lineage: str) -> dict[str, str] | None:
        """The lineage's shared hash (e.g. a learned cadence); None when unreachable."""
        raw = self._attempt(
            lambda: self.client.hgetall(self.prefix + "cad:" + lineage), self._loose
        )
        if raw is None:
            return None
        fields = codec.decode_hash(raw)
        if len(fields) < len(raw):
            self._unreadable("lineage field", self.prefix + "cad:" + lineage, self._loose)
        return fields

    def update_lineage_fields(self, lineage: str, fields: Mapping[str, str | float]) -> bool:
        """Set fields of the lineage's hash (it expires with the lineage); False if away."""
        if not fields:
            return True
        key = self.prefix + "cad:" + lineage
        mapping = {k: v if isinstance(v, str) else codec.num(v) for k, v in fields.items()}

        def write() -> bool:
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(key, mapping=mapping)
            pipe.pexpire(key, int(self._lineage_ms))
            pipe.execute()
            return True

        return self._attempt(write, self._loose) is not None

    def publish_resource_name(self, resource_key: str, name: str) -> bool:
        """Tell the fleet the provider's name of the resource this host created."""
        key = self.prefix + "res:" + resource_key

        def write() -> bool:
            if not self.client.exists(key):
                return False
            self.client.hset(key, "name", name)
            return True

        return bool(self._attempt(write, self._loose))

    def resource_name(self, directive: Any) -> str | None:
        """The published name of a resource (a ``ResourceDirective`` or its key), if any.

        Usable as the Gemini adapter's ``cache_name``: until the creating host publishes
        the name, the others send their request uncached.
        """
        key = directive if isinstance(directive, str) else directive.resource_key
        raw = self._attempt(
            lambda: self.client.hget(self.prefix + "res:" + key, "name"), self._loose
        )
        return codec.text_or_none(raw)

    # --- the snapshot backend contract ---------------------------------------------
    def load(self) -> dict[str, Any] | None:
        """No snapshot: the state lives per entry in Redis."""
        return None

    def save(self, snapshot: dict[str, Any]) -> None:
        """``flush``: send what the outbox holds (the snapshot itself is not stored)."""
        self.push(self._loose)

    async def aload(self) -> dict[str, Any] | None:
        """``load`` for asyncio hosts."""
        return None

    async def asave(self, snapshot: dict[str, Any]) -> None:
        """``save`` off the event loop."""
        await asyncio.to_thread(self.save, snapshot)

    def close(self) -> None:
        """Send the outbox, then close the client when this backend opened it."""
        self.push(self._loose)
        if self._owns_client:
            self.client.close()

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and this host decides locally."""
        return self._down

    # --- internals ------------------------------------------------------------------
    def _slide(self, prefix_key: str, at: float, now: float) -> Any:
        ns = self.prefix
        keys = [ns + "kw:" + prefix_key, ns + "kwdue", ns + "res:" + prefix_key, ns + "residx"]
        return self._eval("slide", keys, [codec.num(at), prefix_key, codec.num(now)])

    def _invalidate(self, prefix_key: str, provider: str) -> Any:
        ns = self.prefix
        keys = [ns + "kwdue", ns + "residx", ns + "linidx", ns + "gen", ns + "inv"]
        args = [prefix_key, provider, ns, str(INVALIDATION_LOG)]
        return self._eval("invalidate", keys, args)

    def _eval(self, name: str, keys: list[str], args: list[str]) -> Any:
        from redis.exceptions import NoScriptError

        source = getattr(redis_scripts, name.upper())
        sha = redis_scripts.sha1(source)
        try:
            return self.client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:  # first use on this server, or it restarted or was flushed
            self.client.script_load(source)
        return self.client.evalsha(sha, len(keys), *keys, *args)

    def _attempt(self, call: Callable[[], T], events: list[TelemetryEvent]) -> T | None:
        """Run ``call`` against Redis; None (and degraded mode) when it fails."""
        from redis.exceptions import RedisError, ResponseError

        if self._loose and events is not self._loose:
            with self._lock:
                events.extend(self._loose)
                self._loose.clear()
        try:
            if self._down:
                if time.monotonic() < self._retry_at:
                    return None
                self._recover(events)  # replay the outbox first: the fleet is whole again
            return call()
        except ResponseError as exc:
            if not str(exc).startswith("WRONGTYPE"):
                self._degrade(exc, events)
            else:  # a read met a key of another type: absent (the scripts' next write fixes it)
                self._unreadable("entry of another type than racs writes", "WRONGTYPE", events)
            return None
        except RedisError as exc:
            self._degrade(exc, events)
            return None

    def _degrade(self, exc: Exception, events: list[TelemetryEvent]) -> None:
        with self._lock:
            if self._down:
                self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            else:
                self._down = True
                self._backoff = self._retry
                detail = f"Redis unreachable ({type(exc).__name__}: {exc}); deciding locally"
                log.warning("racs: %s until it returns", detail)
                events.append(StateDegraded("redis", detail, self._clock()))
            self._retry_at = time.monotonic() + self._backoff

    def _recover(self, events: list[TelemetryEvent]) -> None:
        with self._lock:
            sent = self._send_outbox()
            self._down = False
            detail = (
                f"Redis is back; replayed {sent[0]} usage batches, {sent[1]} drift reports "
                f"and {sent[2]} resources created meanwhile"
            )
            log.warning("racs: %s", detail)
            events.append(StateRestored("redis", detail, self._clock()))

    def _send_outbox(self) -> tuple[int, int, int]:
        """Send offline invalidations, frozen batches in order, offline resources, then
        offline touches; the counts of batches, reports and resources sent."""
        batches = reports = published = 0
        ns = self.prefix
        with self._lock:
            outbox = self._outbox
            while outbox.invalidations:
                self._invalidate(*outbox.invalidations[0])
                del outbox.invalidations[0]
            outbox.freeze()
            while outbox.frozen:
                batch = outbox.frozen[0]
                keys = [ns + "seq:" + self.host_id, ns + "useidx", ns + "drifts"]
                self._eval("apply", keys, [ns, str(batch.seq), *batch.args(self._ring)])
                outbox.frozen.popleft()
                batches += 1 if batch.usage else 0
                reports += len(batch.reports)
            now = codec.num(self._clock())
            while outbox.resources:
                r = next(iter(outbox.resources.values()))
                args = [now, r.key, r.provider, r.model, codec.num(r.ttl_seconds)]
                args += [codec.num(r.last_write_at), codec.num(r.tokens)]
                self._eval("publish", [ns + "res:" + r.key, ns + "residx"], args)
                del outbox.resources[r.key]
                published += 1
            while outbox.slides:
                key, at = next(iter(outbox.slides.items()))
                self._slide(key, at, self._clock())
                del outbox.slides[key]
        return batches, reports, published

    def _fleet_book(self, events: list[TelemetryEvent]) -> UsageBook:
        ns = self.prefix
        members = sorted(self.client.smembers(ns + "useidx"))
        pipe = self.client.pipeline(transaction=False)
        for m in members:  # a member that is not UTF-8 still names its hash
            pipe.hgetall((ns + "use:").encode() + m if isinstance(m, bytes) else ns + "use:" + m)
        rows = []
        for member, raw in zip(members, pipe.execute(raise_on_error=False), strict=True):
            if not raw:
                continue
            row = None if isinstance(raw, Exception) else codec.decode_usage(member, raw, FIELDS)
            if row is None or not _whole(raw):
                name = codec.text_or_none(member) or repr(member)
                self._unreadable("usage aggregate", ns + "use:" + name, events)
            if row is None:
                continue
            h = codec.decode_hash(raw)
            row["unpriced"] = [f[len(UNPRICED) :] for f in h if f.startswith(UNPRICED)]
            rows.append(row)
        book = UsageBook(self._prices or PriceBook(), max(1, len(rows)))
        book.load(rows)
        return book

    def _catch_up(self, gen: int, events: list[TelemetryEvent]) -> tuple[Any, ...]:
        """Invalidation filters this host has not applied yet (one read of the log)."""
        last, self._gen = self._gen, gen
        if last is None or gen <= last:
            return ()
        count = gen - last
        raw = self._attempt(lambda: self.client.lrange(self.prefix + "inv", 0, count - 1), events)
        entries = [codec.decode_invalidation(x) for x in raw or ()]
        if None in entries:
            self._unreadable("invalidation log entry", self.prefix + "inv", events)
        fresh = [(pk, prov) for g, pk, prov in filter(None, entries) if g > last]
        if len(fresh) < count:  # the log was trimmed (or unreadable): forget everything
            return ((None, None),)
        return tuple(fresh)

    def _unreadable(self, what: str, key: str, events: list[TelemetryEvent]) -> None:
        """Count an entry treated as absent; the first time per key, warn and emit."""
        with self._lock:
            self.unreadable_entries += 1
            if key in self._unreadable_keys or len(self._unreadable_keys) >= MAX_UNREADABLE_NAMED:
                return
            self._unreadable_keys.add(key)
        detail = f"unreadable {what} in Redis at {key!r}; treated as absent until rewritten"
        log.warning("racs: %s", detail)
        events.append(StateDegraded("redis", detail, self._clock()))

    def _offline_round(self, request: PlanRound, seed: int) -> PlanReply:
        """The local decision stands; a resource it creates is published later."""
        with self._lock:
            self._offline_plans += 1
            n = f"{self.host_id}.{self._offline_plans}"
            if request.local_action in ("create", "refresh") and request.resource_ttl:
                self._outbox.add_resource(
                    OfflineResource(
                        request.prefix_key,
                        request.provider,
                        request.model,
                        request.resource_ttl,
                        request.now,
                        request.resource_tokens,
                    )
                )
        # The fleet counter is out of reach: a host-scoped id that cannot collide with it.
        digest = base36(fnv1a64_int(f"{seed}\x1f{n}"))
        pid = f"rx-{n}-{digest}"
        return PlanReply(pid, None, request.local_action, None, (), fleet=False)

    def queue_usage(self, delta: Aggregate) -> None:
        """Queue one record's (or storage charge's) exact increments for the fleet."""
        with self._lock:
            self._outbox.add_usage(delta)


def _whole(raw: Any) -> bool:
    """Whether every field and count of an aggregate's hash was readable."""
    if isinstance(raw, Exception):
        return False
    h = codec.decode_hash(raw)
    return len(h) == len(raw) and all(
        codec.number_or_none(h[f]) is not None for f in FIELDS if f in h
    )


def redis_state(
    url_or_client: Any,
    *,
    prefix: str = DEFAULT_PREFIX,
    lease_seconds: float = 15.0,
    create_claim_seconds: float | None = None,
    lineage_ttl_seconds: float = 7 * 86400,
    retry_seconds: float = 0.5,
    timeout_seconds: float = 0.5,
) -> RedisState:
    """A shared state backend on Redis or Valkey: a ``redis://`` URL or a ``redis.Redis``.

    A URL gets a client with ``timeout_seconds`` connect/read timeouts and no client-side
    retries, so an outage is noticed within one timeout and the engine decides locally.
    """
    owns = isinstance(url_or_client, str)
    if owns:
        url = url_or_client
        if url.startswith(("valkey://", "valkeys://")):  # same protocol, redis-py's schemes
            url = "redis" + url[len("valkey") :]
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:  # pragma: no cover - the redis extra is missing
            raise RacsError(
                ERR_INVALID_INPUT, "redis_state needs the redis extra: pip install 'racs[redis]'"
            ) from None
        try:
            client: Any = redis.Redis.from_url(
                url,
                socket_connect_timeout=timeout_seconds,
                socket_timeout=timeout_seconds,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise RacsError(ERR_INVALID_INPUT, f"redis_state: bad URL: {exc}") from None
    else:
        client = url_or_client
        for method in ("evalsha", "script_load", "pipeline", "hgetall", "lrange"):
            if not callable(getattr(client, method, None)):
                raise RacsError(
                    ERR_INVALID_INPUT, f"redis_state needs a Redis client; it has no {method}()"
                )
    return RedisState(
        client,
        prefix=prefix,
        lease_seconds=lease_seconds,
        create_claim_seconds=create_claim_seconds,
        lineage_ttl_seconds=lineage_ttl_seconds,
        retry_seconds=retry_seconds,
        owns_client=owns,
    )

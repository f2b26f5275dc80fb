"""``GET /metrics``: the served engine in the Prometheus text format (``prometheus_client``).

Usage figures are read from ``engine.stats()`` at scrape time, so they are the very numbers
``GET /stats`` shows; plans, ledger appends and the last verify are counted as the routes
serve them. Labels are bounded: a provider outside the known list and every model past
the first ``MAX_MODELS`` seen are folded into ``other``; prefix keys, agents, runs and
sessions are never labels.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from racs.core.facts import PROVIDERS
from racs.core.model import CachePlan, LedgerStats
from racs.engine import Racs

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
MAX_MODELS: Final = 20
"""Distinct model labels kept; later models are reported as ``other``."""
OTHER: Final = "other"
_KNOWN_PROVIDERS: Final = frozenset(PROVIDERS)


class ModelLabels:
    """The bounded model label set: the first ``limit`` models seen keep their name."""

    def __init__(self, limit: int = MAX_MODELS) -> None:
        self.limit = limit
        self._kept: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, model: str | None) -> str:
        """The label of ``model``."""
        name = model or "unknown"
        with self._lock:
            if name in self._kept:
                return name
            if len(self._kept) < self.limit:
                self._kept.add(name)
                return name
        return OTHER


def provider_label(provider: str | None) -> str:
    """A known provider id, else ``other`` (usage records may name any provider)."""
    return provider if provider in _KNOWN_PROVIDERS else OTHER


def plan_action(plan: CachePlan) -> str:
    """What a plan asks the host to do: a resource's action, else its first directive's
    kind (``breakpoint``, ``routing-key``, ``none``)."""
    for directive in plan.directives:
        action = getattr(directive, "action", None)
        if isinstance(action, str):
            return action
    return str(getattr(plan.directives[0], "kind", "none")) if plan.directives else "none"


class _UsageCollector(Collector):
    """Reads the engine's stats (and the ledger's chain) when Prometheus scrapes."""

    def __init__(self, engine: Racs, ledger: Any, models: ModelLabels) -> None:
        self.engine = engine
        self.ledger = ledger
        self.models = models
        # Reading keep-warm entries from a shared (Redis) state leases their touches to
        # this host: such a server does not report them.
        self.keepwarm = not engine.shares_state

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the registry must not scrape at registration."""
        return ()

    def collect(self) -> Iterator[Metric]:
        """The usage, keep-warm and ledger families, as of now."""
        yield from _usage_families(self.engine.stats(), self.models)
        if self.keepwarm:
            due = GaugeMetricFamily("racs_keepwarm_due", "Keep-warm entries due now")
            due.add_metric([], len(self.engine.schedule()))
            yield due
        status = getattr(self.ledger, "chain_status", None)
        if callable(status):
            chained, pending = status()
            head = GaugeMetricFamily(
                "racs_ledger_chained_events", "Events in the ledger's hash chain"
            )
            head.add_metric([], chained)
            yield head
            lag = GaugeMetricFamily(
                "racs_ledger_sequencer_lag_events",
                "Events acknowledged but not yet chained (PostgreSQL writers; 0 on SQLite)",
            )
            lag.add_metric([], pending)
            yield lag


def _usage_families(stats: LedgerStats, models: ModelLabels) -> Iterator[Metric]:
    labels = ["provider", "model"]
    calls = CounterMetricFamily("racs_usage_calls", "Usage records", labels=labels)
    hits = CounterMetricFamily(
        "racs_usage_hits", "Usage records that read the cache", labels=labels
    )
    tokens = CounterMetricFamily(
        "racs_usage_tokens", "Input tokens by class", labels=[*labels, "class"]
    )
    dollars = CounterMetricFamily(
        "racs_usage_dollars",
        "USD by class: saved by reads, spent on write premiums and on storage",
        labels=[*labels, "class"],
    )
    ratio = GaugeMetricFamily("racs_hit_ratio", "Read tokens / input tokens", labels=labels)
    grouped: dict[tuple[str, str], list[float]] = {}
    for p in stats.prefixes:
        key = (provider_label(p.provider), models(p.model))
        sums = grouped.setdefault(key, [0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0])
        sums[0] += p.calls
        sums[1] += p.hits or 0
        sums[2] += p.read_tokens
        sums[3] += p.write_tokens
        sums[4] += p.uncached_tokens
        sums[5] += p.saved_usd or 0.0
        sums[6] += p.write_spend_usd or 0.0
        sums[7] += p.storage_spend_usd or 0.0
        sums[8] += p.saved_usd is not None
    for (provider, model), s in sorted(grouped.items()):
        at = [provider, model]
        calls.add_metric(at, s[0])
        hits.add_metric(at, s[1])
        for name, value in (("read", s[2]), ("write", s[3]), ("uncached", s[4])):
            tokens.add_metric([*at, name], value)
        if s[8]:  # priced: USD only where a price covers the model, as /stats says
            for name, value in (("saved", s[5]), ("write_premium", s[6]), ("storage", s[7])):
                dollars.add_metric([*at, name], value)
        total = s[2] + s[3] + s[4]
        ratio.add_metric(at, s[2] / total if total else 0.0)
    overall = GaugeMetricFamily("racs_hit_ratio_overall", "Read tokens / input tokens, all")
    overall.add_metric([], stats.hit_ratio)
    yield from (calls, hits, tokens, dollars, ratio, overall)
    if stats.net_usd is not None:
        net = GaugeMetricFamily("racs_net_savings_dollars", "Saved minus write and storage USD")
        net.add_metric([], stats.net_usd)
        yield net


class Metrics(Collector):
    """One server's registry: the engine's usage at scrape time, and what the routes count
    (plans, ledger appends, the last verify)."""

    def __init__(self, engine: Racs, ledger: Any, max_models: int = MAX_MODELS) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.models = ModelLabels(max_models)
        self.registry.register(_UsageCollector(engine, ledger, self.models))
        self.registry.register(self)
        ProcessCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._plans: dict[tuple[str, str], int] = {}
        self._appends: dict[str, int] = {}
        self._verify: tuple[bool, int, float] | None = None

    def planned(self, plan: CachePlan) -> None:
        """Count one plan answered."""
        key = (plan.family, plan_action(plan))
        with self._lock:
            self._plans[key] = self._plans.get(key, 0) + 1

    def appended(self, kind: str) -> None:
        """Count one event this server appended to the ledger."""
        with self._lock:
            self._appends[kind] = self._appends.get(kind, 0) + 1

    def verified(self, ok: bool, checked: int) -> None:
        """Keep the outcome of a chain walk (a walk is too long to run per scrape)."""
        with self._lock:
            self._verify = (ok, checked, time.time())

    def describe(self) -> Iterable[Metric]:
        """Nothing up front (the families are built per scrape)."""
        return ()

    def collect(self) -> Iterator[Metric]:
        """The route-fed families."""
        with self._lock:
            plans, appends, verify = dict(self._plans), dict(self._appends), self._verify
        family = CounterMetricFamily(
            "racs_plans", "Plans answered, by family and action", labels=["family", "action"]
        )
        for (name, action), n in sorted(plans.items()):
            family.add_metric([name, action], n)
        yield family
        appended = CounterMetricFamily(
            "racs_ledger_appends", "Events this server appended to the ledger", labels=["kind"]
        )
        for kind, n in sorted(appends.items()):
            appended.add_metric([kind], n)
        yield appended
        if verify is not None:
            ok, checked, at = verify
            for name, text, value in (
                ("racs_ledger_verify_ok", "1 when the last verify found the chain intact", ok),
                ("racs_ledger_verify_checked_events", "Events the last verify checked", checked),
                ("racs_ledger_verify_timestamp_seconds", "When the last verify ran", at),
            ):
                gauge = GaugeMetricFamily(name, text)
                gauge.add_metric([], float(value))
                yield gauge

    def render(self) -> bytes:
        """The exposition text (reads the engine and the ledger: call it off the loop)."""
        return generate_latest(self.registry)

"""The panels that need the report's walk or a replay: computed per range, cached, and in
the background when the range is large.

Findings, per-cause totals, gaps and prefix efficiency come from
``racs.report.build.build_report`` and the what-if from ``racs.replay.run.replay``, each
over the folded requests of the selected range and filters, in the reader's order: the
same requests, in the same order, that ``racs report --ledger`` and ``racs replay`` read,
so the same numbers. A walk costs Python time per request, so:

- a result is cached under (panel, range, filters, folded ledger position) and served
  at once while it is current;
- up to ``sync_limit`` requests it is computed before the answer (well under a second);
- up to ``limit`` requests it is computed by one background worker; meanwhile the answer
  is the last result for the same range and filters (with its age), or "computing";
- beyond ``limit``, the answer says so and gives the CLI command instead.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Final

from racs.core.errors import RacsError
from racs.core.prices import PriceBook
from racs.ledger import views
from racs.ledger.views import Scope
from racs.ledger.viewstore import ViewStore
from racs.replay.run import replay
from racs.replay.wire import to_json as replay_json
from racs.report.build import Filters, build_report
from racs.report.wire import ranked
from racs.report.wire import to_json as report_json
from racs.server.fold import requests_in
from racs.traffic.problems import Problems

REPORT_LIMIT: Final = 250_000
REPLAY_LIMIT: Final = 200_000
SYNC_LIMIT: Final = 2_000
SYNC_WAIT_S: Final = 0.25
"""How long an answer waits for a small walk before it says 'computing' instead."""
TOP_FINDINGS: Final = 50
TOP_ROWS: Final = 200
"""Sessions and streams whose prefix efficiency is sent (the most dollars first)."""
CACHED: Final = 64


@dataclass(slots=True)
class Result:
    """One computed panel: its JSON body and when it was computed."""

    body: dict[str, Any]
    computed_at: float
    position: int
    seconds: float


def _iso_hour(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(ms / 1000))


def report_filters(scope: Scope) -> Filters:
    """The report's filters for a dashboard scope (the agent has no report filter)."""
    return Filters(scope.since, scope.until, scope.project, scope.session, scope.model)


def cli_command(kind: str, location: str, scope: Scope) -> str:
    """The command that computes the same panel from a shell."""
    if kind == "whatif":
        return f"racs replay {location}"
    parts = ["racs report --ledger", location]
    if scope.since is not None:
        parts += ["--since", _iso_hour(scope.since)]
    if scope.until is not None:
        parts += ["--until", _iso_hour(scope.until)]
    for flag, value in (
        ("--model", scope.model),
        ("--project", scope.project),
        ("--session", scope.session),
    ):
        if value:
            parts += [flag, _quoted(value)]
    return " ".join(parts)


def _quoted(value: str) -> str:
    safe = all(ch.isalnum() or ch in "-_./:@" for ch in value)
    return value if safe else "'" + value.replace("'", "'\\''") + "'"


def ms(value: float | None) -> int | None:
    """Epoch milliseconds as a JSON integer (``None`` stays ``None``)."""
    return None if value is None else round(value)


def report_body(report: Any, top: int = TOP_FINDINGS) -> dict[str, Any]:
    """What the dashboard shows of a report: totals, causes, findings, gaps, efficiency."""
    full = report_json(report)
    efficiency = {
        dim: {
            key: bucket.prefix_efficiency for key, bucket in ranked(report.by[dim], dim)[:TOP_ROWS]
        }
        for dim in ("session", "stream")
    }
    total = {
        **full["total"],
        "firstMs": ms(report.total.first_ms),
        "lastMs": ms(report.total.last_ms),
    }
    findings = [{**f, "timestampMs": ms(f["timestampMs"])} for f in full["findings"][:top]]
    return {
        "total": total,
        "causes": full["causes"],
        "findings": findings,
        "gaps": full["gaps"],
        "efficiency": efficiency,
        "unpricedModels": full["unpricedModels"],
    }


class Insights:
    """Computes and caches the report and what-if panels (see the module docstring)."""

    def __init__(
        self,
        store: ViewStore,
        prices: PriceBook,
        location: str,
        *,
        report_limit: int = REPORT_LIMIT,
        replay_limit: int = REPLAY_LIMIT,
        sync_limit: int = SYNC_LIMIT,
    ) -> None:
        self.store = store
        self.prices = prices
        self.location = location
        self.limits = {"report": report_limit, "whatif": replay_limit}
        self.sync_limit = sync_limit
        self._cache: OrderedDict[tuple[Any, ...], Result] = OrderedDict()
        self._latest: OrderedDict[tuple[Any, ...], Result] = OrderedDict()
        self._running: dict[tuple[Any, ...], Future[Result]] = {}
        self._lock = threading.Lock()
        # One worker: a second large walk would only halve the speed of the first.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="racs-insights")

    def _compute(self, kind: str, scope: Scope, position: int, upto_seq: int) -> Result:
        started = time.monotonic()
        requests = requests_in(self.store, scope, upto_seq)
        try:
            if kind == "report":
                report = build_report(
                    requests, self.prices, Problems(), report_filters(scope), top=TOP_FINDINGS
                )
                body = report_body(report)
            else:
                result = replay(requests, prices=self.prices, keep_streams=False)
                body = replay_json(result)
        except RacsError as exc:  # e.g. a provider replay has no cache model for
            body = {"error": exc.message}
        seconds = time.monotonic() - started
        return Result(body, time.time(), position, seconds)

    def _remember(self, key: tuple[Any, ...], result: Result) -> None:
        with self._lock:
            for table in (self._cache, self._latest):
                k = key if table is self._cache else key[:-1]
                table[k] = result
                table.move_to_end(k)
                while len(table) > CACHED:
                    table.popitem(last=False)
            self._running.pop(key, None)

    def _submit(self, key: tuple[Any, ...], work: Callable[[], Result]) -> Future[Result]:
        with self._lock:
            future = self._running.get(key)
            if future is None:

                def run() -> Result:
                    try:
                        result = work()
                    except BaseException:
                        with self._lock:
                            self._running.pop(key, None)
                        raise
                    self._remember(key, result)
                    return result

                future = self._running[key] = self._pool.submit(run)
            return future

    def get(self, kind: str, scope: Scope, position: int, upto_seq: int) -> dict[str, Any]:
        """The panel for ``scope`` at the folded ``position`` (see the module docstring)."""
        key = (kind, scope, position)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return self._answer("ready", cached)
        count = self.store.read(lambda tx: views.count(tx, scope))
        limit = self.limits[kind]
        if count > limit:
            return {
                "status": "too_large",
                "requests": count,
                "limit": limit,
                "command": cli_command(kind, self.location, scope),
            }
        future = self._submit(key, lambda: self._compute(kind, scope, position, upto_seq))
        if count <= self.sync_limit:
            try:
                return self._answer("ready", future.result(timeout=SYNC_WAIT_S))
            except FutureTimeout:
                pass
        with self._lock:
            stale = self._latest.get(key[:-1])
        out: dict[str, Any] = {
            "status": "computing",
            "requests": count,
            "command": cli_command(kind, self.location, scope),
        }
        if stale is not None:
            out.update(self._answer("stale", stale))
        return out

    @staticmethod
    def _answer(status: str, result: Result) -> dict[str, Any]:
        return {
            "status": "failed" if "error" in result.body else status,
            "ageSeconds": round(max(0.0, time.time() - result.computed_at), 1),
            "computeSeconds": round(result.seconds, 3),
            "position": result.position,
            **result.body,
        }

    def close(self) -> None:
        """Stop the worker (a walk in progress finishes first)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

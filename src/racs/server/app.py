"""The HTTP application: engine routes, ledger routes, the dashboard and the OpenAPI document.

The engine is synchronous and takes tens of microseconds per call, so handlers call it
directly on the event loop: a thread hop would cost more than the work itself. Calls that
reach the ledger (recording usage into it, stats, the ledger routes) run in the thread pool
instead, since one slow ledger call would stall every other request. With a ledger, the
other engine calls run on the loop only when the engine's lock is free at that moment
(``EngineCalls``): a usage record holds that lock while it appends, and waiting for it on the
loop would stall health checks behind a slow ledger.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from racs import __version__
from racs.core.errors import RacsError, invalid
from racs.core.model import CacheStats, to_wire
from racs.engine import Racs
from racs.server import dashboard, ledger_routes, views
from racs.server.errors import (
    JSONBody,
    http_exception_handler,
    internal_error_handler,
    log,
    racs_exception_handler,
)
from racs.server.history import DEFAULT_INTERVAL, StatsHistory
from racs.server.metrics import CONTENT_TYPE, Metrics
from racs.server.openapi import openapi_document
from racs.server.persist import StateSaver
from racs.server.security import SecurityMiddleware
from racs.server.shapes import Health, Invalidated, Ok, Refreshed
from racs.server.wire import (
    MAX_BODY_BYTES,
    optional_str,
    optional_time,
    query_int,
    read_json,
    read_object,
)

T = TypeVar("T")


class EngineCalls:
    """Runs engine calls on the loop or in the thread pool, whichever cannot stall the loop.

    Without a ledger nothing the engine does waits on I/O: every call runs on the loop.
    With one, ``ledger`` calls (record, stats) always leave it; the others run on the loop
    when they can take the engine's lock without waiting (the usual case: measured 2,000
    plans/s on the loop against 1,300 through the pool) and in the pool when a thread
    holds it.
    """

    def __init__(self, engine: Racs, ledger: Any) -> None:
        self.offload = ledger is not None or engine.ledger is not None
        # The engine's reentrant lock: taken here first, the engine's own ``with`` reenters.
        # A shared (Redis) state does network I/O under it: such an engine always offloads.
        self._lock = None if engine.shares_state else engine.lock
        self.inline = 0
        self.pooled = 0
        """How many lock-only calls ran on the loop and in the pool (for the tests)."""

    async def ledger(self, fn: Callable[..., T], *args: Any) -> T:
        """A call that may reach the ledger: in the pool when there is one."""
        return await run_in_threadpool(fn, *args) if self.offload else fn(*args)

    async def engine(self, fn: Callable[..., T], *args: Any) -> T:
        """A call that only takes the engine's lock: on the loop unless the lock is busy."""
        if not self.offload:
            return fn(*args)
        lock = self._lock
        if lock is not None and lock.acquire(blocking=False):
            self.inline += 1
            try:
                return fn(*args)
            finally:
                lock.release()
        self.pooled += 1
        return await run_in_threadpool(fn, *args)


def _engine_routes(
    engine: Racs,
    history: StatsHistory,
    calls: EngineCalls,
    ledger: Any,
    saver: StateSaver | None,
    started: float,
    metrics: Metrics,
) -> list[BaseRoute]:
    call = calls.engine
    records_into_ledger = engine.ledger is not None

    async def healthz(request: Request) -> Response:
        body: Health = {
            "ok": True,
            "version": __version__,
            "plansCreated": engine.plans_created,
            "ledger": ledger is not None,
            "uptimeSeconds": round(time.monotonic() - started, 3),
        }
        if saver is not None:
            body["stateSaveFailures"] = saver.failures
        return JSONBody(body)

    async def plan(request: Request) -> Response:
        result = await call(engine.plan, await read_json(request))
        if saver is not None and saver.uncovered(engine.plans_created):
            # Not answered before its id is covered by a saved reservation (one plan in
            # PLAN_ID_BLOCK waits for that save; the others pass without a thread hop).
            await run_in_threadpool(saver.cover, engine.plans_created)
        metrics.planned(result)
        return JSONBody(result.to_dict())

    async def lint(request: Request) -> Response:
        return JSONBody(to_wire(await call(engine.lint, await read_json(request))))

    async def usage(request: Request) -> Response:
        await calls.ledger(engine.record, await read_json(request))
        if records_into_ledger:
            metrics.appended("cache_usage")
        ok: Ok = {"ok": True}
        return JSONBody(ok)

    async def stats(request: Request) -> Response:
        q = request.query_params
        since = query_int(request, "since")
        until = query_int(request, "until")

        def work() -> CacheStats:
            return engine.stats(
                q.get("prefixKey") or None,
                q.get("provider") or None,
                model=q.get("model") or None,
                agent_id=q.get("agentId") or None,
                since=since,
                until=until,
            )

        return JSONBody((await calls.ledger(work)).to_dict())

    async def stats_history(request: Request) -> Response:
        return JSONBody(history.to_dict())

    async def schedule(request: Request) -> Response:
        return JSONBody(to_wire(await call(engine.schedule, query_int(request, "now"))))

    async def refreshed(request: Request) -> Response:
        data = await read_object(request)
        prefix_key = data.get("prefixKey")
        if not isinstance(prefix_key, str) or not prefix_key:
            raise invalid("prefixKey must be a non-empty string")
        slid = await call(engine.mark_refreshed, prefix_key, optional_time(data, "now"))
        body: Refreshed = {"ok": True, "refreshed": slid}
        return JSONBody(body)

    async def invalidate(request: Request) -> Response:
        # An empty body is no filter, as in @takk/racs: everything is cleared.
        data = await read_object(request, empty_ok=True)
        prefix_key = optional_str(data, "prefixKey") or None
        count = await call(engine.invalidate, prefix_key, optional_str(data, "provider") or None)
        body: Invalidated = {"invalidated": count}
        return JSONBody(body)

    async def drifts(request: Request) -> Response:
        reports = await call(engine.drifts, query_int(request, "limit"))
        return JSONBody({"drifts": to_wire(reports)})

    async def metrics_text(request: Request) -> Response:
        # Reads the engine's stats (the ledger's, when it has one): off the loop then.
        return Response(await calls.ledger(metrics.render), media_type=CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/plan", plan, methods=["POST"]),
        Route("/lint", lint, methods=["POST"]),
        Route("/usage", usage, methods=["POST"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/stats/history", stats_history, methods=["GET"]),
        Route("/schedule", schedule, methods=["GET"]),
        Route("/refreshed", refreshed, methods=["POST"]),
        Route("/invalidate", invalidate, methods=["POST"]),
        Route("/drifts", drifts, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
    ]


def create_app(
    engine: Racs,
    ledger: Any = None,
    token: str | None = None,
    cors_origin: str | None = None,
    *,
    history_interval: float = DEFAULT_INTERVAL,
    max_body: int = MAX_BODY_BYTES,
    close_on_shutdown: bool = True,
    saver: StateSaver | None = None,
) -> Starlette:
    """Build the ASGI app serving ``engine`` (and ``ledger``, when given).

    ``saver``, when given, snapshots the engine periodically while the app runs. On
    shutdown the app closes the engine (flushing its state) and the ledger, unless
    ``close_on_shutdown`` is False (the caller owns them); a failed final save is logged
    and leaves ``app.state.shutdown_failed`` set, for the caller's exit status.
    """
    history = StatsHistory(engine, history_interval)
    calls = EngineCalls(engine, ledger)
    metrics = Metrics(engine, ledger)
    document = openapi_document(token is not None)
    started = time.monotonic()
    traffic = views.TrafficViews(ledger, engine.prices)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        history.start()
        if saver is not None:
            saver.start()
        try:
            yield
        finally:
            await history.stop()
            traffic.close()
            if saver is not None:
                await saver.stop()
            if close_on_shutdown and not app.state.closed:
                app.state.closed = True
                try:
                    close_all(engine, ledger)
                except Exception as exc:
                    app.state.shutdown_failed = True
                    log.error("racs server: the final state save failed: %s", exc)

    async def openapi(request: Request) -> Response:
        return JSONBody(document)

    routes: list[BaseRoute] = [
        *_engine_routes(engine, history, calls, ledger, saver, started, metrics),
        *ledger_routes.routes(ledger, engine.prices, metrics),
        *dashboard.routes(),
        *traffic.routes(),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityMiddleware, token=token, cors_origin=cors_origin)],
        exception_handlers={
            HTTPException: http_exception_handler,
            RacsError: racs_exception_handler,
            Exception: internal_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.ledger = ledger
    app.state.history = history
    app.state.calls = calls
    app.state.metrics = metrics
    app.state.closed = False
    app.state.shutdown_failed = False
    app.state.max_body = max_body
    return app


def close_all(engine: Racs, ledger: Any) -> None:
    """Flush and release the engine, then the ledger; each failure is contained."""
    try:
        engine.close()
    finally:
        if ledger is not None:
            ledger.close()

"""The HTTP application: engine routes, ledger routes, the dashboard and the OpenAPI document.

The engine is synchronous and takes tens of microseconds per call, so handlers call it
directly on the event loop: a thread hop would cost more than the work itself. Calls that
reach the ledger (recording usage into it, time-windowed stats, the ledger routes) run in
the thread pool instead, since one slow ledger call would stall every other request.
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


def _engine_routes(
    engine: Racs, history: StatsHistory, ledger: Any, saver: StateSaver | None, started: float
) -> list[BaseRoute]:
    # With a ledger, an engine call may wait on the ledger's lock (recording usage holds
    # the engine's lock while it appends), so every engine call leaves the loop.
    offload = ledger is not None or engine.ledger is not None

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(fn, *args) if offload else fn(*args)

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
        if saver is not None:
            # Not answered before its id is covered by a saved reservation.
            await call(saver.cover, engine.plans_created)
        return JSONBody(result.to_dict())

    async def lint(request: Request) -> Response:
        return JSONBody(to_wire(await call(engine.lint, await read_json(request))))

    async def usage(request: Request) -> Response:
        await call(engine.record, await read_json(request))
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

        return JSONBody((await call(work)).to_dict())

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
    document = openapi_document(token is not None, ledger=engine.ledger is not None)
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
        *_engine_routes(engine, history, ledger, saver, started),
        *ledger_routes.routes(ledger, engine.prices),
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

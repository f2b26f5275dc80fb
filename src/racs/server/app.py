"""The HTTP application: engine routes, ledger routes, the dashboard and the OpenAPI document.

The engine is synchronous and takes tens of microseconds per call, so handlers call it
directly on the event loop: a thread hop would cost more than the work itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import __version__
from ..engine import Racs
from ..errors import RacsError, invalid
from ..model import to_wire
from . import dashboard, ledger_routes
from .errors import (
    JSONBody,
    http_exception_handler,
    internal_error_handler,
    racs_exception_handler,
)
from .history import DEFAULT_INTERVAL, StatsHistory
from .openapi import openapi_document
from .security import MAX_BODY_BYTES, SecurityMiddleware
from .wire import optional_str, optional_time, query_int, read_json, read_object

_OK = {"ok": True}


def _engine_routes(
    engine: Racs, history: StatsHistory, ledger: Any, started: float
) -> list[BaseRoute]:
    async def healthz(request: Request) -> Response:
        return JSONBody(
            {
                "ok": True,
                "version": __version__,
                "plansCreated": engine.plans_created,
                "ledger": ledger is not None,
                "uptimeSeconds": round(time.monotonic() - started, 3),
            }
        )

    async def plan(request: Request) -> Response:
        return JSONBody(engine.plan(await read_json(request)).to_dict())

    async def lint(request: Request) -> Response:
        return JSONBody({"findings": to_wire(engine.lint(await read_json(request)))})

    async def usage(request: Request) -> Response:
        engine.record(await read_json(request))
        return JSONBody(_OK)

    async def stats(request: Request) -> Response:
        q = request.query_params
        result = engine.stats(
            q.get("prefixKey") or None,
            q.get("provider") or None,
            model=q.get("model") or None,
            agent_id=q.get("agentId") or None,
            since=query_int(request, "since"),
            until=query_int(request, "until"),
        )
        return JSONBody(result.to_dict())

    async def stats_history(request: Request) -> Response:
        return JSONBody(history.to_dict())

    async def schedule(request: Request) -> Response:
        entries = engine.schedule(query_int(request, "now"))
        return JSONBody({"entries": to_wire(entries)})

    async def refreshed(request: Request) -> Response:
        data = await read_object(request)
        prefix_key = data.get("prefixKey")
        if not isinstance(prefix_key, str) or not prefix_key:
            raise invalid("prefixKey must be a non-empty string")
        slid = engine.mark_refreshed(prefix_key, optional_time(data, "now"))
        return JSONBody({"ok": True, "refreshed": slid})

    async def invalidate(request: Request) -> Response:
        data = await read_object(request)
        count = engine.invalidate(
            optional_str(data, "prefixKey") or None, optional_str(data, "provider") or None
        )
        return JSONBody({"invalidated": count})

    async def drifts(request: Request) -> Response:
        return JSONBody({"drifts": to_wire(engine.drifts(query_int(request, "limit")))})

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
) -> Starlette:
    """Build the ASGI app serving ``engine`` (and ``ledger``, when given).

    On shutdown the app closes the engine (flushing its state) and the ledger, unless
    ``close_on_shutdown`` is False (the caller owns them).
    """
    history = StatsHistory(engine, history_interval)
    document = openapi_document(token is not None)
    started = time.monotonic()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        history.start()
        try:
            yield
        finally:
            await history.stop()
            if close_on_shutdown and not app.state.closed:
                app.state.closed = True
                close_all(engine, ledger)

    async def openapi(request: Request) -> Response:
        return JSONBody(document)

    routes: list[BaseRoute] = [
        *_engine_routes(engine, history, ledger, started),
        *ledger_routes.routes(ledger, engine.prices),
        *dashboard.routes(),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityMiddleware, token=token, cors_origin=cors_origin, max_body=max_body)
        ],
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
    return app


def close_all(engine: Racs, ledger: Any) -> None:
    """Flush and release the engine, then the ledger; each failure is contained."""
    try:
        engine.close()
    finally:
        if ledger is not None:
            ledger.close()

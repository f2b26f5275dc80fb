"""The ``/ledger/...`` routes: start, complete and record runs; list and show runs, events,
usage statistics and the chain check.

Bodies and queries arrive in camelCase and are handed to the ledger's Python API in
snake_case; each call is checked against the method's signature first, so an unknown or
missing field is a 400 naming it rather than a TypeError deep inside.

Every ledger call runs in the thread pool: a verify or a stats query over a large ledger
takes seconds, and the ledger's lock would otherwise stall the event loop for everyone,
health checks included.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from racs.core.errors import ERR_NOT_FOUND, RacsError, invalid
from racs.core.prices import PriceBook, price_book
from racs.server.errors import ERR_NO_LEDGER, JSONBody
from racs.server.wire import camelize, query_bool, query_int, read_object, snake

log = logging.getLogger("racs.server")

EVENT_METHODS: Final[dict[str, str]] = {
    "auth": "record_auth_validation",
    "policy": "record_policy_evaluation",
    "routing": "record_routing",
    "provider-call": "record_provider_call",
    "retry": "record_retry",
    "cancel": "cancel_run",
    "run.auth_validated": "record_auth_validation",
    "run.policy_evaluated": "record_policy_evaluation",
    "run.routed": "record_routing",
    "run.provider_called": "record_provider_call",
    "run.retried": "record_retry",
    "run.cancelled": "cancel_run",
}
"""Event kinds a client may append to a run (short names and the stored type names)."""

_INT_PARAMS: Final = frozenset({"limit", "since", "until", "after_position"})
QUERY_ALIASES: Final = {"after": "after_position"}
"""Query names that differ from the ledger's parameter names."""
_STATS_PARAMS: Final = frozenset({"workspace_id", "since", "until"})
_BOOL_PARAMS: Final = frozenset({"auth_risk", "policy_override"})
RESERVED: Final = frozenset({"self", "run_id"})
"""Parameters a client cannot set in a body (the run id comes from the path)."""


def _call(method: Callable[..., Any], /, *args: Any, **fields: Any) -> Any:
    """Call a ledger method after checking the fields against its signature."""
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        signature = None
    if signature is not None:
        try:
            signature.bind(*args, **fields)
        except TypeError as exc:
            raise invalid(_binding_message(str(exc))) from None
    try:
        return method(*args, **fields)
    except RacsError:
        raise
    except (TypeError, ValueError) as exc:
        # A value of the wrong JSON type that slipped past the ledger's own validation:
        # still the client's input, so a 400, never a 500.
        log.warning("racs server: ledger rejected input with %s: %s", type(exc).__name__, exc)
        raise invalid(f"invalid field value: {exc}") from None


def _binding_message(text: str) -> str:
    if "unexpected keyword argument" in text:
        return "unknown field " + text.rsplit("argument", 1)[-1].strip()
    if "missing" in text:
        return "missing required field" + text.split("argument", 1)[-1].rstrip(".")
    return text


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """Body fields as snake_case keyword arguments; the run id comes from the path only."""
    fields = {snake(k): v for k, v in data.items()}
    for name in fields:
        if name in RESERVED:
            raise invalid(f"field {name!r} is not accepted in the body")
    return fields


def _query(request: Request, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Query parameters as typed snake_case keyword arguments."""
    out: dict[str, Any] = {}
    for key in request.query_params:
        if key in exclude:
            continue
        name = snake(key)
        name = QUERY_ALIASES.get(name, name)
        if name in _INT_PARAMS:
            out[name] = query_int(request, key)
        elif name in _BOOL_PARAMS:
            out[name] = query_bool(request, key)
        else:
            out[name] = request.query_params.get(key)
    return {k: v for k, v in out.items() if v is not None and v != ""}


Endpoint = Callable[[Request], Awaitable[Response]]


def _by_method(**endpoints: Endpoint) -> Endpoint:
    """One endpoint per path, dispatching on the method, so a 405 lists every method the
    path has (two routes on one path would each list only their own)."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await endpoints[method](request)

    return endpoint


def _run_or_404(ledger: Any, run_id: str) -> Any:
    run = ledger.get_run(run_id)
    if run is None:
        raise RacsError(ERR_NOT_FOUND, f"no run {run_id!r}")
    return run


def routes(
    ledger: Any, pricing: PriceBook | Mapping[str, Any] | None = None, metrics: Any = None
) -> list[BaseRoute]:
    """The ledger routes; without a ledger each answers 404 ERR_NO_LEDGER.

    ``pricing`` (the engine's price book) prices the usage statistics in USD; ``metrics``
    (a ``metrics.Metrics``) counts the appends and keeps the last verify's outcome.
    """
    priced = price_book(pricing)

    def appended(kind: str) -> None:
        if metrics is not None:
            metrics.appended(kind)

    def need() -> Any:
        if ledger is None:
            raise RacsError(ERR_NO_LEDGER, "this server has no ledger (start it with --ledger)")
        return ledger

    async def start(request: Request) -> Response:
        lg = need()
        data = await read_object(request)
        fields = _fields(data)
        key = request.headers.get("idempotency-key")
        # The header and the body field are two spellings of one key: a retry that
        # carries both must not be able to name two runs.
        if key is not None and fields.setdefault("idempotency_key", key) != key:
            raise invalid("the Idempotency-Key header and idempotencyKey field differ")

        def work() -> Any:
            run_id = _call(lg.start_run, **fields)
            return camelize(_run_or_404(lg, str(run_id)))

        body = await run_in_threadpool(work)
        appended("run.started")
        return JSONBody(body, status_code=201)

    async def complete(request: Request) -> Response:
        lg = need()
        run_id = request.path_params["run_id"]
        fields = _fields(await read_object(request))

        def work() -> Any:
            _call(lg.complete_run, run_id, **fields)
            return camelize(_run_or_404(lg, run_id))

        body = await run_in_threadpool(work)
        appended("run.completed")
        return JSONBody(body)

    async def append(request: Request) -> Response:
        lg = need()
        run_id = request.path_params["run_id"]
        data = await read_object(request)
        kind = data.pop("type", None)
        method_name = EVENT_METHODS.get(kind) if isinstance(kind, str) else None
        if method_name is None:
            kinds = ", ".join(k for k in EVENT_METHODS if "." not in k)
            raise invalid(f"type must be one of {kinds}, got {kind!r}")
        fields = _fields(data)

        def work() -> Any:
            _call(getattr(lg, method_name), run_id, **fields)
            return camelize(_run_or_404(lg, run_id))

        body = await run_in_threadpool(work)
        appended(method_name.removeprefix("record_"))
        return JSONBody(body)

    async def list_runs(request: Request) -> Response:
        lg = need()
        query = _query(request)

        def work() -> Any:
            page = _call(lg.query_runs, **query)
            if isinstance(page, list | tuple):
                page = {"items": page, "next_cursor": None}
            return camelize(page)

        return JSONBody(await run_in_threadpool(work))

    async def show_run(request: Request) -> Response:
        lg = need()
        run_id = request.path_params["run_id"]
        return JSONBody(await run_in_threadpool(lambda: camelize(_run_or_404(lg, run_id))))

    async def run_events(request: Request) -> Response:
        lg = need()
        run_id = request.path_params["run_id"]

        def work() -> Any:
            _run_or_404(lg, run_id)
            return {"items": camelize(_call(lg.get_run_events, run_id))}

        return JSONBody(await run_in_threadpool(work))

    async def events(request: Request) -> Response:
        lg = need()
        query = _query(request)

        def work() -> Any:
            result = _call(lg.query_events, **query)
            if isinstance(result, list | tuple):
                result = {"items": result}
            return camelize(result)

        return JSONBody(await run_in_threadpool(work))

    async def stats(request: Request) -> Response:
        lg = need()
        query = _query(request)
        unknown = sorted(set(query) - _STATS_PARAMS)
        if unknown:
            raise invalid(f"unknown query parameter {unknown[0]!r}")
        return JSONBody(
            await run_in_threadpool(
                lambda: camelize(_call(lg.get_usage_stats, pricing=priced, **query))
            )
        )

    async def verify(request: Request) -> Response:
        lg = need()
        result = await run_in_threadpool(lg.verify)
        if metrics is not None:
            metrics.verified(result.ok, result.checked)
        return JSONBody(camelize(result))

    return [
        Route("/ledger/runs", _by_method(GET=list_runs, POST=start), methods=["GET", "POST"]),
        Route("/ledger/runs/{run_id}", show_run, methods=["GET"]),
        Route("/ledger/runs/{run_id}/complete", complete, methods=["POST"]),
        Route(
            "/ledger/runs/{run_id}/events",
            _by_method(GET=run_events, POST=append),
            methods=["GET", "POST"],
        ),
        Route("/ledger/events", events, methods=["GET"]),
        Route("/ledger/stats", stats, methods=["GET"]),
        Route("/ledger/verify", verify, methods=["GET"]),
    ]

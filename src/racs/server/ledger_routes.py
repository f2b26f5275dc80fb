"""The ``/ledger/...`` routes: start, complete and record runs; list and show runs, events,
usage statistics and the chain check.

Bodies and queries arrive in camelCase and are handed to the ledger's Python API in
snake_case; each call is checked against the method's signature first, so an unknown or
missing field is a 400 naming it rather than a TypeError deep inside.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import ERR_NOT_FOUND, RacsError, invalid
from ..prices import PriceBook, price_book
from .errors import ERR_NO_LEDGER, JSONBody
from .wire import camelize, query_bool, query_int, read_object, snake

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
_QUERY_ALIASES: Final = {"after": "after_position"}
_STATS_PARAMS: Final = frozenset({"workspace_id", "since", "until"})
_BOOL_PARAMS: Final = frozenset({"auth_risk", "policy_override"})
_RESERVED: Final = frozenset({"self", "run_id"})


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
        if name in _RESERVED:
            raise invalid(f"field {name!r} is not accepted in the body")
    return fields


def _query(request: Request, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Query parameters as typed snake_case keyword arguments."""
    out: dict[str, Any] = {}
    for key in request.query_params:
        if key in exclude:
            continue
        name = snake(key)
        name = _QUERY_ALIASES.get(name, name)
        if name in _INT_PARAMS:
            out[name] = query_int(request, key)
        elif name in _BOOL_PARAMS:
            out[name] = query_bool(request, key)
        else:
            out[name] = request.query_params.get(key)
    return {k: v for k, v in out.items() if v is not None and v != ""}


def _run_or_404(ledger: Any, run_id: str) -> Any:
    run = ledger.get_run(run_id)
    if run is None:
        raise RacsError(ERR_NOT_FOUND, f"no run {run_id!r}")
    return run


def routes(ledger: Any, pricing: PriceBook | Mapping[str, Any] | None = None) -> list[BaseRoute]:
    """The ledger routes; without a ledger each answers 404 ERR_NO_LEDGER.

    ``pricing`` (the engine's price book) prices the usage statistics in USD.
    """
    priced = price_book(pricing)

    def need() -> Any:
        if ledger is None:
            raise RacsError(ERR_NO_LEDGER, "this server has no ledger (start it with --ledger)")
        return ledger

    async def start(request: Request) -> Response:
        lg = need()
        data = await read_object(request)
        run_id = _call(lg.start_run, **_fields(data))
        return JSONBody(camelize(_run_or_404(lg, str(run_id))), status_code=201)

    async def complete(request: Request) -> Response:
        lg = need()
        run_id = request.path_params["run_id"]
        data = await read_object(request)
        _call(lg.complete_run, run_id, **_fields(data))
        return JSONBody(camelize(_run_or_404(lg, run_id)))

    async def append(request: Request) -> Response:
        lg = need()
        run_id = request.path_params["run_id"]
        data = await read_object(request)
        kind = data.pop("type", None)
        method_name = EVENT_METHODS.get(kind) if isinstance(kind, str) else None
        if method_name is None:
            kinds = ", ".join(k for k in EVENT_METHODS if "." not in k)
            raise invalid(f"type must be one of {kinds}, got {kind!r}")
        _call(getattr(lg, method_name), run_id, **_fields(data))
        return JSONBody(camelize(_run_or_404(lg, run_id)))

    async def list_runs(request: Request) -> Response:
        lg = need()
        page = _call(lg.query_runs, **_query(request))
        if isinstance(page, list | tuple):
            page = {"items": page, "next_cursor": None}
        return JSONBody(camelize(page))

    async def show_run(request: Request) -> Response:
        lg = need()
        return JSONBody(camelize(_run_or_404(lg, request.path_params["run_id"])))

    async def run_events(request: Request) -> Response:
        lg = need()
        run_id = request.path_params["run_id"]
        _run_or_404(lg, run_id)
        return JSONBody({"items": camelize(_call(lg.get_run_events, run_id))})

    async def events(request: Request) -> Response:
        lg = need()
        result = _call(lg.query_events, **_query(request))
        if isinstance(result, list | tuple):
            result = {"items": result}
        return JSONBody(camelize(result))

    async def stats(request: Request) -> Response:
        lg = need()
        query = _query(request)
        unknown = sorted(set(query) - _STATS_PARAMS)
        if unknown:
            raise invalid(f"unknown query parameter {unknown[0]!r}")
        return JSONBody(camelize(_call(lg.get_usage_stats, pricing=priced, **query)))

    async def verify(request: Request) -> Response:
        lg = need()
        return JSONBody(camelize(lg.verify()))

    return [
        Route("/ledger/runs", start, methods=["POST"]),
        Route("/ledger/runs", list_runs, methods=["GET"]),
        Route("/ledger/runs/{run_id}", show_run, methods=["GET"]),
        Route("/ledger/runs/{run_id}/complete", complete, methods=["POST"]),
        Route("/ledger/runs/{run_id}/events", append, methods=["POST"]),
        Route("/ledger/runs/{run_id}/events", run_events, methods=["GET"]),
        Route("/ledger/events", events, methods=["GET"]),
        Route("/ledger/stats", stats, methods=["GET"]),
        Route("/ledger/verify", verify, methods=["GET"]),
    ]

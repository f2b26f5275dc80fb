"""The OpenAPI 3.1 document served at ``/openapi.json``: the routes, their parameters and
statuses, over the schemas ``schemas`` generates from the code's own types."""

from __future__ import annotations

import copy
import functools
from typing import Any, Final

from racs import __version__
from racs.core.limits import MAX_INSTANT_MS
from racs.ledger.validate import MAX_ID_LENGTH
from racs.server.schemas import REF, component_schemas, ledger_query
from racs.server.security import PUBLIC_PATHS
from racs.server.wire import MAX_BODY_BYTES, QUERY_INT_MAX

# --- paths -------------------------------------------------------------------------------

_REASONS: Final[dict[str, str]] = {
    "400": "Malformed JSON, invalid input or query, or two Host headers; the message says why",
    "401": "Missing or wrong bearer token (only when the server has a token)",
    "403": "Host header is not loopback (only when the server has no token)",
    "404": "Unknown run, or the server has no ledger",
    "409": "The run has already ended, or the request conflicts with the ledger",
    "413": f"Request body over {MAX_BODY_BYTES} bytes",
    "415": "Request body is not application/json",
    "503": "The state or ledger storage failed",
}
_GET_ERRORS: Final = ("400", "401", "403", "503")
_POST_ERRORS: Final = ("400", "401", "403", "413", "415", "503")
_LEDGER_GET: Final = (*_GET_ERRORS, "404")
_LEDGER_POST: Final = (*_POST_ERRORS, "404", "409")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _wrapped(key: str, name: str) -> dict[str, Any]:
    return {"type": "object", "properties": {key: _array(name)}, "required": [key]}


def _param(name: str, schema: dict[str, Any], where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema}


_RUN_ID: Final = _param("runId", {"type": "string"}, "path")


def _operation(
    summary: str,
    ok: dict[str, Any],
    errors: tuple[str, ...],
    *,
    status: str = "200",
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        status: {"description": "OK", "content": {"application/json": {"schema": ok}}}
    }
    for code in errors:
        responses[code] = {
            "description": _REASONS[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _metrics_operation() -> dict[str, Any]:
    op = _operation("Prometheus metrics", {"type": "string"}, _GET_ERRORS)
    op["description"] = (
        "The Prometheus text format: plans by family and action; usage calls, hits, tokens "
        "and USD by provider, model and class; hit ratio; keep-warm due; ledger appends, "
        "chain head, sequencer lag and the last verify. Labels are providers and models "
        "only (models past the first 20 are folded into 'other')."
    )
    ok = op["responses"]["200"]
    ok["content"] = {"text/plain": ok["content"]["application/json"]}
    return op


def _integer(description: str, maximum: int = QUERY_INT_MAX) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": maximum, "description": description}


def _ledger_query(method_name: str) -> list[dict[str, Any]]:
    return [_param(name, schema) for name, schema in ledger_query(method_name)]


def _traffic_paths() -> dict[str, Any]:
    """The dashboard's data routes (racs/server/views.py): one scope in every query."""
    text = {"type": "string", "maxLength": 200}
    scope = [
        _param("range", {"type": "string", "enum": ["24h", "7d", "30d", "all", "custom"]}),
        _param("since", _integer("custom range start, ms (floored to the hour)", MAX_INSTANT_MS)),
        _param("until", _integer("custom range end, ms (ceiled to the hour)", MAX_INSTANT_MS)),
        _param("model", {**text, "description": "models containing this text"}),
        _param("project", {**text, "description": "projects containing this text"}),
        _param("session", {**text, "description": "sessions starting with this text"}),
        _param("agent", {**text, "description": "this agent exactly; (main): the main one"}),
    ]
    body = {"type": "object"}
    dims = {
        "type": "string",
        "enum": ["session", "stream", "model", "project", "agent", "provider"],
    }
    return {
        "/traffic/overview": {
            "get": _operation(
                "Spend, tokens and hit ratio over time", body, _LEDGER_GET, params=scope
            )
        },
        "/traffic/breakdown": {
            "get": _operation(
                "One dimension's values, most dollars first",
                body,
                _LEDGER_GET,
                params=[*scope, _param("dim", dims), _param("limit", _integer("at most", 500))],
            )
        },
        "/traffic/options": {
            "get": _operation("The values each filter can take", body, _LEDGER_GET, params=scope)
        },
        "/traffic/report": {
            "get": _operation(
                "Causes, findings and gaps (the report's walk)", body, _LEDGER_GET, params=scope
            )
        },
        "/traffic/whatif": {
            "get": _operation(
                "Replay's strategies against the optimum", body, _LEDGER_GET, params=scope
            )
        },
        "/traffic/session": {
            "get": _operation(
                "One session's requests, streams and findings",
                body,
                _LEDGER_GET,
                params=[{**_param("id", text), "required": True}],
            )
        },
    }


def _paths(event_kinds: tuple[str, ...]) -> dict[str, Any]:
    stats_params = [
        _param("prefixKey", {"type": "string"}),
        _param("provider", {"type": "string"}),
        _param("model", {"type": "string"}),
        _param("agentId", {"type": "string"}),
        _param("since", _integer("from this time, ms (needs --ledger)", MAX_INSTANT_MS)),
        _param("until", _integer("until this time, ms (needs --ledger)", MAX_INSTANT_MS)),
    ]
    run_event = {"anyOf": [_ref(name) for name in event_kinds]}
    return {
        "/healthz": {"get": _operation("Liveness and counters", _ref("Health"), _GET_ERRORS)},
        "/plan": {
            "post": _operation(
                "Plan one PlanInput", _ref("CachePlan"), _POST_ERRORS, body=_ref("PlanInput")
            )
        },
        "/lint": {
            "post": _operation(
                "Lint one PlanInput", _array("LintFinding"), _POST_ERRORS, body=_ref("PlanInput")
            )
        },
        "/usage": {
            "post": _operation(
                "Record one call's cache usage (into the ledger too, when it has one)",
                _ref("Ok"),
                (*_POST_ERRORS, "404", "409"),
                body=_ref("CacheUsage"),
            )
        },
        "/stats": {
            "get": _operation(
                "Usage totals and per-prefix stats",
                _ref("CacheStats"),
                _GET_ERRORS,
                params=stats_params,
            )
        },
        "/stats/history": {
            "get": _operation("Samples of the /stats totals", _ref("History"), _GET_ERRORS)
        },
        "/schedule": {
            "get": _operation(
                "Keep-warm entries due now",
                _array("RefreshEntry"),
                _GET_ERRORS,
                params=[_param("now", _integer("evaluate at this time (ms)"))],
            )
        },
        "/refreshed": {
            "post": _operation(
                "Mark a prefix's cache as touched",
                _ref("Refreshed"),
                _POST_ERRORS,
                body=_ref("RefreshedBody"),
            )
        },
        "/invalidate": {
            "post": _operation(
                "Forget matching prefixes; {} or an empty application/json body: all of them",
                _ref("Invalidated"),
                _POST_ERRORS,
                body=_ref("InvalidateFilter"),
            )
        },
        "/drifts": {
            "get": _operation(
                "Recent drift reports, oldest first",
                _wrapped("drifts", "DriftReport"),
                _GET_ERRORS,
                params=[_param("limit", _integer("at most this many (the newest)"))],
            )
        },
        "/metrics": {"get": _metrics_operation()},
        "/ledger/runs": {
            "post": _operation(
                "Start a run (a retry with the same Idempotency-Key returns the same run)",
                _ref("Run"),
                _LEDGER_POST,
                status="201",
                body=_ref("RunStart"),
                params=[
                    _param(
                        "Idempotency-Key",
                        {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
                        "header",
                    )
                ],
            ),
            "get": _operation(
                "List runs, newest first",
                _ref("RunPage"),
                _LEDGER_GET,
                params=_ledger_query("query_runs"),
            ),
        },
        "/ledger/runs/{runId}": {
            "get": _operation("One run", _ref("Run"), _LEDGER_GET, params=[_RUN_ID])
        },
        "/ledger/runs/{runId}/complete": {
            "post": _operation(
                "Complete (or fail) a run",
                _ref("Run"),
                _LEDGER_POST,
                params=[_RUN_ID],
                body=_ref("RunComplete"),
            )
        },
        "/ledger/runs/{runId}/events": {
            "post": _operation(
                "Append an event to a run",
                _ref("Run"),
                _LEDGER_POST,
                params=[_RUN_ID],
                body=run_event,
            ),
            "get": _operation(
                "A run's events in order",
                _wrapped("items", "Event"),
                _LEDGER_GET,
                params=[_RUN_ID],
            ),
        },
        "/ledger/events": {
            "get": _operation(
                "Events across runs",
                _wrapped("items", "Event"),
                _LEDGER_GET,
                params=_ledger_query("query_events"),
            )
        },
        "/ledger/stats": {
            "get": _operation(
                "Usage statistics of runs",
                _ref("UsageStats"),
                _LEDGER_GET,
                params=_ledger_query("get_usage_stats"),
            )
        },
        "/ledger/verify": {
            "get": _operation("Walk the hash chain", _ref("VerifyResult"), _LEDGER_GET)
        },
        **_traffic_paths(),
    }


@functools.cache
def _document() -> dict[str, Any]:
    schemas, event_kinds = component_schemas()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "racs",
            "version": __version__,
            "description": "Prompt-cache planning for LLM agents, and its run ledger. Bodies "
            "use the camelCase wire form of @takk/racs. Every error is "
            '{"error": "<message>", "code": "ERR_..."}; a wrong method is 405. The dashboard '
            "(GET /) and /openapi.json are not part of this API description.",
        },
        "paths": _paths(event_kinds),
        "components": {"schemas": schemas},
    }


def openapi_document(with_token: bool = False) -> dict[str, Any]:
    """The OpenAPI document of a server: bearer security declared when it has a token."""
    doc = copy.deepcopy(_document())
    if with_token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
        for path in PUBLIC_PATHS & doc["paths"].keys():
            doc["paths"][path]["get"]["security"] = []  # served without the bearer
    return doc

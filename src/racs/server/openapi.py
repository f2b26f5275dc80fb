"""The hand-written OpenAPI 3.0 document served at ``/openapi.json``.

Written by hand, not generated, so it states the contract (camelCase bodies, every refusal
status) rather than whatever the routing table happens to contain; the schemathesis test
holds the two together.
"""

from __future__ import annotations

from typing import Any, Final

from .. import __version__
from ..model import FAMILIES, LINT_CODES, PROVIDERS, ROLES, STABILITIES

_NUM: Final = {"type": "number", "minimum": 0}
_NUM_NULL: Final = {"type": "number", "nullable": True}
_STR: Final = {"type": "string"}
_STR_NULL: Final = {"type": "string", "nullable": True}
_INT: Final = {"type": "integer", "minimum": 0}
_SUM: Final = {
    "type": "number",
    "nullable": True,
    "description": "null only when a sum of client-supplied counts overflows to infinity",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return schema


SCHEMAS: Final[dict[str, Any]] = {
    "Error": _obj(
        {"error": _obj({"code": _STR, "message": _STR}, ("code", "message"))}, ("error",)
    ),
    "PromptSegment": {
        **_obj(
            {
                "id": {"type": "string", "minLength": 1},
                "role": {"type": "string", "enum": list(ROLES)},
                "stability": {"type": "string", "enum": list(STABILITIES)},
                "content": _STR,
                "contentHash": {"type": "string", "minLength": 1},
                "tokens": _NUM,
            },
            ("id", "role", "stability"),
        ),
        "anyOf": [{"required": ["content"]}, {"required": ["contentHash"]}],
    },
    "PlanInput": _obj(
        {
            "provider": {"type": "string", "enum": list(PROVIDERS)},
            "model": {"type": "string", "minLength": 1},
            "agentId": _STR,
            "segments": {"type": "array", "minItems": 1, "items": _ref("PromptSegment")},
            "reuse": _obj({"intervalSeconds": _NUM, "callsPerHour": _NUM}),
        },
        ("provider", "model", "segments"),
    ),
    "CacheDirective": _obj(
        {
            "kind": {"type": "string", "enum": ["breakpoint", "routing-key", "resource", "none"]},
            "segmentId": _STR,
            "ttl": _STR,
            "key": _STR,
            "retention": _STR,
            "action": {"type": "string", "enum": ["create", "reuse", "refresh", "delete"]},
            "resourceKey": _STR,
            "ttlSeconds": {"type": "number"},
            "reason": _STR,
        },
        ("kind",),
    ),
    "LintFinding": _obj(
        {
            "severity": {"type": "string", "enum": ["error", "warning", "info"]},
            "code": {"type": "string", "enum": list(LINT_CODES)},
            "message": _STR,
            "segmentId": _STR,
        },
        ("severity", "code", "message"),
    ),
    "BreakEven": _obj(
        {
            "writePremiumTokens": _SUM,
            "minReusesToProfit": _NUM_NULL,
            "profitable": {"type": "boolean"},
            "reasoning": _STR,
        },
        ("writePremiumTokens", "profitable", "reasoning"),
    ),
    "CachePlan": _obj(
        {
            "planId": _STR,
            "provider": _STR,
            "model": _STR,
            "family": {"type": "string", "enum": list(FAMILIES)},
            "prefixKey": _STR,
            "stableTokens": _SUM,
            "totalTokens": _SUM,
            "directives": {"type": "array", "items": _ref("CacheDirective")},
            "findings": {"type": "array", "items": _ref("LintFinding")},
            "breakEven": _ref("BreakEven"),
            "reasoning": _STR,
            "agentId": _STR,
        },
        (
            "planId",
            "provider",
            "model",
            "family",
            "prefixKey",
            "stableTokens",
            "totalTokens",
            "directives",
            "findings",
            "reasoning",
        ),
    ),
    "CacheUsage": _obj(
        {
            "provider": {"type": "string", "minLength": 1},
            "model": {"type": "string", "minLength": 1},
            "prefixKey": _STR,
            "agentId": _STR,
            "inputTokens": _NUM,
            "cacheReadTokens": _NUM,
            "cacheWriteTokens5m": _NUM,
            "cacheWriteTokens1h": _NUM,
            "timestamp": _NUM,
        },
        ("provider", "model", "inputTokens", "cacheReadTokens"),
    ),
    "PrefixStats": _obj(
        {
            "prefixKey": _STR,
            "calls": _INT,
            "hits": _INT,
            "hitRatio": _SUM,
            "readTokens": _SUM,
            "writeTokens": _SUM,
            "uncachedTokens": _SUM,
            "savedUsd": _SUM,
            "writeSpendUsd": _SUM,
            "storageSpendUsd": _SUM,
            "netUsd": _SUM,
            "provider": _STR,
            "model": _STR,
        },
        ("prefixKey", "calls", "hitRatio", "readTokens", "writeTokens", "uncachedTokens"),
    ),
    "LedgerStats": _obj(
        {
            "calls": _INT,
            "hits": _INT,
            "hitRatio": _SUM,
            "readTokens": _SUM,
            "writeTokens": _SUM,
            "uncachedTokens": _SUM,
            "savedUsd": _SUM,
            "writeSpendUsd": _SUM,
            "storageSpendUsd": _SUM,
            "netUsd": _SUM,
            "prefixes": {"type": "array", "items": _ref("PrefixStats")},
        },
        ("calls", "hitRatio", "readTokens", "writeTokens", "uncachedTokens", "prefixes"),
    ),
    "StatsSample": _obj(
        {
            "t": _NUM,
            "calls": _INT,
            "plans": _INT,
            "hitRatio": _SUM,
            "readTokens": _SUM,
            "writeTokens": _SUM,
            "uncachedTokens": _SUM,
            "savedUsd": _NUM_NULL,
            "netUsd": _NUM_NULL,
        },
        ("t", "calls", "plans", "hitRatio", "readTokens", "writeTokens", "uncachedTokens"),
    ),
    "RefreshEntry": _obj(
        {
            "prefixKey": _STR,
            "provider": _STR,
            "model": _STR,
            "ttl": {"oneOf": [_STR, {"type": "number"}]},
            "lastWriteAt": {"type": "number"},
            "refreshAt": {"type": "number"},
        },
        ("prefixKey", "provider", "model", "ttl", "lastWriteAt", "refreshAt"),
    ),
    "DriftReport": _obj(
        {
            "agentId": _STR,
            "lineage": _STR,
            "prefixKey": _STR,
            "previousKey": _STR,
            "changedSegmentIds": {"type": "array", "items": _STR},
            "invalidatedTokens": _SUM,
            "timestamp": {"type": "number"},
        },
        ("prefixKey", "previousKey", "changedSegmentIds", "invalidatedTokens", "timestamp"),
    ),
    "RunStart": _obj(
        {
            "workspaceId": _STR,
            "agentId": _STR,
            "provider": _STR,
            "model": _STR,
            "authType": {"type": "string", "enum": ["api", "consumer"]},
            "executionMode": {"type": "string", "enum": ["interactive", "background", "scheduled"]},
            "complianceMode": {"type": "string", "enum": ["recommended", "permissive"]},
            "policyOverride": {"type": "boolean"},
            "metadata": {"type": "object"},
        },
    ),
    "RunComplete": _obj(
        {
            "status": {"type": "string", "enum": ["completed", "failed"]},
            "latencyMs": _NUM,
            "ttftMs": _NUM,
            "inputTokens": _INT,
            "outputTokens": _INT,
            "costUsd": _NUM,
            "cacheReadTokens": _INT,
            "cacheWriteTokens5m": _INT,
            "cacheWriteTokens1h": _INT,
            "prefixKey": _STR,
            "planId": _STR,
            "error": {"type": "object"},
        },
    ),
    "RunEvent": {
        **_obj(
            {
                "type": {
                    "type": "string",
                    "enum": ["auth", "policy", "routing", "provider-call", "retry", "cancel"],
                }
            },
            ("type",),
        ),
        "description": "The event kind plus the fields of the matching ledger call "
        "(record_auth_validation, record_policy_evaluation, record_routing, "
        "record_provider_call, record_retry, cancel_run), in camelCase.",
    },
    "Run": _obj(
        {
            "runId": _STR,
            "workspaceId": _STR,
            "agentId": _STR,
            "provider": _STR,
            "model": _STR,
            "status": {"type": "string", "enum": ["started", "completed", "failed", "cancelled"]},
            "authRisk": {"type": "boolean"},
            "policyOverride": {"type": "boolean"},
            "startedAt": {"type": "number"},
            "endedAt": _NUM_NULL,
            "costUsd": _NUM_NULL,
        },
        ("runId", "status"),
    ),
    "RunPage": _obj(
        {"items": {"type": "array", "items": _ref("Run")}, "nextCursor": _STR_NULL}, ("items",)
    ),
    "Event": _obj(
        {
            "position": _INT,
            "runId": _STR_NULL,
            "seq": {"type": "integer", "nullable": True},
            "type": _STR,
            "timestamp": {"type": "number"},
            "payload": {"type": "object"},
            "hash": _STR,
        },
        ("position", "type", "timestamp"),
    ),
    "EventPage": _obj({"items": {"type": "array", "items": _ref("Event")}}, ("items",)),
    "UsageStats": {"type": "object", "description": "ledger.md section 4, in camelCase"},
    "VerifyResult": _obj(
        {
            "ok": {"type": "boolean"},
            "checked": _INT,
            "firstBadPosition": {"type": "integer", "nullable": True},
            "reason": _STR_NULL,
            "headHash": _STR_NULL,
            "pending": _INT,
        },
        ("ok",),
    ),
}

_REASONS: Final[dict[str, str]] = {
    "400": "Malformed JSON or invalid input; the message says why",
    "401": "Missing or wrong bearer token (only when the server has a token)",
    "403": "Host header is not loopback (only when the server has no token)",
    "404": "Unknown run, or the server has no ledger",
    "409": "The run has already ended",
    "413": "Request body over 1 MB",
    "415": "Request body is not application/json",
    "503": "The state or ledger storage failed",
}


def _errors(*codes: str) -> dict[str, Any]:
    return {
        c: {"description": _REASONS[c], "content": {"application/json": {"schema": _ref("Error")}}}
        for c in codes
    }


def _ok(schema: dict[str, Any], status: str = "200", description: str = "OK") -> dict[str, Any]:
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_RUN_ID: Final = {"name": "runId", "in": "path", "required": True, "schema": _STR}


def _get(
    summary: str,
    ok: dict[str, Any],
    params: list[dict[str, Any]] | None = None,
    errors: tuple[str, ...] = ("401", "403"),
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**ok, **_errors(*errors)}}
    if params:
        op["parameters"] = params
    return {"get": op}


def _post(
    summary: str,
    body: dict[str, Any],
    ok: dict[str, Any],
    params: list[dict[str, Any]] | None = None,
    errors: tuple[str, ...] = ("400", "401", "403", "413", "415", "503"),
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {**ok, **_errors(*errors)},
    }
    if params:
        op["parameters"] = params
    return {"post": op}


_LEDGER_GET: Final = ("400", "401", "403", "404", "503")
_LEDGER_POST: Final = ("400", "401", "403", "404", "409", "413", "415", "503")
_TIME = {"type": "integer", "minimum": 0}


def _paths() -> dict[str, Any]:
    health = _obj(
        {
            "ok": {"type": "boolean"},
            "version": _STR,
            "plansCreated": _INT,
            "ledger": {"type": "boolean"},
            "uptimeSeconds": _NUM,
        },
        ("ok", "version", "plansCreated", "ledger"),
    )
    run_window = [
        _query("workspaceId", _STR, "Only runs of this workspace"),
        _query("since", _TIME, "From this time (ms since the epoch)"),
        _query("until", _TIME, "Until this time (ms since the epoch)"),
    ]
    return {
        "/healthz": _get("Liveness and basic counters", _ok(health)),
        "/plan": _post("Plan one PlanInput", _ref("PlanInput"), _ok(_ref("CachePlan"))),
        "/lint": _post(
            "Lint one PlanInput",
            _ref("PlanInput"),
            _ok(_obj({"findings": {"type": "array", "items": _ref("LintFinding")}}, ("findings",))),
        ),
        "/usage": _post(
            "Record one call's cache usage",
            _ref("CacheUsage"),
            _ok(_obj({"ok": {"type": "boolean"}}, ("ok",))),
        ),
        "/stats": _get(
            "Usage totals and per-prefix stats",
            _ok(_ref("LedgerStats")),
            [
                _query("prefixKey", _STR, "Only this prefix"),
                _query("provider", _STR, "Only this provider"),
                _query("model", _STR, "Only this model"),
                _query("agentId", _STR, "Only this agent"),
                _query("since", _TIME, "From this time, ms (needs --ledger)"),
                _query("until", _TIME, "Until this time, ms (needs --ledger)"),
            ],
            ("400", "401", "403", "503"),
        ),
        "/stats/history": _get(
            "In-process samples of the /stats totals (one per interval, bounded ring)",
            _ok(
                _obj(
                    {
                        "intervalSeconds": _NUM,
                        "samples": {"type": "array", "items": _ref("StatsSample")},
                    },
                    ("intervalSeconds", "samples"),
                )
            ),
        ),
        "/schedule": _get(
            "Keep-warm entries due now",
            _ok(_obj({"entries": {"type": "array", "items": _ref("RefreshEntry")}}, ("entries",))),
            [_query("now", _TIME, "Evaluate at this time (ms) instead of the clock")],
            ("400", "401", "403"),
        ),
        "/refreshed": _post(
            "Mark a prefix's cache as touched",
            _obj({"prefixKey": {"type": "string", "minLength": 1}, "now": _NUM}, ("prefixKey",)),
            _ok(
                _obj(
                    {"ok": {"type": "boolean"}, "refreshed": {"type": "boolean"}},
                    ("ok", "refreshed"),
                )
            ),
        ),
        "/invalidate": _post(
            "Forget matching prefixes",
            _obj({"prefixKey": _STR, "provider": {"type": "string", "enum": list(PROVIDERS)}}),
            _ok(_obj({"invalidated": _INT}, ("invalidated",))),
        ),
        "/drifts": _get(
            "Recent drift reports, oldest first",
            _ok(_obj({"drifts": {"type": "array", "items": _ref("DriftReport")}}, ("drifts",))),
            [_query("limit", _INT, "At most this many (the newest)")],
            ("400", "401", "403"),
        ),
        "/ledger/runs": {
            **_post(
                "Start a run",
                _ref("RunStart"),
                _ok(_ref("Run"), "201", "Created"),
                errors=_LEDGER_POST,
            ),
            **_get(
                "List runs, newest first",
                _ok(_ref("RunPage")),
                [
                    *run_window,
                    _query("agentId", _STR, "Only this agent"),
                    _query("provider", _STR, "Only this provider"),
                    _query("model", _STR, "Only this model"),
                    _query(
                        "status",
                        {"type": "string", "enum": ["started", "completed", "failed", "cancelled"]},
                        "Only this status",
                    ),
                    _query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size"
                    ),
                    _query("cursor", _STR, "nextCursor of the previous page"),
                ],
                _LEDGER_GET,
            ),
        },
        "/ledger/runs/{runId}": _get("One run", _ok(_ref("Run")), [_RUN_ID], _LEDGER_GET),
        "/ledger/runs/{runId}/complete": _post(
            "Complete (or fail) a run",
            _ref("RunComplete"),
            _ok(_ref("Run")),
            [_RUN_ID],
            _LEDGER_POST,
        ),
        "/ledger/runs/{runId}/events": {
            **_post(
                "Append an event to a run",
                _ref("RunEvent"),
                _ok(_ref("Run")),
                [_RUN_ID],
                _LEDGER_POST,
            ),
            **_get("A run's events in order", _ok(_ref("EventPage")), [_RUN_ID], _LEDGER_GET),
        },
        "/ledger/events": _get(
            "Events across runs",
            _ok(_ref("EventPage")),
            [
                _query("type", _STR, "Only this event type"),
                _query("runId", _STR, "Only this run"),
                _query("after", _TIME, "Only positions after this one"),
                _query("since", _TIME, "From this time (ms)"),
                _query("until", _TIME, "Until this time (ms)"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size"),
            ],
            _LEDGER_GET,
        ),
        "/ledger/stats": _get(
            "Usage statistics of runs", _ok(_ref("UsageStats")), run_window, _LEDGER_GET
        ),
        "/ledger/verify": _get(
            "Walk the hash chain", _ok(_ref("VerifyResult")), errors=("401", "403", "404", "503")
        ),
    }


def openapi_document(with_token: bool = False) -> dict[str, Any]:
    """The OpenAPI document of this server (bearer security declared when it has a token)."""
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "racs",
            "version": __version__,
            "description": "Prompt-cache planning for LLM agents, and its run ledger. Bodies "
            "use the camelCase wire form of @takk/racs. Every error is "
            '{"error": {"code", "message"}}. The dashboard (GET /) and /openapi.json are '
            "not part of this API description.",
        },
        "paths": _paths(),
        "components": {"schemas": SCHEMAS},
    }
    if with_token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc

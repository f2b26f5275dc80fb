"""The OpenAPI 3.1 document served at ``/openapi.json``, generated from the code's own types.

Bodies come from the dataclasses the engine and the ledger return (``racs.model``,
``racs.ledger.model``) and the service's envelopes (``shapes``), through pydantic's JSON
Schema generator with the wire form's camelCase names. Ledger request bodies and queries
come from the signatures of the ledger methods the routes call, so a new or renamed
parameter shows up by itself. What a type cannot say (an enum held in a tuple, "at least
one segment", "numbers are >= 0") is added from the same constants the validators use, and
the test suite checks each of those rules still names a real field.
"""

from __future__ import annotations

import copy
import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from .. import __version__, model
from ..ledger import api as ledger_api
from ..ledger import model as ledger_model
from ..ledger.validate import MAX_ID_LENGTH
from ..model import camel
from . import shapes
from .ledger_routes import EVENT_METHODS, QUERY_ALIASES, RESERVED
from .security import PUBLIC_PATHS
from .wire import MAX_BODY_BYTES, QUERY_INT_MAX

REF: Final = "#/components/schemas/{model}"
_CAMEL: Final = ConfigDict(alias_generator=camel)
MAX_NUMBER: Final = 2**53 - 1
"""Largest count, amount or duration accepted (the intake bound)."""
MAX_TOKENS: Final = 2**32 - 1
"""Largest token count of one usage record or run."""
MAX_INSTANT_MS: Final = 253_402_300_799_999
"""Latest time accepted, 9999-12-31T23:59:59.999Z in ms."""
_NONNEG: Final = {"minimum": 0, "maximum": MAX_NUMBER}
_TOKENS: Final = {"minimum": 0, "maximum": MAX_TOKENS}
_INSTANT: Final = {"minimum": 0, "maximum": MAX_INSTANT_MS}
_TEXT: Final = {"minLength": 1}

REQUEST_TYPES: Final = (
    model.PlanInput,
    model.CacheUsage,
    shapes.InvalidateFilter,
    shapes.RefreshedBody,
)
RESPONSE_TYPES: Final = (
    model.CachePlan,
    model.LintFinding,
    model.LedgerStats,
    model.RefreshEntry,
    model.DriftReport,
    ledger_model.Run,
    ledger_model.RunPage,
    ledger_model.Event,
    ledger_model.UsageStats,
    ledger_model.VerifyResult,
    shapes.Health,
    shapes.Ok,
    shapes.Refreshed,
    shapes.Invalidated,
    shapes.History,
    shapes.Error,
)

REQUEST_RULES: Final[dict[str, dict[str, dict[str, Any]]]] = {
    "PlanInput": {
        "provider": {"enum": list(model.PROVIDERS)},
        "model": _TEXT,
        "segments": {"minItems": 1},
    },
    "PromptSegment": {"id": _TEXT, "tokens": _NONNEG, "blocks": _NONNEG},
    "ExpectedReuse": {"intervalSeconds": _NONNEG, "callsPerHour": _NONNEG},
    "CacheUsage": {
        "provider": _TEXT,
        "model": _TEXT,
        "inputTokens": _TOKENS,
        "cacheReadTokens": _TOKENS,
        "cacheWriteTokens5m": _TOKENS,
        "cacheWriteTokens30m": _TOKENS,
        "cacheWriteTokens1h": _TOKENS,
        "timestamp": _INSTANT,
    },
    "InvalidateFilter": {"provider": {"enum": [*model.PROVIDERS, ""]}},  # "": no filter
    "RefreshedBody": {"prefixKey": _TEXT, "now": _INSTANT},
}
"""Validation rules no Python type carries, by schema and property (checked by a test)."""

RESPONSE_RULES: Final[dict[str, dict[str, dict[str, Any]]]] = {
    "LintFinding": {"code": {"enum": list(model.LINT_CODES)}},
}

LEDGER_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "auth_type": ledger_model.AUTH_TYPES,
    "execution_mode": ledger_model.EXECUTION_MODES,
    "compliance_mode": ledger_model.COMPLIANCE_MODES,
}
"""Ledger parameters restricted to a set of values (``status`` depends on the call)."""
LEDGER_IDENTIFIERS: Final = frozenset({"workspace_id", "agent_id", "provider", "model", "run_id"})

# --- component schemas ----------------------------------------------------------------


def _defs(types_: Iterable[Any], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
    """The named schemas of ``types_`` (and everything they contain) in camelCase."""
    # A tuple wrapper: pydantic applies a config to stdlib dataclasses only through a
    # container, and the camelCase alias generator must reach every nested dataclass.
    wrapper: Any = tuple.__class_getitem__(tuple(types_))
    adapter: TypeAdapter[Any] = TypeAdapter(wrapper, config=_CAMEL)
    schema = adapter.json_schema(mode=mode, ref_template=REF)
    defs: dict[str, Any] = schema.get("$defs", {})
    for item in defs.values():
        item.pop("title", None)
        for prop in item.get("properties", {}).values():
            prop.pop("title", None)
    return defs


def _wire_classes() -> dict[str, type[model.Wire]]:
    return {
        name: cls
        for name, cls in vars(model).items()
        if isinstance(cls, type) and issubclass(cls, model.Wire) and cls is not model.Wire
    }


def _refine(schema: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Add ``extra`` to a property schema (to its non-null branches when it is a union)."""
    branches = schema.get("anyOf")
    if branches is None:
        schema.update(extra)
        return
    for branch in branches:
        if branch.get("type") != "null":
            branch.update(extra)


def _apply_rules(defs: dict[str, Any], rules: Mapping[str, Mapping[str, Any]]) -> None:
    for name, props in rules.items():
        for prop, extra in props.items():
            _refine(defs[name]["properties"][prop], extra)


def _nullable_numbers(schema: Any) -> Any:
    """Every ``number`` may be null: the wire form writes a non-finite float as null."""
    if isinstance(schema, dict):
        if schema.get("type") == "number":
            schema = {**schema, "type": ["number", "null"]}
        return {k: _nullable_numbers(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_nullable_numbers(v) for v in schema]
    return schema


def _allows_null(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "null" or any(
        b.get("type") == "null" for b in schema.get("anyOf", ())
    )


def _response_defs() -> dict[str, Any]:
    defs = _defs(RESPONSE_TYPES, "serialization")
    for name, cls in _wire_classes().items():
        schema = defs.get(name)
        if schema is None:
            continue
        # Wire.to_dict omits a None field rather than writing null.
        props = schema.get("properties", {})
        schema["required"] = [p for p in schema.get("required", []) if not _allows_null(props[p])]
        if cls._tag is not None:
            tag, value = cls._tag
            schema["properties"] = {tag: {"const": value}, **props}
            schema["required"] = [tag, *schema["required"]]
    _apply_rules(defs, RESPONSE_RULES)
    result: dict[str, Any] = _nullable_numbers(defs)
    return result


LEDGER_USAGE_COUNTS: Final = (
    "inputTokens",
    "cacheReadTokens",
    "cacheWriteTokens5m",
    "cacheWriteTokens30m",
    "cacheWriteTokens1h",
)
"""CacheUsage counts a ledger stores as whole numbers: integers when the engine has one."""


def _request_defs(ledger: bool) -> dict[str, Any]:
    defs = _defs(REQUEST_TYPES, "validation")
    _apply_rules(defs, REQUEST_RULES)
    if ledger:
        for name in LEDGER_USAGE_COUNTS:
            _refine(defs["CacheUsage"]["properties"][name], {"type": "integer"})
    # The segment must carry text to hash or a hash (an empty hash counts as none).
    defs["PromptSegment"]["anyOf"] = [
        {"required": ["content"], "properties": {"content": {"type": "string"}}},
        {"required": ["contentHash"], "properties": {"contentHash": {"type": "string", **_TEXT}}},
    ]
    for name in ("PlanInput", "PromptSegment", "ExpectedReuse", "CacheUsage"):
        defs[name]["description"] = (
            defs[name].get("description", "") + " Other fields are ignored."
        ).strip()
    return defs


# --- ledger calls ----------------------------------------------------------------------


def _json_type(annotation: Any) -> Any:
    """The annotation without members JSON cannot carry (an exception object)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [
            a
            for a in typing.get_args(annotation)
            if not (isinstance(a, type) and issubclass(a, BaseException))
        ]
        return functools.reduce(operator.or_, members)
    return annotation


def _ledger_rules(name: str, status: tuple[str, ...] | None) -> dict[str, Any]:
    """What the ledger's validators require of parameter ``name`` beyond its type."""
    if name in LEDGER_CHOICES:
        return {"enum": list(LEDGER_CHOICES[name])}
    if name == "status" and status is not None:
        return {"enum": list(status)}
    if name in LEDGER_IDENTIFIERS:
        return {**_TEXT, "maxLength": MAX_ID_LENGTH}
    return {}


def _parameters(
    method: Callable[..., Any], reserved: frozenset[str] = RESERVED
) -> list[tuple[str, Any, Any]]:
    """(name, JSON-able annotation, default) of each parameter a client may send."""
    hints = typing.get_type_hints(method)
    out = []
    for param in inspect.signature(method).parameters.values():
        if param.name in reserved or param.name == "pricing":
            continue
        out.append((param.name, _json_type(hints[param.name]), param.default))
    return out


def _body_model(
    title: str,
    method: Callable[..., Any],
    *,
    status: tuple[str, ...] | None = None,
    kind: tuple[str, ...] | None = None,
) -> type[BaseModel]:
    """A pydantic model of the JSON body that becomes ``method``'s keyword arguments."""
    fields: dict[str, Any] = {}
    if kind is not None:
        fields["type"] = (Literal[kind], ...)
    for name, annotation, default in _parameters(method):
        required = default is inspect.Parameter.empty
        fields[name] = (annotation, ... if required else default)
    return create_model(
        title,
        __config__=ConfigDict(alias_generator=camel, extra="forbid"),
        __doc__=(inspect.getdoc(method) or "").split("\n", 1)[0],
        **fields,
    )


def _ledger_body_rules(
    defs: dict[str, Any], title: str, method: Callable[..., Any], status: tuple[str, ...] | None
) -> None:
    props = defs[title]["properties"]
    for name, _, _ in _parameters(method):
        prop = props[camel(name)]
        prop.pop("title", None)
        rules = _ledger_rules(name, status)
        branches = prop.get("anyOf", [prop])
        if any(b.get("type") == "integer" for b in branches):
            rules = {**rules, **_TOKENS}  # the ledger's counts are token counts
        elif any(b.get("type") == "number" for b in branches):
            rules = {**rules, **_NONNEG}  # amounts and durations
        if any(b.get("type") == "string" for b in branches) and not rules:
            rules = _TEXT
        _refine(prop, rules)


def _ledger_request_defs() -> tuple[dict[str, Any], list[str]]:
    """RunStart, RunComplete and one schema per event kind (the names of the latter)."""
    recorder = ledger_api.Ledger
    bodies: list[tuple[str, Callable[..., Any], tuple[str, ...] | None, tuple[str, ...] | None]]
    bodies = [
        ("RunStart", recorder.start_run, None, None),
        ("RunComplete", recorder.complete_run, ledger_model.END_STATUSES, None),
    ]
    kinds: dict[str, list[str]] = {}
    for kind, method_name in EVENT_METHODS.items():
        kinds.setdefault(method_name, []).append(kind)
    event_names = []
    for method_name, names in kinds.items():
        title = "Event" + "".join(part.title() for part in method_name.split("_"))
        bodies.append((title, getattr(recorder, method_name), None, tuple(names)))
        event_names.append(title)
    models = [_body_model(t, m, status=s, kind=k) for t, m, s, k in bodies]
    _, schema = TypeAdapter.json_schemas(
        [(m, "validation", TypeAdapter(m)) for m in models], ref_template=REF
    )
    defs: dict[str, Any] = schema.get("$defs", {})
    for title, method, status, _ in bodies:
        defs[title].pop("title", None)
        _ledger_body_rules(defs, title, method, status)
        if "type" in defs[title]["properties"]:
            defs[title]["properties"]["type"].pop("title", None)
    # The ledger records an error (a code and a message) only for a failed run.
    _refine(
        defs["RunComplete"]["properties"]["error"],
        {
            "properties": {
                "code": {"type": "string", **_TEXT},
                "message": {"type": "string", **_TEXT},
            },
            "required": ["code", "message"],
        },
    )
    defs["RunComplete"]["if"] = {
        "required": ["error"],
        "properties": {"error": {"type": "object"}},
    }
    defs["RunComplete"]["then"] = {
        "required": ["status"],
        "properties": {"status": {"const": "failed"}},
    }
    return defs, event_names


def _query_schema(name: str, annotation: Any, method_name: str) -> dict[str, Any]:
    members = set(typing.get_args(annotation)) or {annotation}
    members.discard(type(None))
    if name == "limit":
        maximum = ledger_api.MAX_EVENTS if method_name == "query_events" else ledger_api.MAX_PAGE
        return {"type": "integer", "minimum": 1, "maximum": maximum}
    if members & {int, ledger_api.Instant}:
        return {"type": "integer", "minimum": 0, "maximum": QUERY_INT_MAX}
    if members == {bool}:
        return {"type": "boolean"}
    schema: dict[str, Any] = {"type": "string"}
    if name == "status":
        schema["enum"] = list(ledger_model.RUN_STATUSES)
    elif name in LEDGER_CHOICES:
        schema["enum"] = list(LEDGER_CHOICES[name])
    elif name in LEDGER_IDENTIFIERS:
        schema["maxLength"] = MAX_ID_LENGTH
    return schema


def _ledger_query(method_name: str) -> list[dict[str, Any]]:
    """The query parameters of a ledger listing: the method's own keyword arguments."""
    method = getattr(ledger_api.Ledger, method_name)
    aliases = {snake: wire for wire, snake in QUERY_ALIASES.items()}
    out = []
    for name, annotation, _ in _parameters(method, frozenset({"self"})):
        wire = aliases.get(name, camel(name))
        out.append(_param(wire, _query_schema(name, annotation, method_name)))
    return out


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


def _integer(description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": QUERY_INT_MAX, "description": description}


def _paths(event_kinds: list[str]) -> dict[str, Any]:
    stats_params = [
        _param("prefixKey", {"type": "string"}),
        _param("provider", {"type": "string"}),
        _param("model", {"type": "string"}),
        _param("agentId", {"type": "string"}),
        _param("since", _integer("from this time, ms (needs --ledger)")),
        _param("until", _integer("until this time, ms (needs --ledger)")),
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
                _ref("LedgerStats"),
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
        "/ledger/runs": {
            "post": _operation(
                "Start a run", _ref("Run"), _LEDGER_POST, status="201", body=_ref("RunStart")
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
    }


@functools.cache
def _document(ledger: bool) -> dict[str, Any]:
    ledger_defs, event_kinds = _ledger_request_defs()
    schemas = {**_response_defs()}
    for name, schema in (*_request_defs(ledger).items(), *ledger_defs.items()):
        if name in schemas and schemas[name] != schema:
            raise AssertionError(f"schema {name} differs between requests and responses")
        schemas[name] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "racs",
            "version": __version__,
            "description": "Prompt-cache planning for LLM agents, and its run ledger. Bodies "
            "use the camelCase wire form of @takk/racs. Every error is "
            '{"error": {"code", "message"}}; a wrong method is 405. The dashboard (GET /) and '
            "/openapi.json are not part of this API description.",
        },
        "paths": _paths(event_kinds),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def openapi_document(with_token: bool = False, *, ledger: bool = False) -> dict[str, Any]:
    """The OpenAPI document of a server: bearer security declared when it has a token,
    whole-number usage counts when its engine records into a ledger."""
    doc = copy.deepcopy(_document(ledger))
    if with_token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
        for path in PUBLIC_PATHS & doc["paths"].keys():
            doc["paths"][path]["get"]["security"] = []  # served without the bearer
    return doc

"""JSON Schemas of the service's bodies, generated from the code's own types.

Bodies come from the dataclasses the engine and the ledger return (``racs.core.model``,
``racs.ledger.model``) and the service's envelopes (``shapes``), through pydantic's JSON
Schema generator with the wire form's camelCase names. Ledger request bodies and queries
come from the signatures of the ledger methods the routes call, so a new or renamed
parameter shows up by itself. What a type cannot say (an enum held in a tuple, "at least
one segment", "numbers are >= 0") is added from the same constants the validators use, and
the test suite checks each of those rules still names a real field.
"""

from __future__ import annotations

import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from racs.core import model
from racs.core.facts import PROVIDERS
from racs.core.limits import MAX_INSTANT_MS, MAX_NUMBER, MAX_TOKENS
from racs.core.model import camel
from racs.ledger import api as ledger_api
from racs.ledger import model as ledger_model
from racs.ledger.validate import MAX_ID_LENGTH
from racs.server import shapes
from racs.server.ledger_routes import EVENT_METHODS, QUERY_ALIASES, RESERVED

REF: Final = "#/components/schemas/{model}"
_CAMEL: Final = ConfigDict(alias_generator=camel)
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
    model.CacheStats,
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
        "provider": {"enum": list(PROVIDERS)},
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
    "InvalidateFilter": {"provider": {"enum": [*PROVIDERS, ""]}},  # "": no filter
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
LEDGER_IDENTIFIERS: Final = frozenset(
    {"workspace_id", "agent_id", "provider", "model", "run_id", "idempotency_key"}
)
LEDGER_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "start_run": ("workspace_id", "agent_id", "provider", "model"),
}
"""Keywords a ledger call requires although their default is None (the seed's options
mapping may supply them instead, which the service does not offer)."""

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
        # Token counts and times (``model.Count``) are written as JSON integers.
        for field in model.whole_fields(cls):
            _integer(props[camel(field)])
    _apply_rules(defs, RESPONSE_RULES)
    result: dict[str, Any] = _nullable_numbers(defs)
    return result


def _integer(schema: dict[str, Any]) -> None:
    """Retype a number schema (or the number branches of a union) as integer."""
    if schema.get("type") == "number":
        schema["type"] = "integer"
    for branch in schema.get("anyOf", ()):
        _integer(branch)


def _request_defs() -> dict[str, Any]:
    # Token counts are taken as any number (as @takk/racs does) and rounded to whole tokens
    # where they enter the engine, so requests say number whether or not there is a ledger.
    defs = _defs(REQUEST_TYPES, "validation")
    _apply_rules(defs, REQUEST_RULES)
    # The segment must carry text to hash or a hash (an empty hash counts as none).
    defs["PromptSegment"]["anyOf"] = [
        {"required": ["content"], "properties": {"content": {"type": "string"}}},
        {"required": ["contentHash"], "properties": {"contentHash": {"type": "string", **_TEXT}}},
    ]
    for name in ("PlanInput", "PromptSegment", "ExpectedReuse", "CacheUsage"):
        defs[name]["description"] = (
            defs[name].get("description", "") + " Other fields are ignored."
        ).strip()
    # The engine's parsers read an optional field given as null as absent.
    for schema in defs.values():
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            if name not in required and not _allows_null(prop):
                default = prop.pop("default", None)
                schema["properties"][name] = {"anyOf": [prop, {"type": "null"}]}
                if default is not None:
                    schema["properties"][name]["default"] = default
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


def _not_none(annotation: Any) -> Any:
    """``annotation`` without its ``None`` member."""
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    return functools.reduce(operator.or_, members) if members else annotation


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
        # Positional-only parameters (the seed-style options mapping) are never JSON fields.
        if param.kind is param.POSITIONAL_ONLY or param.name in reserved or param.name == "pricing":
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
        if name in LEDGER_REQUIRED.get(method.__name__, ()):
            fields[name] = (_not_none(annotation), ...)
        elif default is inspect.Parameter.empty:
            fields[name] = (annotation, ...)
        else:
            fields[name] = (annotation, default)
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
    if date in members:  # an Instant: ms since the epoch over HTTP
        return {"type": "integer", **_INSTANT}
    if int in members:
        return {"type": "integer", **_NONNEG}
    if members == {bool}:
        return {"type": "boolean"}
    schema: dict[str, Any] = {"type": "string"}
    # An empty query value is no filter.
    if name == "status":
        schema["enum"] = [*ledger_model.RUN_STATUSES, ""]
    elif name in LEDGER_CHOICES:
        schema["enum"] = [*LEDGER_CHOICES[name], ""]
    elif name in LEDGER_IDENTIFIERS:
        schema["maxLength"] = MAX_ID_LENGTH
    return schema


def ledger_query(method_name: str) -> list[tuple[str, dict[str, Any]]]:
    """(wire name, schema) of each query parameter of a ledger listing: the method's own
    keyword arguments."""
    method = getattr(ledger_api.Ledger, method_name)
    aliases = {snake: wire for wire, snake in QUERY_ALIASES.items()}
    out = []
    for name, annotation, _ in _parameters(method, frozenset({"self"})):
        wire = aliases.get(name, camel(name))
        out.append((wire, _query_schema(name, annotation, method_name)))
    return out


@functools.cache
def component_schemas() -> tuple[dict[str, Any], tuple[str, ...]]:
    """Every named schema of the API (sorted), and the names of the run event bodies."""
    ledger_defs, event_kinds = _ledger_request_defs()
    schemas = {**_response_defs()}
    for name, schema in (*_request_defs().items(), *ledger_defs.items()):
        if name in schemas and schemas[name] != schema:
            raise AssertionError(f"schema {name} differs between requests and responses")
        schemas[name] = schema
    return dict(sorted(schemas.items())), tuple(event_kinds)

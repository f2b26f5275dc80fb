"""Request parsing and response shaping shared by the routes: JSON bodies, query values,
and the camelCase wire form of ledger values."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from starlette.requests import ClientDisconnect, Request

from racs.core.errors import RacsError, invalid
from racs.core.limits import MAX_INSTANT_MS, number
from racs.core.model import camel
from racs.server.errors import ERR_INVALID_JSON, ERR_PAYLOAD_TOO_LARGE, ERR_UNSUPPORTED_MEDIA_TYPE

MAX_BODY_BYTES: Final = 1_048_576
"""Largest accepted request body (1 MB); one byte more is 413."""
QUERY_INT_MAX: Final = 10**18 - 1
"""Largest integer query value (18 digits)."""

OPAQUE_KEYS: Final = frozenset({"metadata", "payload"})
"""Caller-owned JSON whose keys the server passes through untouched."""

_UPPER = re.compile(r"(?<=[a-z0-9])([A-Z])")
_DIGITS = re.compile(r"(?<=[a-z])(\d)")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def is_json_media_type(header: str) -> bool:
    """True for ``application/json``, with or without parameters such as charset."""
    return header.split(";", 1)[0].strip().lower() == "application/json"


async def read_body(request: Request) -> bytes:
    """The raw body of a JSON request: 415 unless application/json, 413 past the limit.

    The limit is checked while the body streams in, so a liar's Content-Length or an
    endless chunked body costs at most the limit in memory.
    """
    if not is_json_media_type(request.headers.get("content-type", "")):
        raise RacsError(ERR_UNSUPPORTED_MEDIA_TYPE, "request body must be application/json")
    limit: int = getattr(request.app.state, "max_body", MAX_BODY_BYTES)
    too_large = RacsError(ERR_PAYLOAD_TOO_LARGE, f"request body exceeds {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:  # nobody to answer; not a server fault worth a stack trace
        raise invalid("the client disconnected before the body ended") from None
    return b"".join(chunks)


async def read_json(request: Request, *, empty: Any = None) -> Any:
    """The request body as JSON; malformed JSON (or NaN/Infinity) is ERR_INVALID_JSON.

    ``empty``, when given, is the value of an empty body (still application/json: a
    body-less cross-site form post must not reach the engine).
    """
    body = await read_body(request)
    if empty is not None and not body.strip():
        return empty
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise RacsError(ERR_INVALID_JSON, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RacsError(ERR_INVALID_JSON, f"malformed JSON: {exc}") from None


async def read_object(request: Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}`` when ``empty_ok``)."""
    data = await read_json(request, empty={} if empty_ok else None)
    if not isinstance(data, dict):
        raise invalid(f"request body must be a JSON object, got {_json_type(data)}")
    return data


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def optional_str(data: Mapping[str, Any], name: str) -> str | None:
    """A string field that may be absent or null."""
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    return value


def optional_time(data: Mapping[str, Any], name: str) -> float | None:
    """A body field holding milliseconds since the epoch (up to year 9999), or None."""
    ms = number(data.get(name), name, optional=True)
    if ms is not None and ms > MAX_INSTANT_MS:
        raise invalid(f"{name} must be ms since the epoch up to {MAX_INSTANT_MS} (year 9999)")
    return ms


def query_int(request: Request, name: str, *, minimum: int = 0) -> int | None:
    """An integer query parameter (absent -> None; present but empty is refused)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(QUERY_INT_MAX)):
        raise invalid(f"query parameter {name} must be an integer >= {minimum}")
    value = int(raw)
    if value < minimum:
        raise invalid(f"query parameter {name} must be an integer >= {minimum}")
    return value


def query_bool(request: Request, name: str) -> bool | None:
    """A boolean query parameter: true/false/1/0 (absent -> None; empty is refused)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise invalid(f"query parameter {name} must be true or false")


def snake(name: str) -> str:
    """camelCase -> snake_case (``cacheWriteTokens5m`` -> ``cache_write_tokens_5m``)."""
    return _DIGITS.sub(r"_\1", _UPPER.sub(r"_\1", name)).lower()


def camelize(value: Any) -> Any:
    """A ledger value (or its snake_case dict) in the camelCase wire form."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {camel(str(k)): (v if k in OPAQUE_KEYS else camelize(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [camelize(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

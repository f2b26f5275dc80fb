"""The one table from error codes to HTTP statuses, and the JSON error body.

Every refusal the server makes, whether raised by the engine or the ledger (``RacsError``)
or decided by the server itself (Host, bearer, media type, size, JSON), leaves through
``error_response`` so clients always see ``{"error": "<message>", "code": "ERR_..."}``: the
reference's ``{"error": "<message>"}``, which its clients read, plus the machine code.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from racs.core.errors import (
    ERR_CLOSED,
    ERR_CONFLICT,
    ERR_INVALID_INPUT,
    ERR_NOT_FOUND,
    ERR_STATE_IO,
    ERR_STATE_VERSION,
    ERR_STORAGE,
    RacsError,
)

log = logging.getLogger("racs.server")

ERR_INVALID_JSON: Final = "ERR_INVALID_JSON"
ERR_UNAUTHORIZED: Final = "ERR_UNAUTHORIZED"
ERR_FORBIDDEN_HOST: Final = "ERR_FORBIDDEN_HOST"
ERR_UNSUPPORTED_MEDIA_TYPE: Final = "ERR_UNSUPPORTED_MEDIA_TYPE"
ERR_PAYLOAD_TOO_LARGE: Final = "ERR_PAYLOAD_TOO_LARGE"
ERR_METHOD_NOT_ALLOWED: Final = "ERR_METHOD_NOT_ALLOWED"
ERR_NO_LEDGER: Final = "ERR_NO_LEDGER"
ERR_INTERNAL: Final = "ERR_INTERNAL"

STATUS: Final[dict[str, int]] = {
    ERR_INVALID_INPUT: 400,
    ERR_INVALID_JSON: 400,
    ERR_UNAUTHORIZED: 401,
    ERR_FORBIDDEN_HOST: 403,
    ERR_NOT_FOUND: 404,
    ERR_NO_LEDGER: 404,
    ERR_METHOD_NOT_ALLOWED: 405,
    ERR_CONFLICT: 409,
    ERR_PAYLOAD_TOO_LARGE: 413,
    ERR_UNSUPPORTED_MEDIA_TYPE: 415,
    ERR_INTERNAL: 500,
    ERR_STATE_VERSION: 500,
    ERR_STATE_IO: 503,
    ERR_STORAGE: 503,
    ERR_CLOSED: 503,
}
"""HTTP status of each error code; a code missing here is a server fault (500)."""

_HTTP_CODES: Final[dict[int, str]] = {
    400: ERR_INVALID_INPUT,
    404: ERR_NOT_FOUND,
    405: ERR_METHOD_NOT_ALLOWED,
}


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused (the wire form has none)."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class JSONBody(Response):
    """A JSON response rendered with ``dumps``."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as compact JSON."""
        return dumps(content)


def error_body(code: str, message: str) -> bytes:
    """The JSON error body every refusal carries (@takk/racs's, plus ``code``)."""
    return dumps({"error": message, "code": code})


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON error response with the status the table gives ``code``."""
    return Response(
        error_body(code, message),
        status_code=STATUS.get(code, 500),
        headers=headers,
        media_type="application/json",
    )


def racs_error_response(exc: RacsError) -> Response:
    """Translate an engine or ledger error; server-side faults hide their detail."""
    status = STATUS.get(exc.code, 500)
    if status >= 500:
        # Storage and state faults may name paths or drivers: log them, tell the client less.
        log.error("racs server: %s", exc)
        return error_response(exc.code, "the server could not complete the request")
    return error_response(exc.code, exc.message)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route, wrong method) in the JSON error shape."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, ERR_INVALID_INPUT)
    headers = dict(exc.headers) if exc.headers else None
    response = error_response(code, str(exc.detail), headers)
    response.status_code = exc.status_code
    return response


async def racs_exception_handler(request: Request, exc: Exception) -> Response:
    """A RacsError escaping a handler."""
    assert isinstance(exc, RacsError)
    return racs_error_response(exc)


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    """The catch-all: a JSON 500 without a stack trace (the trace goes to the log only)."""
    log.error(
        "racs server: unexpected %s on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return error_response(ERR_INTERNAL, "internal server error")

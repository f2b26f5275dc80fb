"""The request gate, a pure ASGI middleware: Host, bearer token, CORS.

Order matters: the Host check (no token) and the CORS preflight come first, then the
bearer check. The body rules (media type, size) are applied by the route when it reads the
body (``wire.read_body``), after routing, so a wrong method is a 405 whatever the body, and
an unauthenticated client still learns nothing about what the body would have done.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from racs.core.errors import ERR_INVALID_INPUT
from racs.server.errors import ERR_FORBIDDEN_HOST, ERR_UNAUTHORIZED, STATUS, error_body

LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})

PUBLIC_PATHS: Final = frozenset({"/", "/favicon.ico", "/healthz"})
"""The dashboard shell (static, data-free, so a browser can load it before it has the token)
and the health check (as in @takk/racs, so load balancers need no secret)."""
PUBLIC_PREFIX: Final = "/static/"

_CORS_METHODS: Final = "GET, POST, OPTIONS"
_CORS_HEADERS: Final = "Authorization, Content-Type"


def host_name(header: str) -> str:
    """The host of a Host header value, port stripped and IPv6 brackets removed."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value  # a bare IPv6 address without brackets, or no port at all


class SecurityMiddleware:
    """Enforce the posture of surfaces.md section 2 before any route runs."""

    def __init__(
        self, app: ASGIApp, token: str | None = None, cors_origin: str | None = None
    ) -> None:
        self.app = app
        self._token = f"Bearer {token}".encode() if token else None
        # CORS only when both are set: without a token any page could drive the engine.
        self._cors = cors_origin.encode("latin-1") if token and cors_origin else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Gate one HTTP request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        if sum(1 for name, _ in raw_headers if name == b"host") > 1:
            # Proxies and this server could pick different ones: refuse the ambiguity.
            await _refuse(send, ERR_INVALID_INPUT, "more than one Host header")
            return
        headers = _headers(raw_headers)
        method: str = scope["method"]
        path: str = scope["path"]
        if self._token is None:
            host = headers.get(b"host", b"").decode("latin-1")
            if host_name(host) not in LOOPBACK_HOSTS:
                await _refuse(
                    send, ERR_FORBIDDEN_HOST, "Host header must be localhost, 127.0.0.1 or ::1"
                )
                return
        if method == "OPTIONS" and self._cors is not None:
            # Preflights carry no credentials; the answer names the one allowed origin.
            await self._preflight(send)
            return
        if self._cors is not None:
            # On every response, whatever the Origin, as @takk/racs does: the browser
            # compares the named origin with the page's, so naming it to others leaks nothing.
            send = self._with_cors(send)
        if self._token is not None and not _is_public(method, path):
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self._token):
                await _refuse(
                    send,
                    ERR_UNAUTHORIZED,
                    "missing or wrong bearer token",
                    [(b"www-authenticate", b'Bearer realm="racs"')],
                )
                return
        await self.app(scope, receive, send)

    async def _preflight(self, send: Send) -> None:
        assert self._cors is not None
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", self._cors),
                    (b"access-control-allow-methods", _CORS_METHODS.encode()),
                    (b"access-control-allow-headers", _CORS_HEADERS.encode()),
                    (b"access-control-max-age", b"600"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    def _with_cors(self, send: Send) -> Send:
        origin = self._cors
        assert origin is not None

        async def cors_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", origin),
                ]
            await send(message)

        return cors_send


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    # ASGI servers give lowercase names; the first occurrence wins.
    out: dict[bytes, bytes] = {}
    for name, value in raw:
        out.setdefault(name, value)
    return out


def _is_public(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") and (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX))


async def _refuse(
    send: Send, code: str, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": STATUS[code],
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

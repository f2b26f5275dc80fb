"""The request gate, a pure ASGI middleware: Host, bearer token, media type, size, CORS.

Order matters: the Host check (no token) and the CORS preflight come first, then the
bearer check, then the body rules, so an unauthenticated client learns nothing about what
the body would have done.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import (
    ERR_FORBIDDEN_HOST,
    ERR_PAYLOAD_TOO_LARGE,
    ERR_UNAUTHORIZED,
    ERR_UNSUPPORTED_MEDIA_TYPE,
    STATUS,
    error_body,
)

MAX_BODY_BYTES: Final = 1_048_576
"""Largest accepted request body (1 MB); one byte more is 413."""

LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})

PUBLIC_PATHS: Final = frozenset({"/", "/favicon.ico"})
"""The dashboard shell: static, data-free, so a browser can load it before it has the token."""
PUBLIC_PREFIX: Final = "/static/"

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
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


def is_json_media_type(header: str) -> bool:
    """True for ``application/json``, with or without parameters such as charset."""
    return header.split(";", 1)[0].strip().lower() == "application/json"


class SecurityMiddleware:
    """Enforce the posture of surfaces.md section 2 before any route runs."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None = None,
        cors_origin: str | None = None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self._token = f"Bearer {token}".encode() if token else None
        # CORS only when both are set: without a token any page could drive the engine.
        self._cors = cors_origin.encode("latin-1") if token and cors_origin else None
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Gate one HTTP request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope["headers"])
        method: str = scope["method"]
        path: str = scope["path"]
        if self._token is None:
            host = headers.get(b"host", b"").decode("latin-1")
            if host_name(host) not in LOOPBACK_HOSTS:
                await _refuse(
                    send, ERR_FORBIDDEN_HOST, "Host header must be localhost, 127.0.0.1 or ::1"
                )
                return
        origin_ok = self._cors is not None and headers.get(b"origin") == self._cors
        if method == "OPTIONS" and origin_ok and b"access-control-request-method" in headers:
            await self._preflight(send)
            return
        if origin_ok:
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
        if method in _BODY_METHODS:
            if not is_json_media_type(headers.get(b"content-type", b"").decode("latin-1")):
                await _refuse(
                    send, ERR_UNSUPPORTED_MEDIA_TYPE, "request body must be application/json"
                )
                return
            body = await self._read_body(receive, headers, send)
            if body is None:
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_body(
        self, receive: Receive, headers: dict[bytes, bytes], send: Send
    ) -> bytes | None:
        """The whole body, or None after answering 413 (checked while it streams in)."""
        too_large = f"request body exceeds {self._max_body} bytes"
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            await _refuse(send, ERR_PAYLOAD_TOO_LARGE, too_large)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                await _refuse(send, ERR_PAYLOAD_TOO_LARGE, too_large)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

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
                    (b"vary", b"Origin"),
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
                    (b"vary", b"Origin"),
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


def _replay(body: bytes, upstream: Receive) -> Receive:
    """A receive callable that yields the already-read body once, then defers upstream."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()  # only a disconnect can come after the whole body

    return receive


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

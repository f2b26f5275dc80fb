"""Connection limits for ``racs serve``: a header deadline, a header size cap, a connection cap.

uvicorn has a keep-alive timeout and ``limit_concurrency``, but no deadline for reading a
request's headers (any byte cancels its keep-alive timer) and no cap on open connections:
``limit_concurrency`` answers 503 to everyone once trickling connections fill it (measured:
7 of 20 health checks under 300 tricklers), and without a cap they exhaust the file
descriptors. Nothing in uvicorn or starlette offers
these, so this module adds them to uvicorn's httptools protocol through its parser hooks.
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT: Final = 10.0
"""Seconds a client has to send a request's headers, from connect or the previous response."""
DEFAULT_KEEP_ALIVE: Final = 5
"""Seconds an idle keep-alive connection stays open."""
DEFAULT_MAX_CONNECTIONS: Final = 1000
MAX_HEADER_BYTES: Final = 65_536
"""Bytes of request line and headers accepted before the headers end; more is 431."""
_FD_RESERVE: Final = 64
"""Descriptors kept free for the ledger, the state file and the listening socket."""


@dataclass(frozen=True)
class Limits:
    """The connection limits of one server."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    keep_alive: int = DEFAULT_KEEP_ALIVE
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_header_bytes: int = MAX_HEADER_BYTES

    def effective_max_connections(self) -> int:
        """``max_connections``, lowered so open connections never exhaust the fd limit."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - _FD_RESERVE))


def uvicorn_settings(limits: Limits) -> dict[str, Any]:
    """The ``uvicorn.Config`` keyword arguments that enforce ``limits``."""
    cap = limits.effective_max_connections()
    return {
        "http": guarded_protocol(limits.header_timeout, cap, limits.max_header_bytes),
        "timeout_keep_alive": limits.keep_alive,
        # Not uvicorn's limit_concurrency: it counts connections still closing (evicted
        # tricklers) and answers 503 to the very clients the cap makes room for. Requests
        # in flight are bounded anyway: one task per connection, pipelined ones queue.
        "limit_concurrency": None,
        "backlog": min(2048, cap),
        "ws": "none",  # no websocket routes: an Upgrade is not another way in
    }


def guarded_protocol(
    header_timeout: float, max_connections: int, max_header_bytes: int
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the three limits built in."""

    class GuardedProtocol(HttpToolsProtocol):
        """Closes connections that are slow to send headers; evicts the oldest idle one
        when a new connection would pass the cap."""

        _deadline: asyncio.TimerHandle | None = None
        _header_bytes = 0
        _reading_headers = True
        _opened = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._opened = self.loop.time()
            self._arm()
            live = [c for c in self.connections if not c.transport.is_closing()]
            if len(live) > max_connections:
                _evict(live, self)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # Counted after parsing: only bytes of a request whose headers have not ended
            # yet (a body arriving in the same read as its headers is not header bytes).
            if self._reading_headers and self._waiting() and not self.transport.is_closing():
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes:
                    self._refuse_431()

        def on_headers_complete(self) -> None:
            self._disarm()
            self._reading_headers = False
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def _waiting(self) -> bool:
            """No request is being served: the connection is idle or reading headers."""
            return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

        def _arm(self) -> None:
            self._disarm()
            self._header_bytes = 0
            self._reading_headers = True
            self._deadline = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self._waiting() and not self.transport.is_closing():
                self.transport.close()

        def _refuse_431(self) -> None:
            self._disarm()
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-length: 0\r\nconnection: close\r\n\r\n"
            )
            self.transport.close()

    return GuardedProtocol


def _evict(connections: list[Any], newcomer: Any) -> None:
    """Close the oldest connection serving no request (the newcomer only if it is the one).

    Requests in flight are never cut; a trickling attacker's connections are the oldest
    idle ones, so a fresh client still gets its turn.
    """
    idle = [c for c in connections if c is not newcomer and c._waiting()]
    victim = min(idle, key=lambda c: c._opened) if idle else newcomer
    victim._disarm()
    victim.transport.close()

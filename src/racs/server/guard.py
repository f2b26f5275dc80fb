"""Connection limits for ``racs serve``: header and body deadlines, a header size cap, a
connection cap that evicts the slowest clients.

uvicorn has a keep-alive timeout and ``limit_concurrency``, but no deadline for reading a
request's headers (any byte cancels its keep-alive timer) or its body, and no cap on open
connections: ``limit_concurrency`` answers 503 to everyone once trickling connections fill
it (measured: 7 of 20 health checks under 300 tricklers), and without a cap they exhaust
the file descriptors. Nothing in uvicorn or starlette offers these, so this module adds
them to uvicorn's httptools protocol through its parser hooks.

Each connection is in one phase: waiting for a request (idle, or its headers arriving),
receiving a body, or being served. One sweep per server, a few times per deadline, closes
connections past their phase's deadline, so a request costs no timer of its own.
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT: Final = 10.0
"""Seconds a client has to send a request's headers, from connect or the previous response."""
DEFAULT_KEEP_ALIVE: Final = 5
"""Seconds an idle keep-alive connection stays open."""
DEFAULT_BODY_TIMEOUT: Final = 10.0
"""Seconds a request body may take beyond what the minimum rate earns it."""
DEFAULT_MIN_BODY_RATE: Final = 1000
"""Bytes per second that keep a body's deadline moving: each this many bytes earn a second."""
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
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    min_body_rate: int = DEFAULT_MIN_BODY_RATE

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
        "http": guarded_protocol(limits, cap),
        "timeout_keep_alive": limits.keep_alive,
        # Not uvicorn's limit_concurrency: it counts connections still closing (evicted
        # tricklers) and answers 503 to the very clients the cap makes room for. Requests
        # in flight are bounded anyway: one task per connection, pipelined ones queue.
        "limit_concurrency": None,
        "backlog": min(2048, cap),
        "ws": "none",  # no websocket routes: an Upgrade is not another way in
    }


class Phase(Enum):
    """Where a connection is in its current request."""

    WAITING = "waiting"
    """Idle, or the request line and headers arriving."""
    BODY = "body"
    """Headers complete, the body arriving."""
    SERVED = "served"
    """The whole request arrived; the application is answering it."""


_REQUEST_TIMEOUT: Final = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


def guarded_protocol(limits: Limits, max_connections: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the limits built in."""
    header_timeout = limits.header_timeout
    body_timeout = limits.body_timeout
    min_rate = float(limits.min_body_rate)
    max_header_bytes = limits.max_header_bytes
    interval = min(1.0, max(0.05, min(header_timeout, body_timeout) / 4))
    grace = min(1.0, header_timeout / 2)  # a silent new connection's time to speak
    # Connections briefly past the cap while new ones get to speak; within the 64
    # descriptors effective_max_connections keeps free.
    slack = min(_FD_RESERVE // 2, max(4, max_connections // 4))

    class GuardedProtocol(HttpToolsProtocol):
        """Closes connections slow to send headers or a body; when a new connection would
        pass the cap, evicts the one that has waited longest for its request to arrive."""

        _phase = Phase.WAITING
        _since = 0.0
        """Loop time the current phase began."""
        _received = 0
        """Bytes received in the current phase (headers while waiting, body after)."""
        _sweep: asyncio.TimerHandle | None = None
        """The server's one sweep (a class attribute: one class per server)."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._enter(Phase.WAITING)
            cls = type(self)
            if cls._sweep is None:
                sweep = cls._run_sweep
                cls._sweep = self.loop.call_later(interval, sweep, self.loop, self.connections)
            live = [c for c in self.connections if not c.transport.is_closing()]
            if len(live) > max_connections:
                _evict(live, self, self.loop.time(), grace, max_connections, slack)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # Counted after parsing: only bytes of a request whose headers have not ended
            # yet (a body arriving in the same read as its headers is not header bytes).
            if self._phase is Phase.WAITING and self._waiting():
                self._received += len(data)
                if self._received > max_header_bytes and not self.transport.is_closing():
                    self._refuse(
                        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                        b"content-length: 0\r\nconnection: close\r\n\r\n"
                    )

        def on_headers_complete(self) -> None:
            self._enter(Phase.BODY)
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            self._received += len(body)
            super().on_body(body)

        def on_message_complete(self) -> None:
            self._enter(Phase.SERVED)
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # A pipelined request may have started: then this connection is still busy.
            if self._waiting() and not self.transport.is_closing():
                self._enter(Phase.WAITING)

        def _enter(self, phase: Phase) -> None:
            self._phase = phase
            self._since = self.loop.time()
            self._received = 0

        def _waiting(self) -> bool:
            """No request is being served: the connection is idle or reading headers."""
            return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

        def evictable(self) -> bool:
            """Waiting for a request, or receiving one's body: nothing is being served."""
            if self._phase is Phase.BODY:
                return not (self.cycle is not None and self.cycle.response_complete)
            return self._phase is Phase.WAITING and self._waiting()

        def slowness(self) -> tuple[int, float]:
            """Eviction order: a trickling body, then trickling headers, then silence;
            within each, the loop time its phase began (oldest first)."""
            if self._phase is Phase.BODY:
                return 0, self._since
            return (1 if self._received else 2), self._since

        def check(self, now: float) -> None:
            """Close this connection if its phase is past its deadline."""
            if self.transport is None or self.transport.is_closing():
                return
            elapsed = now - self._since
            if self._phase is Phase.WAITING:
                if elapsed > header_timeout and self._waiting():
                    self.transport.close()
            elif self._phase is Phase.BODY:
                if self.flow.read_paused:
                    # Back-pressure: the server stopped reading, the client is not slow.
                    self._since += interval
                elif elapsed > body_timeout + self._received / min_rate:
                    self._refuse(_REQUEST_TIMEOUT)

        def _refuse(self, answer: bytes) -> None:
            self.transport.write(answer)
            self.transport.close()

        @classmethod
        def _run_sweep(cls, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
            now = loop.time()
            for conn in list(connections):
                if isinstance(conn, GuardedProtocol):
                    conn.check(now)
            # Rests while no connection is open: the next one starts it again.
            cls._sweep = None
            if connections:
                cls._sweep = loop.call_later(interval, cls._run_sweep, loop, connections)

    return GuardedProtocol


def _evict(
    connections: list[Any], newcomer: Any, now: float, grace: float, limit: int, slack: int
) -> None:
    """Close the slowest connection not being served, or the newcomer.

    Requests whose body has arrived are never cut. First to go is a client that started a
    request and is slow to finish it (a body, then headers, arriving), then a connection
    that has sent nothing for ``grace`` seconds; within each, the one longest in its
    phase. One that has sent nothing for less is not displaced: its request may be on its
    way (a burst of accepts runs before any of their reads): up to ``slack`` connections
    past ``limit`` wait for the next arrivals to make room, beyond that the newcomer goes.
    """
    candidates = [c for c in connections if c is not newcomer and c.evictable()]
    victim = min(candidates, key=lambda c: c.slowness()) if candidates else newcomer
    rank, since = victim.slowness()
    if rank == 2 and now - since < grace:
        if len(connections) <= limit + slack:
            return  # a short overflow, resolved by the next arrivals' evictions
        victim = newcomer
    victim.transport.close()

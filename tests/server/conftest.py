"""Fixtures: a real uvicorn server on a free loopback port, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from racs import create_racs
from racs.ledger import Ledger, create_ledger
from racs.server import create_app


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    """A running server: its base URL, engine and (optional) ledger."""

    url: str
    engine: Any
    ledger: Any
    token: str | None
    app: Any = None

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for this server (bearer header set when there is a token)."""
        headers = kwargs.pop("headers", {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kwargs)


def start_server(
    *,
    engine: Any = None,
    ledger: Any = None,
    token: str | None = None,
    cors_origin: str | None = None,
    history_interval: float = 0.2,
) -> tuple[Served, Callable[[], None]]:
    """Start a server in a thread; return it and the function that stops it."""
    engine = (
        engine
        if engine is not None
        else create_racs(
            pricing={
                "claude-sonnet-4-5": {
                    "inputPerMTok": 3,
                    "cacheReadPerMTok": 0.3,
                    "cacheWrite5mPerMTok": 3.75,
                }
            }
        )
    )
    app = create_app(
        engine, ledger, token=token, cors_origin=cors_origin, history_interval=history_interval
    )
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return Served(f"http://127.0.0.1:{port}", engine, ledger, token, app), stop


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start servers on demand: ``serve(token=..., cors_origin=..., ledger=..., engine=...)``."""
    stops: list[Callable[[], None]] = []

    def start(**kwargs: Any) -> Served:
        served, stop = start_server(**kwargs)
        stops.append(stop)
        return served

    yield start
    for stop in stops:
        stop()


def open_ledger(path: Any) -> Ledger:
    """A real SQLite ledger at ``path``."""
    return create_ledger(str(path))


@pytest.fixture
def server(serve: Callable[..., Served]) -> Served:
    """One server without token or ledger."""
    return serve()


@pytest.fixture
def client(server: Served) -> Iterator[httpx.Client]:
    """An httpx client of ``server``."""
    with server.client() as c:
        yield c


def plan_input(
    turn: str = "hello", *, agent: str | None = None, system: str = "You are terse. " * 600
) -> dict[str, Any]:
    """A PlanInput in the wire form: stable system prompt, volatile turn."""
    data: dict[str, Any] = {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "segments": [
            {"id": "system", "role": "system", "stability": "stable", "content": system},
            {"id": "turn", "role": "dynamic", "stability": "volatile", "content": turn},
        ],
    }
    if agent is not None:
        data["agentId"] = agent
    return data

"""Connection limits of ``racs serve``: slow headers, slow bodies, huge headers, too many
connections.

Every attack here is loopback only, bounded in connection count and duration, and stops by
itself; the server is a real ``racs serve`` process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from racs.server.guard import Limits
from racs.server.wire import MAX_BODY_BYTES
from server.conftest import free_port, plan_input
from server.test_cli import _wait_up

FD_LIMIT = 256
"""The server's descriptor limit in the attack test: 300 idle sockets would exhaust it."""


@dataclass
class Proc:
    url: str
    port: int
    proc: subprocess.Popen[str]


def _limit_fds() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, hard))


@contextlib.contextmanager
def _serve(*flags: str, fd_limit: bool = False) -> Iterator[Proc]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "racs.server", "--port", str(port), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limit_fds if fd_limit else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)
        yield Proc(url, port, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


@dataclass
class Attack:
    """Tallies of one trickling attack."""

    connections_opened: int = 0
    closed_by_server: int = 0
    answered_408: int = 0
    health_ok: int = 0
    health_failed: int = 0
    plans_ok: int = 0
    plans_failed: int = 0
    failures: list[str] = field(default_factory=list)


_SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 10_000
_BODY = json.dumps(plan_input()).encode()
_BODY_HEAD = (
    b"POST /plan HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n"
)


async def _trickler(
    port: int, stop: asyncio.Event, tally: Attack, *, body: bool = False, every: float = 0.2
) -> None:
    """Open a connection and dribble one byte every ``every`` seconds: a request's headers
    (never finished), or with ``body`` complete headers and then the body; reconnect (after
    a short pause) whenever the server drops it."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        tally.connections_opened += 1
        try:
            if body:
                writer.write(_BODY_HEAD)
            dribble = _BODY if body else _SLOW_HEAD
            for i in range(len(dribble)):
                if stop.is_set():
                    break
                writer.write(dribble[i : i + 1])
                await writer.drain()
                with contextlib.suppress(asyncio.TimeoutError):
                    answer = await asyncio.wait_for(reader.read(64), every)
                    tally.closed_by_server += 1
                    tally.answered_408 += answer.startswith(b"HTTP/1.1 408 ")
                    break
        except OSError:
            tally.closed_by_server += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await asyncio.sleep(0.05)


async def _retried(
    label: str, call: Callable[[], Awaitable[httpx.Response]], tally: Attack
) -> httpx.Response | None:
    """``call``'s response; a fresh connection the server dropped before reading it (an
    eviction racing a loaded machine's slow client, so nothing was served) is retried once,
    as clients do. Every failure is noted in ``tally``."""
    for attempt in range(2):
        try:
            return await call()
        except httpx.RemoteProtocolError as exc:
            tally.failures.append(f"{label} (attempt {attempt + 1}): {exc!r}")
        except httpx.HTTPError as exc:
            tally.failures.append(f"{label}: {exc!r}")
            return None
    return None


async def _attack(
    port: int,
    url: str,
    attackers: int,
    checks: int,
    *,
    body: bool = False,
    every: float = 0.2,
    plans: bool = False,
) -> Attack:
    tally = Attack()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_trickler(port, stop, tally, body=body, every=every))
        for _ in range(attackers)
    ]
    try:
        await asyncio.sleep(1.5)  # let every trickler connect and start dribbling
        # A fresh connection per check: the attack is on accepting, not on a kept socket.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
            for _ in range(checks):
                r = await _retried("healthz", lambda: client.get("/healthz"), tally)
                ok = r is not None and r.status_code == 200 and r.json()["ok"] is True
                if ok:
                    tally.health_ok += 1
                else:
                    tally.health_failed += 1
                if plans:
                    r = await _retried(
                        "plan", lambda: client.post("/plan", content=_BODY, headers=_JSON), tally
                    )
                    ok = (
                        r is not None
                        and r.status_code == 200
                        and r.json()["family"] == "breakpoint"
                    )
                    if ok:
                        tally.plans_ok += 1
                    else:
                        tally.plans_failed += 1
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return tally


_JSON = {"Content-Type": "application/json"}


class TestSlowHeaders:
    def test_health_answers_while_300_connections_trickle(self) -> None:
        """With 256 descriptors, 300 connections dribbling headers (reconnecting when
        dropped) do not lock out a health check: every one of 20 checks answers 200."""
        with _serve("--header-timeout", "2", fd_limit=True) as served:
            tally = asyncio.run(_attack(served.port, served.url, attackers=300, checks=20))
        assert tally.health_failed == 0 and tally.health_ok == 20, tally
        # The cap (256 - 64 reserved = 192) forced evictions: the server dropped tricklers.
        assert tally.connections_opened > 300 and tally.closed_by_server > 0, tally
        print(f"\nslow-header attack: {tally}")

    def test_headers_not_finished_in_time_are_dropped(self) -> None:
        """A connection that has not finished its headers by the deadline is closed."""
        with (
            _serve("--header-timeout", "0.5") as served,
            socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn,
        ):
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: local")
            started = time.monotonic()
            assert conn.recv(1024) == b""  # closed without an answer
            # Not a speed assertion: only that the drop came from the deadline.
            assert time.monotonic() - started < 25

    def test_idle_connection_is_dropped(self) -> None:
        """A connection that never sends a byte is closed at the header deadline too."""
        with (
            _serve("--header-timeout", "0.5") as served,
            socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn,
        ):
            assert conn.recv(1024) == b""

    def test_huge_headers_are_431(self) -> None:
        """More than 64 KiB before the headers end is 431 and the connection closes."""
        with (
            _serve() as served,
            socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn,
        ):
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            with contextlib.suppress(OSError):  # the server may close before we finish
                for _ in range(80):
                    conn.sendall(b"X-Pad: " + b"p" * 1017 + b"\r\n")  # 80 x 1 KiB
            answer = b""
            with contextlib.suppress(OSError):
                while chunk := conn.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 431 ")

    def test_a_large_body_is_not_counted_as_headers(self) -> None:
        """A 1 MB body sent in the same write as its headers is served: only bytes before
        the end of the headers count toward the 64 KiB."""
        body = json.dumps(plan_input(system="s" * 1_000_000)).encode()
        assert len(body) <= MAX_BODY_BYTES
        head = (
            f"POST /plan HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with (
            _serve() as served,
            socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn,
        ):
            conn.sendall(head + body)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


class TestSlowBodies:
    def test_health_and_plans_answer_while_40_bodies_trickle_into_16_slots(self) -> None:
        """16 connection slots, 40 clients sending complete headers and then one byte of
        body every 2 s (reconnecting when dropped): every one of 20 health checks and 20
        plans, each on a fresh connection, answers 200. (On 8a36c18 none did: a connection
        in the middle of its body was never evicted nor timed out.)"""
        with _serve("--max-connections", "16") as served:
            tally = asyncio.run(
                _attack(served.port, served.url, 40, 20, body=True, every=2.0, plans=True)
            )
        print(f"\nslow-body attack, 16 slots: {tally}")
        assert tally.health_failed == 0 and tally.health_ok == 20, tally
        assert tally.plans_failed == 0 and tally.plans_ok == 20, tally
        # Room was made by closing tricklers: each new client evicted one.
        assert tally.closed_by_server >= 20 and tally.connections_opened > 40, tally

    def test_health_answers_while_300_bodies_trickle_at_the_fd_limit(self) -> None:
        """The default cap, lowered to 192 by a 256-descriptor limit: 300 body tricklers
        do not lock out a health check."""
        with _serve(fd_limit=True) as served:
            tally = asyncio.run(_attack(served.port, served.url, 300, 20, body=True))
        print(f"\nslow-body attack, 192 slots: {tally}")
        assert tally.health_failed == 0 and tally.health_ok == 20, tally
        assert tally.connections_opened > 300 and tally.closed_by_server > 0, tally

    def test_a_body_past_its_deadline_is_408(self) -> None:
        """Headers complete, then nothing: 408 and the connection closes, the deadline
        being --body-timeout plus one second per --min-body-rate bytes received."""
        with (
            _serve("--body-timeout", "0.5") as served,
            socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn,
        ):
            conn.sendall(_BODY_HEAD + _BODY[:10])
            started = time.monotonic()
            answer = b""
            while chunk := conn.recv(1024):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            assert time.monotonic() - started < 25  # the deadline, not a test timeout

    def test_a_slow_but_steady_body_is_served(self) -> None:
        """A body arriving at twice the minimum rate is served though it takes 3 s, six
        times --body-timeout: each --min-body-rate bytes earn one more second."""
        body = json.dumps(plan_input(system="s" * 1_200)).encode()
        head = (
            "POST /plan HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        rate = len(body) // 3  # bytes/s sent: the body takes 3 s
        with (
            _serve("--body-timeout", "0.5", "--min-body-rate", str(rate // 2)) as served,
            socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn,
        ):
            conn.sendall(head)
            step = rate // 4
            for i in range(0, len(body), step):
                conn.sendall(body[i : i + step])
                time.sleep(0.25)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


class TestLimits:
    def test_cap_fits_the_descriptor_limit(self) -> None:
        """The connection cap never exceeds the descriptor limit minus a reserve of 64."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert Limits(max_connections=10**6).effective_max_connections() == soft - 64
        assert Limits(max_connections=5).effective_max_connections() == 5

    @pytest.mark.parametrize(
        "flags",
        [
            ["--header-timeout", "0"],
            ["--header-timeout", "nan"],
            ["--keep-alive", "0"],
            ["--max-connections", "0"],
            ["--body-timeout", "0"],
            ["--min-body-rate", "0"],
            ["--save-interval", "-1"],
        ],
    )
    def test_bad_limits_exit_2(self, flags: list[str]) -> None:
        """Out-of-range limits are usage errors: exit 2, one line."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "racs.server", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2
        assert err.count("\n") == 1 and err.startswith("racs serve:")

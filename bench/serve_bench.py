"""Throughput and p99 latency of ``racs serve`` for POST /plan and POST /usage.

Starts ``python -m racs.server`` on a free loopback port and drives it with 32 concurrent
keep-alive connections from a minimal raw-HTTP asyncio client (httpx would spend more CPU
than the server on this 2-core machine and measure itself instead).

    python bench/serve_bench.py [--seconds 10] [--clients 32]
    python bench/serve_bench.py --dashboard [--runs 1000000] [--backend sqlite|postgres]
        (the dashboard's routes over a large ledger: see bench/dashboard_bench.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

TOOLS = ("tool " * 2400)[:12_000]
SYSTEM = ("You are a careful assistant. " * 600)[:16_000]
HISTORY = ("user: earlier question\nassistant: earlier answer\n" * 200)[:7_000]
TURN_CHARS = 1_000  # 12k + 16k + 7k + 1k = 36,000 characters


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _plan_body(n: int) -> bytes:
    turn = f"request {n}: " + "q" * TURN_CHARS
    return json.dumps(
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "agentId": "bench",
            "reuse": {"intervalSeconds": 30},
            "segments": [
                {"id": "tools", "role": "tools", "stability": "stable", "content": TOOLS},
                {"id": "system", "role": "system", "stability": "stable", "content": SYSTEM},
                {"id": "history", "role": "history", "stability": "semi", "content": HISTORY},
                {
                    "id": "turn",
                    "role": "dynamic",
                    "stability": "volatile",
                    "content": turn[:TURN_CHARS],
                },
            ],
        }
    ).encode()


def _usage_body(n: int) -> bytes:
    return json.dumps(
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "prefixKey": "bench",
            "inputTokens": 9000,
            "cacheReadTokens": 8750 if n % 10 else 0,
            "cacheWriteTokens5m": 0 if n % 10 else 8750,
        }
    ).encode()


def _request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(
    port: int,
    path: str,
    make: Callable[[int], bytes],
    deadline: float,
    latencies: list[float],
    counter: list[int],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            counter[0] += 1
            payload = _request(path, make(counter[0]))
            t0 = time.perf_counter()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200"):
                errors[0] += 1
    finally:
        writer.close()


async def _run(
    port: int, path: str, make: Callable[[int], bytes], seconds: float, clients: int
) -> dict[str, float]:
    warm: list[float] = []
    await asyncio.gather(
        *[
            _client(port, path, make, time.perf_counter() + 1.0, warm, [0], [0])
            for _ in range(clients)
        ]
    )
    latencies: list[float] = []
    errors = [0]
    start = time.perf_counter()
    await asyncio.gather(
        *[
            _client(port, path, make, start + seconds, latencies, [c * 10_000_000], errors)
            for c in range(clients)
        ]
    )
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> int:
    """Run the benchmark and print one line per endpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "racs.server", "--port", str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        try:
            import uvloop

            uvloop.install()
        except ImportError:  # the plain asyncio loop still works, only slower
            pass
        print(
            f"body of POST /plan: {len(_plan_body(1))} bytes, 36,000 prompt characters; "
            f"{args.clients} clients, {args.seconds:g} s per endpoint"
        )
        for path, make in (("/plan", _plan_body), ("/usage", _usage_body)):
            r = asyncio.run(_run(port, path, make, args.seconds, args.clients))
            print(
                f"POST {path:7s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                f"p99 {r['p99_ms']:6.2f} ms  ({r['requests']} requests, {r['errors']} non-200)"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


def dashboard(argv: list[str]) -> int:
    """``--dashboard``: build a large ledger and time the dashboard's JSON routes on it."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dashboard_bench

    sys.argv = [sys.argv[0], *argv]
    return dashboard_bench.main()


if __name__ == "__main__":
    if "--dashboard" in sys.argv:
        sys.exit(dashboard([a for a in sys.argv[1:] if a != "--dashboard"]))
    sys.exit(main())

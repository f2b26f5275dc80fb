"""Throughput and p99 latency of ``racs serve`` for POST /plan and POST /usage.

Starts ``python -m racs.server`` on a free loopback port, without a ledger, with a SQLite
ledger, and with a ledger and a state file, and drives it with 32 keep-alive connections:
``wrk`` when it is installed, else a minimal raw-HTTP asyncio client (httpx would spend more
CPU than the server on a 2-core machine and measure itself instead).

``--ref PATH`` also measures another checkout (its ``src`` goes first on PYTHONPATH), the
two servers taking turns setup by setup so both see the same machine: "before" is the
other checkout, "after" this one.

    python bench/serve_bench.py [--seconds 10] [--clients 32] [--ref ../ref-03631ad]
    python bench/serve_bench.py --runs 1000000 [--backend sqlite|postgres] [--samples 20]
        (every JSON route behind the dashboard over a ledger of that many runs, built once
        and cached under /tmp, and the server's peak memory: see bench/dashboard_bench.py;
        --dashboard alone means --runs 1000000)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

TOOLS = ("tool " * 2400)[:12_000]
SYSTEM = ("You are a careful assistant. " * 600)[:16_000]
HISTORY = ("user: earlier question\nassistant: earlier answer\n" * 200)[:7_000]
TURN_CHARS = 1_000  # 12k + 16k + 7k + 1k = 36,000 characters
HERE = Path(__file__).resolve().parent.parent
SETUPS = {
    "no ledger": (),
    "ledger": ("--ledger", "{tmp}/ledger.db"),
    "ledger+state": ("--ledger", "{tmp}/ledger.db", "--state", "{tmp}/state.json"),
}


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


ENDPOINTS: tuple[tuple[str, Callable[[int], bytes]], ...] = (
    ("/plan", _plan_body),
    ("/usage", _usage_body),
)


# --- the asyncio client (when wrk is missing) -------------------------------------------


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


async def _drive(
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


# --- wrk -----------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(port: int, path: str, body: bytes, seconds: float, clients: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
    url = f"http://127.0.0.1:{port}{path}"
    try:
        # Warm-up, then the measured run (threads: 2, the machine's cores).
        base = ["wrk", "-t2", f"-c{clients}", "-s", script.name]
        subprocess.run([*base, "-d1s", url], capture_output=True, check=True)
        out = subprocess.run(
            [*base, "--latency", f"-d{seconds:g}s", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)

    def latency(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "requests": int(total.group(1)) if total else 0,
        "errors": (int(bad.group(1)) if bad else 0) + (1 if errors else 0),
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
    }


# --- servers ---------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux), 0.0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _server(src: Path, flags: tuple[str, ...]) -> Iterator[tuple[int, int]]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        args = [f.format(tmp=tmp) for f in flags]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(src)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "racs.server", "--port", str(port), *args], env=env
        )
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError(f"server from {src} exited {proc.returncode}") from None
                    time.sleep(0.1)
            yield port, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _measure(
    src: Path, flags: tuple[str, ...], args: argparse.Namespace, use_wrk: bool
) -> dict[str, dict[str, float]]:
    out = {}
    with _server(src, flags) as (port, pid):
        for path, make in ENDPOINTS:
            cpu = _cpu_seconds(pid)
            if use_wrk:
                r = _wrk(port, path, make(1), args.seconds, args.clients)
            else:
                r = asyncio.run(_drive(port, path, make, args.seconds, args.clients))
            # Server CPU per request (warm-up included in both): steadier than req/s on a
            # machine shared with other work.
            spent = _cpu_seconds(pid) - cpu
            r["cpu_us"] = spent / max(1.0, r["requests"] + r["rps"]) * 1e6
            out[path] = r
    return out


def _line(label: str, r: dict[str, float]) -> str:
    return (
        f"{label:8s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
        f"p99 {r['p99_ms']:7.2f} ms  server CPU {r['cpu_us']:5.0f} us/req  "
        f"({r['requests']:.0f} requests, {r['errors']:.0f} non-200)"
    )


def main() -> int:
    """Run the benchmark and print one line per endpoint, setup and checkout."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--ref", type=Path, default=None, help="another checkout: 'before'")
    parser.add_argument(
        "--setups", default=",".join(SETUPS), help=f"comma-separated, of: {', '.join(SETUPS)}"
    )
    parser.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto")
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if not use_wrk:
        with contextlib.suppress(ImportError):  # the plain asyncio loop works, only slower
            import uvloop

            uvloop.install()
    checkouts = [("after", HERE / "src")]
    if args.ref is not None:
        checkouts.insert(0, ("before", args.ref.resolve() / "src"))
    print(
        f"body of POST /plan: {len(_plan_body(1))} bytes, 36,000 prompt characters; "
        f"{args.clients} connections, {args.seconds:g} s per endpoint, "
        f"client: {'wrk' if use_wrk else 'asyncio'}"
    )
    for name, src in checkouts:
        print(f"{name}: {src.parent}")
    for setup in args.setups.split(","):
        results = {name: _measure(src, SETUPS[setup], args, use_wrk) for name, src in checkouts}
        print(f"-- {setup}")
        for path, _ in ENDPOINTS:
            for name, _src in checkouts:
                print(f"POST {path:7s} {_line(name, results[name][path])}")
    return 0


def dashboard(argv: list[str]) -> int:
    """``--dashboard``: build a large ledger and time the dashboard's JSON routes on it."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dashboard_bench

    sys.argv = [sys.argv[0], *argv]
    return dashboard_bench.main()


if __name__ == "__main__":
    if "--dashboard" in sys.argv or any(a.startswith("--runs") for a in sys.argv):
        sys.exit(dashboard([a for a in sys.argv[1:] if a != "--dashboard"]))
    sys.exit(main())

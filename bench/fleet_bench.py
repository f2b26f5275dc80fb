"""Plans per second for 1, 4 and 16 processes sharing one Redis, beside the local engine.

Each process is one host: its own engine, 8 agents of its own planning the 36k workload of
``plan_bench.py`` in turn (only the volatile turn changes, as in an agent loop). ``local``
engines keep memory state; ``redis`` engines share ``racs.redis_state(url)``, one scripted
round trip per plan. All processes start together and plan for ``--seconds``; the figure
is the plans they completed divided by that time, the median of ``--rounds`` rounds.

Run: ``python bench/fleet_bench.py [--url redis://127.0.0.1:6379/0] [--seconds 3]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plan_bench import _text, small_workload

import racs

AGENTS = 8


def _inputs(host: int, calls: int) -> list[dict[str, Any]]:
    segments, turn_chars = small_workload()
    out = []
    for i in range(calls):
        turn = {**segments[-1], "content": _text(f"turn {i}", turn_chars)}
        out.append(
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "agentId": f"host{host}-agent{i % AGENTS}",
                "segments": [*segments[:-1], turn],
                "reuse": {"intervalSeconds": 30},
            }
        )
    return out


def _host(
    host: int, mode: str, url: str, prefix: str, seconds: float, start: Any, results: Any
) -> None:
    state = racs.redis_state(url, prefix=prefix) if mode == "redis" else racs.memory_state()
    engine = racs.create_racs(state=state)
    inputs = _inputs(host, 64)
    for item in inputs[:AGENTS]:
        engine.plan(item)  # first sight of each agent: hashing and scans happen here
    start.wait()
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        engine.plan(inputs[done % len(inputs)])
        done += 1
    results.put((done, time.perf_counter() - t0))


def run(mode: str, processes: int, url: str, seconds: float) -> tuple[float, float]:
    """Aggregate plans/s and the median per-process microseconds per plan."""
    ctx = mp.get_context("spawn")
    prefix = f"racs-bench-{uuid.uuid4().hex[:8]}:"
    start = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_host, args=(i, mode, url, prefix, seconds, start, results))
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    outs = [results.get(timeout=120 + seconds) for _ in procs]
    for p in procs:
        p.join()
    if mode == "redis":
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    total = sum(done for done, _ in outs)
    wall = max(elapsed for _, elapsed in outs)
    per_plan = statistics.median(elapsed / done * 1e6 for done, elapsed in outs)
    return total / wall, per_plan


def _ping_us(url: str, count: int = 2000) -> float:
    """The floor under every shared-state call on this machine: one bare round trip."""
    import redis

    client = redis.Redis.from_url(url)
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        client.ping()
        samples.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--url", default=os.environ.get("RACS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", default="1,4,16")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.rounds} rounds of {args.seconds:g} s each, medians")
    print(f"Redis round trip (PING, one process): median {_ping_us(args.url):.0f} us")
    for n in (int(x) for x in args.processes.split(",")):
        for mode in ("local", "redis"):
            rounds = [run(mode, n, args.url, args.seconds) for _ in range(args.rounds)]
            rate = statistics.median(r[0] for r in rounds)
            per_plan = statistics.median(r[1] for r in rounds)
            print(
                f"{n:>2} processes, {mode:<5}: {rate:>9,.0f} plans/s in total, "
                f"{per_plan:>7.1f} us/plan per process"
            )


if __name__ == "__main__":
    main()

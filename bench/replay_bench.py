"""Replay one million synthetic requests: every built-in strategy and the optimum.

    python bench/replay_bench.py [--requests N] [--per-stream K] [--settings neutral,pessimistic]

Streams are generated lazily, a session at a time, so the replay holds only the live
session; peak RSS is printed after each quarter to show it does not grow with the count.
Agentic cadence: mostly seconds apart, sometimes minutes, now and then an hour; prompts
grow every turn and are compacted every ~60 turns; the recorded choice is a 5m write.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from collections.abc import Iterator

from racs.core.accounting import Tokens
from racs.core.model import Pricing
from racs.core.prices import PriceBook
from racs.replay.run import replay
from racs.traffic.model import Request

MODEL = "claude-sonnet-4-5"
CARD = {
    MODEL: Pricing(
        input_per_mtok=3.0,
        cache_read_per_mtok=0.3,
        cache_write_5m_per_mtok=3.75,
        cache_write_1h_per_mtok=6.0,
        output_per_mtok=15.0,
    )
}


def stream(seed: int, n: int) -> Iterator[Request]:
    """One session's requests, usage as a 5m-writing client would be billed."""
    rng = random.Random(seed)
    t = 1_767_225_600_000.0 + seed * 1000
    system = 12_000
    prefix = system
    entry_t = -1e18
    for i in range(n):
        roll = rng.random()
        gap = rng.uniform(2, 60) if roll < 0.85 else rng.uniform(200, 900)
        if roll > 0.98:
            gap = rng.uniform(1800, 5400)
        t += gap * 1000
        if i and i % 60 == 0:
            prefix = system + rng.randint(1000, 4000)  # compaction
            read = system
        else:
            read = prefix if t - entry_t <= 300_000 else 0
            prefix += rng.randint(100, 3000)
        write = prefix - read
        entry_t = t
        yield Request(
            timestamp_ms=t,
            provider="anthropic",
            model=MODEL,
            tokens=Tokens(fresh=3, read=read, write_5m=write, output=rng.randint(50, 800)),
            session=f"s{seed}",
            stream=f"s{seed}",
            source=f"synthetic:{seed}:{i}",
        )


def traffic(total: int, per_stream: int, marks: list[float]) -> Iterator[Request]:
    """``total`` requests in sessions of ``per_stream``; records peak RSS each quarter."""
    sent = 0
    seed = 0
    quarter = total // 4
    while sent < total:
        n = min(per_stream, total - sent)
        for req in stream(seed, n):
            yield req
            sent += 1
            if quarter and sent % quarter == 0:
                marks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        seed += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--per-stream", type=int, default=200)
    parser.add_argument("--settings", default="neutral")
    parser.add_argument(
        "--strategies",
        default=None,
        help="comma-separated strategies (default: replay's default list; "
        "'recorded,none,5m,1h,racs' is the list of earlier releases)",
    )
    args = parser.parse_args()
    chosen = {} if args.strategies is None else {"strategies": tuple(args.strategies.split(","))}
    marks: list[float] = []
    start = time.perf_counter()
    cpu = time.process_time()
    result = replay(
        traffic(args.requests, args.per_stream, marks),
        prices=PriceBook(CARD, database=False),
        settings=tuple(args.settings.split(",")),
        keep_streams=False,
        **chosen,
    )
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    print(
        f"requests {result.requests}  streams {result.stream_count}  "
        f"wall {wall:.1f} s  cpu {cpu:.1f} s (one core)"
    )
    print(f"  {result.requests / wall:,.0f} requests/s; optimum width at most {result.width}")
    print("  peak RSS (MiB) after each quarter: " + ", ".join(f"{m:.0f}" for m in marks))
    for setting in result.settings:
        for name, cost in result.totals[setting].items():
            share = result.captured(name, setting)
            shown = "-" if share is None else f"{share * 100:.1f}%"
            print(f"  {setting:11s} {name:9s} ${cost.total:14,.2f}  captured {shown}")


if __name__ == "__main__":
    main()

"""Microseconds per ``plan`` call on the two workloads of issue 2.

Each workload plans repeatedly with only the final volatile segment changing between
calls, as an agent loop does, 30 seconds apart. Each workload runs on the reference engine
and on the learned one (``reuse_policy="learned"``: every plan learns a gap on two lineages
and weighs every tier and keep-warm budget). Run: ``python bench/plan_bench.py [--calls N]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from typing import Any

import racs


def _text(label: str, chars: int) -> str:
    unit = f"{label}: the assistant follows the policy and cites the document section. "
    return (unit * (chars // len(unit) + 1))[:chars]


def small_workload() -> tuple[list[dict[str, Any]], int]:
    """36,000 characters in 4 segments."""
    segments = [
        {"id": "tools", "role": "tools", "stability": "stable", "content": _text("tools", 12_000)},
        {
            "id": "system",
            "role": "system",
            "stability": "stable",
            "content": _text("system", 16_000),
        },
        {
            "id": "history",
            "role": "history",
            "stability": "semi",
            "content": _text("history", 7_000),
        },
        {"id": "turn", "role": "dynamic", "stability": "volatile", "content": ""},
    ]
    return segments, 1_000


def large_workload() -> tuple[list[dict[str, Any]], int]:
    """520,000 characters in 13 segments: tools, system, documents, 8 history, a turn."""
    segments = [
        {"id": "tools", "role": "tools", "stability": "stable", "content": _text("tools", 20_000)},
        {
            "id": "system",
            "role": "system",
            "stability": "stable",
            "content": _text("system", 20_000),
        },
        {
            "id": "doc-a",
            "role": "documents",
            "stability": "stable",
            "content": _text("doc-a", 200_000),
        },
        {
            "id": "doc-b",
            "role": "documents",
            "stability": "semi",
            "content": _text("doc-b", 200_000),
        },
    ]
    for i in range(8):
        segments.append(
            {
                "id": f"h{i}",
                "role": "history",
                "stability": "semi",
                "content": _text(f"h{i}", 9_875),
            }
        )
    segments.append({"id": "turn", "role": "dynamic", "stability": "volatile", "content": ""})
    return segments, 1_000


class _Clock:
    """Advances 30 s per reading: the learned engine sees a steady cadence."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 30_000
        return self.now


def run(
    name: str, segments: list[dict[str, Any]], turn_chars: int, calls: int, policy: str
) -> float:
    """Plan ``calls`` times, 5 rounds; print the medians, return the CPU median (us/plan)."""
    engine = racs.create_racs(clock=_Clock(), reuse_policy=policy)
    turns = [_text(f"turn {i}", turn_chars) for i in range(calls)]
    inputs = []
    for turn in turns:
        segs = [*segments[:-1], {**segments[-1], "content": turn}]
        inputs.append(
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "segments": segs,
                "reuse": {"intervalSeconds": 30},
            }
        )
    total_chars = sum(len(s["content"]) for s in segments[:-1]) + turn_chars
    engine.plan(inputs[0])  # first sight: hashing and pattern scans happen once, here
    gc.collect()
    samples = []
    cpu = []  # process time: what a plan costs in CPU, steadier than wall time on a busy host
    for _ in range(5):
        start = time.perf_counter_ns()
        start_cpu = time.process_time_ns()
        for item in inputs:
            engine.plan(item)
        cpu.append((time.process_time_ns() - start_cpu) / len(inputs) / 1000)
        samples.append((time.perf_counter_ns() - start) / len(inputs) / 1000)
    tracemalloc.start()
    for item in inputs:
        engine.plan(item)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    median = statistics.median(samples)
    print(
        f"{name} ({policy}): {len(segments)} segments, {total_chars:,} chars: "
        f"median {median:.1f} us/plan, best {min(samples):.1f} us/plan, CPU median "
        f"{statistics.median(cpu):.1f} us/plan (5 rounds x {calls} plans); traced peak "
        f"during {calls} plans {peak / 1024:.0f} KiB"
    )
    return statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    for name, (segments, turn) in (
        ("36k workload", small_workload()),
        ("520k workload", large_workload()),
    ):
        reference = run(name, segments, turn, args.calls, "reference")
        learned = run(name, segments, turn, args.calls, "learned")
        print(
            f"{name}: learned reuse costs {learned - reference:+.1f} us/plan, "
            f"{learned / reference:.2f}x the reference (CPU medians; target at most 2x)"
        )


if __name__ == "__main__":
    main()

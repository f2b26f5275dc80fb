"""Traffic report throughput and memory on Claude Code transcripts. Prints figures.

    python bench/report_bench.py               # the shared transcripts and a 1 GB folder
    python bench/report_bench.py --size-mb 200 # a smaller generated folder
    python bench/report_bench.py --repeat 5    # median of 5 runs per corpus

Goal (report issue): >= 60 MB/s on one core and peak RSS < 150 MB for the whole report
(import, dedupe, pricing, findings). Both wall-clock MB/s and MB per CPU-second are
printed: on a shared machine the second is the one-core figure. The generated folder is
made in a temporary directory from the shared sessions, each copy under fresh session ids,
and deleted afterwards. Each measurement runs in a child process so its peak RSS is its
own. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "traffic" / "claude-code"
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _child(path: str) -> None:
    """Build the full report over ``path`` and print seconds, bytes and peak RSS."""
    import resource

    from racs.core.prices import PriceBook
    from racs.report.build import build_report
    from racs.traffic.problems import Problems
    from racs.traffic.sources import discover_files, read

    size = sum(os.path.getsize(f) for f in discover_files([path]))
    prices = PriceBook()
    problems = Problems()
    start = time.perf_counter()
    cpu = time.process_time()
    report = build_report(read([path], problems), prices, problems)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "bytes": size,
                "requests": report.total.requests,
                "problems": problems.total,
                "rss_mb": rss_kb / 1024,
            }
        )
    )


def _generate(target: Path, size_mb: int) -> int:
    """Copies of the shared sessions (fresh session ids) until ``size_mb`` is reached."""
    sessions = sorted(SHARED.glob("*.jsonl"))
    written = 0
    copy = 0
    while written < size_mb * 1_000_000:
        project = target / f"-home-user-project-{copy % 20}"
        for main in sessions:
            new_id = str(uuid.UUID(int=copy * 1000 + sessions.index(main))).encode()
            mapping: dict[bytes, bytes] = {}

            def fresh(m: re.Match[bytes], mapping: dict[bytes, bytes] = mapping) -> bytes:
                # Session ids get the copy's id; other uuids stay (they only name lines).
                return mapping.get(m.group(0), m.group(0))

            old = main.stem.encode()
            mapping[old] = new_id
            data = main.read_bytes()
            first = _UUID.search(data[data.find(b'"sessionId"') :])
            if first is not None:
                mapping[first.group(0)] = new_id
            project.mkdir(parents=True, exist_ok=True)
            out = project / f"{new_id.decode()}.jsonl"
            out.write_bytes(_UUID.sub(fresh, data))
            written += out.stat().st_size
            subdir = main.with_suffix("") / "subagents"
            if subdir.is_dir():
                dest = project / new_id.decode() / "subagents"
                dest.mkdir(parents=True, exist_ok=True)
                for sub in subdir.glob("*.jsonl"):
                    (dest / sub.name).write_bytes(_UUID.sub(fresh, sub.read_bytes()))
                    written += sub.stat().st_size
        copy += 1
    return written


def _measure(path: Path, repeat: int) -> list[dict[str, float]]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out))
    return runs


def _print(label: str, runs: list[dict[str, float]]) -> None:
    rates = [r["bytes"] / 1e6 / r["seconds"] for r in runs]
    cpu_rates = [r["bytes"] / 1e6 / r["cpu_seconds"] for r in runs]
    rss = [r["rss_mb"] for r in runs]
    first = runs[0]
    print(
        f"{label}: {first['bytes'] / 1e6:,.1f} MB, {int(first['requests']):,} requests, "
        f"{int(first['problems'])} problems; median {statistics.median(rates):,.1f} MB/s "
        f"wall (runs: {', '.join(f'{r:.1f}' for r in rates)}), "
        f"{statistics.median(cpu_rates):,.1f} MB/s of CPU time (one core); peak RSS median "
        f"{statistics.median(rss):.1f} MB (max {max(rss):.1f})"
    )


def main() -> None:
    """Measure the shared transcripts, then a generated folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        _child(ns.child)
        return
    if not SHARED.is_dir():
        sys.exit(f"no shared transcripts at {SHARED}")
    print(f"python {sys.version.split()[0]}, one process, {os.cpu_count()} cores on the machine")
    _print("shared transcripts", _measure(SHARED, max(ns.repeat, 5)))
    tmp = Path(tempfile.mkdtemp(prefix="racs-report-bench-"))
    try:
        made = _generate(tmp, ns.size_mb)
        print(f"generated {made / 1e6:,.0f} MB in {tmp}")
        _print(f"generated {ns.size_mb} MB folder", _measure(tmp, ns.repeat))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The dashboard over a large ledger: build one, serve it, time every JSON route behind the page.

Builds a ledger of ``--runs`` runs shaped like ingested Claude Code traffic (sessions of a
few hundred requests over a few hours, subagents, three models, thirty projects, sixty
days), written as ``racs ingest`` writes them (``run.started``, ``cache.usage``,
``run.completed`` per request, through the ledger's batch API, so the hash chain is the
ledger's own). Then starts ``python -m racs.server`` on it, times the first fold of the
ledger into the dashboard's tables, and prints the median and p95 latency of each route
the page calls, the server's resident memory (now and peak) and how long the background
report walk takes.

    python bench/dashboard_bench.py [--runs 1000000] [--backend sqlite|postgres]
        [--ledger PATH|URL (reuse)] [--samples 15]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from racs.core.accounting import Tokens
from racs.core.prices import PriceBook
from racs.ledger import create_ledger
from racs.traffic import ingest as ingest_mod
from racs.traffic.model import Request

DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
MODELS = (("claude-opus-4-6", 0.7), ("claude-sonnet-4-5", 0.2), ("claude-haiku-4-5", 0.1))
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def traffic(runs: int, seed: int = 7) -> Iterator[Request]:
    """``runs`` requests in sessions, each session's streams in time order."""
    rnd = random.Random(seed)
    n = 0
    session_no = 0
    while n < runs:
        session_no += 1
        session = f"bench-{session_no:06d}-{rnd.getrandbits(32):08x}"
        project = f"/home/dev/projects/p{rnd.randrange(30):02d}"
        model = rnd.choices([m for m, _ in MODELS], [w for _, w in MODELS])[0]
        t = START_MS + rnd.randrange(60 * DAY_MS)
        size = min(runs - n, rnd.randint(60, 340))
        prompt = rnd.randint(12_000, 30_000)
        agents = [None] + [f"a{rnd.getrandbits(24):06x}" for _ in range(rnd.randint(0, 3))]
        for i in range(size):
            agent = agents[0] if rnd.random() < 0.85 else rnd.choice(agents)
            gap = (
                rnd.choice((4, 8, 15, 30, 45, 90))
                if rnd.random() < 0.93
                else rnd.randint(360, 4000)
            )
            t += gap * 1000
            grow = rnd.randint(200, 3_000)
            if gap > 300 or i == 0:
                read, written = 0, prompt + grow
            else:
                read, written = prompt, grow
            prompt = prompt + grow if prompt < 160_000 else rnd.randint(20_000, 40_000)
            tiers = {"1h": written} if session_no % 3 == 0 else {"5m": written}
            stream = session if agent is None else f"{session}/agent-{agent}"
            yield Request(
                timestamp_ms=float(t),
                provider="anthropic",
                model=model,
                tokens=Tokens.all_in(read + written + 3, read, tiers, rnd.randint(20, 1_500)),
                session=session,
                stream=stream,
                kind="main" if agent is None else "subagent",
                request_id=f"req_{session_no}_{i}",
                project=project,
                agent=agent,
                source=f"/bench/{session}.jsonl:{i + 1}",
            )
            n += 1


def build(target: str, runs: int) -> float:
    """Write ``runs`` requests into the ledger at ``target``; returns the seconds taken."""
    prices = PriceBook()
    clock = ingest_mod._Clock()
    started = time.perf_counter()
    with create_ledger(target, clock=clock) as ledger:
        pending: list[Request] = []

        def flush() -> None:
            with ledger.batch() as batch:
                for r in pending:
                    # racs ingest's own writer, without its per-request "already there?" read.
                    ingest_mod._write(batch, clock, ingest_mod.run_id_of(r), r,
                                      ingest_mod._cost(r, prices))  # fmt: skip
            pending.clear()

        for k, r in enumerate(traffic(runs), start=1):
            pending.append(r)
            if len(pending) >= 2000:
                flush()
            if k % 100_000 == 0:
                print(f"  {k:,} runs written ({time.perf_counter() - started:.0f} s)", flush=True)
        if pending:
            flush()
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 120) -> tuple[float, Any]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as res:
        body = json.loads(res.read())
    return time.perf_counter() - started, body


def _rss(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def measure(target: str, samples: int, walks: tuple[str, ...] = ("24h", "7d", "all")) -> None:
    """Serve ``target``, fold it, and time the page's routes."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "racs.server", "--ledger", target, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(base + "/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        print(f"server up, rss {_rss(proc.pid)[0]:.0f} MB")
        started = time.perf_counter()
        seconds, ov = _get(base + "/traffic/overview")
        print(f"first /traffic/overview answered in {seconds * 1000:.0f} ms "
              f"(fold {ov['fold']['position']:,} of {ov['fold']['head']:,} events)")  # fmt: skip
        peak_fold = 0.0
        folded_before = ov["fold"]["behind"] == 0 and not ov["fold"]["folding"]
        while ov["fold"]["behind"] > 0 or ov["fold"]["folding"]:
            time.sleep(2)
            _, ov = _get(base + "/traffic/overview")
            peak_fold = max(peak_fold, _rss(proc.pid)[0])
        fold_s = time.perf_counter() - started
        events = ov["fold"]["head"]
        rate = events / fold_s
        if folded_before:
            print(f"folded before: {events:,} events, {ov['fold']['requests']:,} requests")
        else:
            print(f"fold: {events:,} events, {ov['fold']['requests']:,} requests in {fold_s:.0f} s "
                  f"({rate:,.0f} events/s); rss peak while folding {peak_fold:.0f} MB")  # fmt: skip
        last = ov["extent"]["lastMs"]
        sessions = _get(base + "/traffic/breakdown?dim=session&limit=3")[1]["rows"]
        one = sessions[0]["key"]
        model = "opus"
        routes = {
            "overview all": "/traffic/overview",
            "overview 24h": "/traffic/overview?range=24h",
            "overview 7d": "/traffic/overview?range=7d",
            "overview 30d": "/traffic/overview?range=30d",
            "overview 7d model": f"/traffic/overview?range=7d&model={model}",
            "overview 30d session": f"/traffic/overview?range=30d&session={one[:11]}",
            "overview all project": "/traffic/overview?project=p07",
            "sessions all": "/traffic/breakdown?dim=session&limit=12",
            "streams all": "/traffic/breakdown?dim=stream&limit=10",
            "models all": "/traffic/breakdown?dim=model&limit=10",
            "sessions 30d": "/traffic/breakdown?range=30d&dim=session&limit=12",
            "streams 30d": "/traffic/breakdown?range=30d&dim=stream&limit=10",
            "sessions 7d model": f"/traffic/breakdown?range=7d&dim=session&limit=12&model={model}",
            "options all": "/traffic/options",
            "options 30d": "/traffic/options?range=30d",
            "report 24h": "/traffic/report?range=24h",
            "whatif 24h": "/traffic/whatif?range=24h",
            "report all": "/traffic/report",
            "whatif all": "/traffic/whatif",
            "session page": f"/traffic/session?id={one}",
            "ledger runs": "/ledger/runs?limit=8",
            "stats": "/stats",
            "stats history": "/stats/history",
            "schedule": "/schedule",
            "drifts": "/drifts?limit=50",
            "healthz": "/healthz",
        }
        print(f"newest request {time.strftime('%Y-%m-%d %H:%M', time.gmtime(last / 1000))} UTC")
        print(
            f"{samples} calls per route. fresh: each call a new query string, so the answer is "
            "computed (the aggregate SQL runs); repeat: the same query at an unchanged head "
            "(answered from the per-head cache)"
        )
        print(f"{'route':<24} {'fresh median':>12} {'p95':>8} {'repeat median':>14}  status")
        for name, path in routes.items():
            # Only the /traffic routes keep answers (and take unknown query parameters).
            sep = ("&" if "?" in path else "?") if path.startswith("/traffic/") else None
            fresh = []
            status = ""
            for i in range(samples):
                seconds, body = _get(base + path + ("" if sep is None else f"{sep}bench={i}"))
                fresh.append(seconds * 1000)
                status = body.get("status", "") if isinstance(body, dict) else ""
            repeat = [_get(base + path)[0] * 1000 for _ in range(samples)]
            fresh.sort()
            p95 = fresh[min(len(fresh) - 1, int(len(fresh) * 0.95))]
            print(f"{name:<24} {statistics.median(fresh):>12.1f} {p95:>8.1f} "
                  f"{statistics.median(repeat):>14.1f}  {status}")  # fmt: skip
        rss, hwm = _rss(proc.pid)
        print(f"server rss {rss:.0f} MB, peak {hwm:.0f} MB")
        # The report of a range walks its requests in the background (the route answers
        # "computing" meanwhile): how long that takes and what it costs in memory.
        for preset in walks:
            started = time.perf_counter()
            while True:
                _, body = _get(f"{base}/traffic/report?range={preset}")
                if body["status"] in ("ready", "too_large", "failed"):
                    break
                if time.perf_counter() - started > 900:
                    break
                time.sleep(2)
            rss, hwm = _rss(proc.pid)
            took = time.perf_counter() - started
            n = body.get("requests", body.get("total", {}).get("requests"))
            print(f"report walk of {preset}: {body['status']} ({n} "
                  f"requests) after {took:.0f} s (computeSeconds {body.get('computeSeconds')}); "
                  f"rss {rss:.0f} MB, peak {hwm:.0f} MB")  # fmt: skip
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


CACHE = Path(tempfile.gettempdir()) / "racs-bench-ledgers"
"""Where built ledgers are kept between runs (PostgreSQL: a schema, named in a marker)."""


def _pg_target(pg_url: str, schema: str) -> str:
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(pg_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def cached(backend: str, runs: int, pg_url: str) -> str:
    """The ledger of ``runs`` bench runs on ``backend``: built and verified once, then kept
    (SQLite under ``CACHE``; PostgreSQL in schema ``racs_bench_<runs>``, marked done in
    ``CACHE``). A build that did not finish is thrown away and started again."""
    CACHE.mkdir(parents=True, exist_ok=True)
    done = CACHE / f"{backend}-{runs}.done"
    if backend == "sqlite":
        target = str(CACHE / f"sqlite-{runs}.db")
    else:
        schema = f"racs_bench_{runs}"
        target = _pg_target(pg_url, schema)
    if done.exists():
        print(f"reusing the ledger built before: {target}")
        return target
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)
    else:
        _drop_schema(pg_url, schema)
    print(f"building {runs:,} runs into {backend} ...", flush=True)
    seconds = build(target, runs)
    rate = runs / seconds
    print(f"built in {seconds:.0f} s ({rate:,.0f} runs/s, {3 * rate:,.0f} events/s)")
    started = time.perf_counter()
    with create_ledger(target) as ledger:
        result = ledger.verify()
    print(f"verify: ok={result.ok}, {result.checked:,} events checked in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    if not result.ok:
        raise SystemExit(f"the built ledger does not verify: {result}")
    if backend == "sqlite":
        print(f"ledger file {Path(target).stat().st_size / 1e6:,.0f} MB")
    done.write_text(target + "\n")
    return target


def forget(backend: str, runs: int, pg_url: str) -> None:
    """Drop a cached ledger (``--drop``)."""
    (CACHE / f"{backend}-{runs}.done").unlink(missing_ok=True)
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(str(CACHE / f"sqlite-{runs}.db") + suffix).unlink(missing_ok=True)
    else:
        _drop_schema(pg_url, f"racs_bench_{runs}")


def main() -> int:
    """Build (unless ``--ledger`` names an existing one, or one is cached) and measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--ledger", help="an existing ledger to measure (skips the build)")
    parser.add_argument("--pg-url", default=os.environ.get("RACS_BENCH_POSTGRES_URL", PG_DEFAULT))
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument(
        "--walks", default="24h,7d,all", help="ranges whose report walk is timed at the end"
    )
    parser.add_argument("--build-only", action="store_true", help="build (or reuse), no server")
    parser.add_argument("--drop", action="store_true", help="drop the cached ledger and stop")
    ns = parser.parse_args()
    if ns.drop:
        forget(ns.backend, ns.runs, ns.pg_url)
        return 0
    target = ns.ledger or cached(ns.backend, ns.runs, ns.pg_url)
    if not ns.build_only:
        measure(target, ns.samples, tuple(w for w in ns.walks.split(",") if w))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ledger throughput, query latency and memory, on SQLite and PostgreSQL. Prints figures.

    python bench/ledger_bench.py                      # both backends, the issue's sizes
    python bench/ledger_bench.py --quick              # a tenth of every size
    python bench/ledger_bench.py --backend sqlite --memory-events 2000000
    python bench/ledger_bench.py --backend postgres --only-writers   # concurrent writers

Targets (ledger issue): SQLite >= 200,000 events/s through the batch API, >= 10,000 runs/s
through single start_run + complete_run calls, get_usage_stats over 1,000,000 runs <= 150 ms,
a query_runs page <= 10 ms, memory flat over 10,000,000 appended events. PostgreSQL reports
the same figures, and first runs/s (start_run + complete_run) of 1, 4 and 16 writer
processes, each its own create_ledger, beside plain autocommit INSERTs/s on the same
server (goal: >= 2,500 runs/s with 16 writers, rising with writers). For SQLite the
single-call figure is followed by its floor: the exact statements the ledger sent, replayed
by a bare loop with no ledger logic. Nothing here asserts: the figures are printed for a
human to read.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import quote

from racs.ledger import Batch, Ledger, create_ledger

DEFAULT_PG_URL = os.environ.get(
    "RACS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BATCH_EVENTS = 10_000
DAY_MS = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


class StepClock:
    """Fake time: ``step`` ms per reading, so a million runs can span a month."""

    def __init__(self, step: int) -> None:
        self.now = T0
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


def rss_mb() -> float:
    """Resident set size now (from /proc), else the peak (getrusage)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Event mixes appended through the batch API -------------------------------------------------


def lifecycle_run(batch: Batch, i: int) -> int:
    """A typical run: start, auth, policy, routing, one provider call, completion (6 events)."""
    run_id = batch.start_run(
        workspace_id=f"ws{i % 10}",
        agent_id=f"agent-{i % 50}",
        provider="anthropic",
        model="claude-sonnet-4-5",
        metadata={"task": "triage"},
    )
    batch.record_auth_validation(run_id, {"valid": True, "auth_type": "api"})
    batch.record_policy_evaluation(run_id, [{"policy": "default", "allowed": True}])
    batch.record_routing(run_id, {"provider": "anthropic", "model": "claude-sonnet-4-5"})
    batch.record_provider_call(run_id, {"attempt": 1, "status": 200, "duration_ms": 812})
    batch.complete_run(
        run_id,
        latency_ms=812.0 + i % 997,
        ttft_ms=95.0 + i % 251,
        input_tokens=12_000,
        output_tokens=480,
        total_tokens=12_480,
        cost_usd=0.0132,
        cache_read_tokens=10_000,
        cache_write_tokens_5m=1_500,
    )
    return 6


def agent_loop_run(batch: Batch, i: int) -> int:
    """An agent loop: start, auth, policy, routing, 20 provider calls, completion (25 events)."""
    run_id = batch.start_run(
        workspace_id=f"ws{i % 10}",
        agent_id=f"agent-{i % 50}",
        provider="anthropic",
        model="claude-sonnet-4-5",
    )
    batch.record_auth_validation(run_id, {"valid": True})
    batch.record_policy_evaluation(run_id, [{"policy": "default", "allowed": True}])
    batch.record_routing(run_id, {"provider": "anthropic", "model": "claude-sonnet-4-5"})
    for turn in range(20):
        batch.record_provider_call(run_id, {"turn": turn, "status": 200, "duration_ms": 640})
    batch.complete_run(
        run_id,
        latency_ms=13_000.0 + i % 997,
        ttft_ms=90.0 + i % 251,
        input_tokens=240_000,
        output_tokens=9_000,
        total_tokens=249_000,
        cost_usd=0.41,
        cache_read_tokens=200_000,
        cache_write_tokens_5m=30_000,
    )
    return 25


def usage_record(batch: Batch, i: int) -> int:
    """One cache.usage record of the planning engine (1 event)."""
    batch.record_cache_usage(
        provider="anthropic",
        model="claude-sonnet-4-5",
        input_tokens=12_000,
        cache_read_tokens=10_000 if i % 4 else 0,
        cache_write_tokens_5m=0 if i % 4 else 10_000,
        prefix_key=f"prefix-{i % 200}",
        agent_id=f"agent-{i % 50}",
    )
    return 1


MIXES: dict[str, Callable[[Batch, int], int]] = {
    "lifecycle (6 events/run)": lifecycle_run,
    "agent loop (25 events/run)": agent_loop_run,
    "cache.usage records": usage_record,
}


def append(ledger: Ledger, mix: Callable[[Batch, int], int], events: int, start: int = 0) -> int:
    """Append about ``events`` events of ``mix`` in batches of ~BATCH_EVENTS; returns the count."""
    done = 0
    i = start
    while done < events:
        with ledger.batch() as batch:
            in_batch = 0
            while in_batch < BATCH_EVENTS and done + in_batch < events:
                in_batch += mix(batch, i)
                i += 1
        done += in_batch
    return done


# Backends -----------------------------------------------------------------------------------


@contextmanager
def backend_target(kind: str, workdir: str, pg_url: str) -> Iterator[Callable[[], str]]:
    """Yields a factory of fresh ledger locations, removed afterwards."""
    made: list[str] = []

    def fresh() -> str:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        made.append(name)
        if kind == "sqlite":
            return os.path.join(workdir, name, "ledger.db")
        sep = "&" if "?" in pg_url else "?"
        return f"{pg_url}{sep}options={quote(f'-csearch_path={name}')}"

    try:
        yield fresh
    finally:
        if kind == "postgres":
            import psycopg

            with psycopg.connect(pg_url, autocommit=True) as conn:
                for name in made:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        else:
            for name in made:
                shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)


def settle(target: str) -> None:
    """PostgreSQL: VACUUM ANALYZE, as autovacuum does within a minute or so of a bulk load.

    Query figures are for that steady state: right after a million inserts the planner has
    no statistics and index-only scans still visit the heap.
    """
    if not target.startswith("postgresql://"):
        return
    import psycopg

    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events, runs, run_rollup, cache_usage, usage_rollup")


def timed(fn: Callable[[], Any], repeat: int = 7) -> tuple[float, float]:
    """Median and best wall time of ``fn`` in ms (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def bench_batches(fresh: Callable[[], str], events: int) -> None:
    print(f"  batch API, {events:,} events per mix, {BATCH_EVENTS:,} events per batch:")
    for name, mix in MIXES.items():
        with create_ledger(fresh(), clock=StepClock(1)) as ledger:
            start = time.perf_counter()
            done = append(ledger, mix, events)
            elapsed = time.perf_counter() - start
            print(f"    {name:28s} {done / elapsed:>10,.0f} events/s")


def single_runs(ledger: Ledger, runs: int) -> float:
    """Seconds for ``runs`` single start_run + complete_run calls."""
    start = time.perf_counter()
    for i in range(runs):
        run_id = ledger.start_run(
            workspace_id=f"ws{i % 10}",
            agent_id="agent",
            provider="anthropic",
            model="claude-sonnet-4-5",
        )
        ledger.complete_run(run_id, latency_ms=800.0, input_tokens=1000, cache_read_tokens=800)
    return time.perf_counter() - start


def bench_single(fresh: Callable[[], str], runs: int) -> None:
    with create_ledger(fresh(), clock=StepClock(1)) as ledger:
        elapsed = single_runs(ledger, runs)
    print(
        f"  single calls, {runs:,} runs (start_run + complete_run, 2 commits each): "
        f"{runs / elapsed:,.0f} runs/s"
    )


class _Recording(sqlite3.Connection):
    """A connection that logs every statement and its parameters, in order."""

    log: ClassVar[list[tuple[str, Any, bool]]] = []

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self.log.append((sql, parameters, False))
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        rows = list(parameters)
        self.log.append((sql, rows, True))
        return super().executemany(sql, rows)


def bench_sql_floor(fresh: Callable[[], str], runs: int) -> None:
    """The single-call figure's floor: the ledger's exact SQL, replayed with no Python logic.

    The statements (and parameters) the ledger sent for ``runs`` single-call runs are
    recorded, then sent again by a bare loop to a fresh file; what the ledger adds on top
    (validation, JSON, hashing, the fold) is the difference between the two figures.
    """
    real_connect = sqlite3.connect

    def recording(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real_connect(*args, factory=_Recording, **kwargs)

    _Recording.log = log = []
    sqlite3.connect = recording  # type: ignore[assignment]
    try:
        with create_ledger(fresh(), clock=StepClock(1)) as ledger:
            setup = len(log)
            single_runs(ledger, runs)
    finally:
        sqlite3.connect = real_connect  # type: ignore[assignment]
    target = fresh()
    os.makedirs(os.path.dirname(target), exist_ok=True)
    conn = real_connect(target, isolation_level=None)
    try:
        start = 0.0
        for i, (sql, params, many) in enumerate(log):
            if i == setup:
                start = time.perf_counter()
            if many:
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params).fetchall()
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
        _Recording.log = []  # the statements would otherwise weigh on the memory figures
    print(
        f"  the same SQL replayed by a bare loop ({len(log) - setup:,} statements): "
        f"{runs / elapsed:,.0f} runs/s"
    )


def _ledger_writer(target: str, go: Any, seconds: float, out: Any) -> None:
    """One writer process: its own ledger, start_run + complete_run until the time is up."""
    with create_ledger(target) as ledger:
        out.put(None)
        go.wait()
        started = time.perf_counter()
        waits = []
        runs = 0
        while time.perf_counter() - started < seconds:
            run_id = ledger.start_run(
                workspace_id=f"ws{runs % 10}", agent_id="agent", provider="p", model="m"
            )
            called = time.perf_counter()
            ledger.complete_run(run_id, latency_ms=800.0, input_tokens=1000)
            waits.append(time.perf_counter() - called)
            runs += 1
        out.put((runs, time.perf_counter() - started, waits))


def _insert_writer(target: str, go: Any, seconds: float, out: Any) -> None:
    """One process of plain autocommit INSERTs (the server's own commit rate)."""
    import psycopg

    with psycopg.connect(target, autocommit=True) as conn:
        out.put(None)
        go.wait()
        started = time.perf_counter()
        done = 0
        while time.perf_counter() - started < seconds:
            conn.execute("INSERT INTO plain (n, body) VALUES (%s, %s)", (done, "x" * 100))
            done += 1
        out.put((done, time.perf_counter() - started, []))


def _in_processes(
    work: Callable[[str, Any, float, Any], None], target: str, writers: int, seconds: float
) -> tuple[float, list[float]]:
    """Operations per second of ``writers`` processes running ``work`` for ``seconds``."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    procs = [ctx.Process(target=work, args=(target, go, seconds, out)) for _ in range(writers)]
    for proc in procs:
        proc.start()
    for _ in procs:  # every process connected before the clock starts
        out.get(timeout=120)
    go.set()
    results = [out.get(timeout=120 + seconds) for _ in procs]
    for proc in procs:
        proc.join()
    done = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results)
    return done / elapsed, [w for r in results for w in r[2]]


def bench_writers(fresh: Callable[[], str], counts: list[int], seconds: float) -> None:
    """PostgreSQL: runs/s of concurrent writer processes beside plain INSERTs/s."""
    import psycopg

    print(
        f"  concurrent writer processes, {seconds:g} s each "
        "(runs = start_run + complete_run; INSERT = one autocommit row):"
    )
    for writers in counts:
        target = fresh()
        create_ledger(target).close()  # the schema exists before the writers start
        rate, waits = _in_processes(_ledger_writer, target, writers, seconds)
        with create_ledger(target) as ledger:
            ledger.seal_pending()
            result = ledger.verify()
            runs = ledger.count_runs(status="completed")
        plain = fresh()
        create_ledger(plain).close()  # creates the schema; the table beside the ledger's
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("CREATE TABLE plain (n BIGINT, body TEXT)")
        inserts, _ = _in_processes(_insert_writer, plain, writers, seconds)
        waits.sort()
        ms = [1000 * waits[int(q * (len(waits) - 1))] for q in (0.5, 0.99, 1.0)]
        print(
            f"    {writers:2d} writer(s): {rate:8,.0f} runs/s   plain {inserts:8,.0f} INSERTs/s   "
            f"complete_run until chained p50 {ms[0]:.1f} ms, p99 {ms[1]:.1f} ms, "
            f"max {ms[2]:.1f} ms   ({runs:,} runs, verify ok={result.ok})"
        )


def populate_runs(ledger: Ledger, runs: int) -> None:
    """``runs`` finished runs over 30 days: 10 workspaces, 2 providers x 3 models."""
    rnd = random.Random(7)
    for first in range(0, runs, 5_000):
        with ledger.batch() as batch:
            for i in range(first, min(runs, first + 5_000)):
                run_id = batch.start_run(
                    workspace_id=f"ws{i % 10}",
                    agent_id=f"agent-{i % 50}",
                    provider=("anthropic", "openai")[i % 2],
                    model=f"model-{i % 3}",
                    auth_type=("api", "consumer")[i % 2],
                    execution_mode=("interactive", "background", "scheduled")[i % 3],
                )
                if i % 10 == 9:
                    batch.cancel_run(run_id)
                    continue
                batch.complete_run(
                    run_id,
                    status="failed" if i % 10 == 8 else "completed",
                    latency_ms=rnd.lognormvariate(7, 0.5),
                    ttft_ms=rnd.lognormvariate(5, 0.5),
                    input_tokens=1000 + i % 500,
                    output_tokens=500,
                    total_tokens=1500 + i % 500,
                    cost_usd=0.015,
                    cache_read_tokens=800,
                    cache_write_tokens_5m=100,
                )


def bench_queries(fresh: Callable[[], str], runs: int) -> None:
    clock = StepClock(max(1, 30 * DAY_MS // (2 * runs)))
    target = fresh()
    with create_ledger(target, clock=clock) as ledger:
        start = time.perf_counter()
        populate_runs(ledger, runs)
        print(f"  {runs:,} runs populated in {time.perf_counter() - start:.1f} s")
        settle(target)
        mid = T0 + (clock.now - T0) // 2
        window = {"since": T0 + 7 * DAY_MS + 123_456, "until": mid + 3 * DAY_MS + 654_321}
        pricing = {
            f"model-{m}": {
                "inputPerMTok": 3.0,
                "cacheReadPerMTok": 0.3,
                "cacheWrite5mPerMTok": 3.75,
            }
            for m in range(3)
        }
        print("  get_usage_stats (median / best of 7):")
        for label, kwargs in [
            ("all runs", {}),
            ("all runs, with pricing", {"pricing": pricing}),
            ("one workspace", {"workspace_id": "ws3"}),
            ("a 2-week window (unaligned)", window),
            ("workspace + window", {"workspace_id": "ws3", **window}),
        ]:
            med, best = timed(lambda kw=kwargs: ledger.get_usage_stats(**kw))
            print(f"    {label:34s} {med:7.1f} ms  (best {best:.1f})")
        stats = ledger.get_usage_stats()
        print(
            f"    -> {stats.runs:,} runs, latency p50 {stats.latency_ms.p50:.1f} ms, "
            f"p95 {stats.latency_ms.p95:.1f} ms"
        )
        deep = None
        for _ in range(50):
            deep = ledger.query_runs(limit=100, cursor=deep).next_cursor
        first_failed = ledger.query_runs(workspace_id="ws8", status="failed", limit=100)
        print("  query_runs, 100 per page (median / best of 7):")
        for label, call in [
            ("first page", lambda: ledger.query_runs(limit=100)),
            ("page 51 (keyset cursor)", lambda: ledger.query_runs(limit=100, cursor=deep)),
            (
                "workspace + status, page 2",
                lambda: ledger.query_runs(
                    workspace_id="ws8", status="failed", limit=100, cursor=first_failed.next_cursor
                ),
            ),
            ("auth_risk + window", lambda: ledger.query_runs(auth_risk=True, limit=100, **window)),
            ("count_runs(workspace)", lambda: ledger.count_runs(workspace_id="ws3")),
        ]:
            med, best = timed(call)
            print(f"    {label:34s} {med:7.1f} ms  (best {best:.1f})")


def bench_usage_totals(fresh: Callable[[], str], records: int) -> None:
    # The records span 30 days, so totals sum a month of hourly roll-up rows.
    target = fresh()
    with create_ledger(target, clock=StepClock(max(1, 30 * DAY_MS // records))) as ledger:
        append(ledger, usage_record, records)
        settle(target)
        print(f"  cache_usage_totals over {records:,} usage records (median / best of 7):")
        for label, kwargs in [
            ("all groups", {}),
            ("one prefix key", {"prefix_key": "prefix-7"}),
            ("one agent", {"agent_id": "agent-7"}),
        ]:
            med, best = timed(lambda kw=kwargs: ledger.cache_usage_totals(**kw))
            print(f"    {label:34s} {med:7.1f} ms  (best {best:.1f})")


def bench_memory(fresh: Callable[[], str], events: int) -> None:
    if events <= 0:
        return
    step = max(events // 10, BATCH_EVENTS)
    print(f"  memory while appending {events:,} lifecycle events (RSS every {step:,}):")
    with create_ledger(fresh(), clock=StepClock(1)) as ledger:
        baseline = rss_mb()
        samples = []
        done = 0
        start = time.perf_counter()
        while done < events:
            done += append(ledger, lifecycle_run, min(step, events - done), start=done)
            samples.append(rss_mb())
            print(
                f"    {done:>12,} events  RSS {samples[-1]:7.1f} MB  "
                f"({done / (time.perf_counter() - start):,.0f} events/s)",
                flush=True,
            )
        growth = samples[-1] - samples[0]
        print(
            f"    RSS before {baseline:.1f} MB, after the first step {samples[0]:.1f} MB, "
            f"at the end {samples[-1]:.1f} MB (growth after warm-up {growth:+.1f} MB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--dir", default=None, help="where SQLite files go (default: a temp dir)")
    parser.add_argument("--batch-events", type=int, default=1_000_000)
    parser.add_argument("--single-runs", type=int, default=20_000)
    parser.add_argument(
        "--pg-single-runs",
        type=int,
        default=2_000,
        help="single-call runs on PostgreSQL (each call is a durable commit)",
    )
    parser.add_argument("--stats-runs", type=int, default=1_000_000)
    parser.add_argument("--memory-events", type=int, default=10_000_000)
    parser.add_argument("--pg-memory-events", type=int, default=1_000_000)
    parser.add_argument(
        "--pg-writers",
        default="1,4,16",
        help="PostgreSQL: concurrent writer processes to measure, comma-separated",
    )
    parser.add_argument("--pg-writer-seconds", type=float, default=5.0)
    parser.add_argument(
        "--only-writers", action="store_true", help="PostgreSQL: only the concurrent writers"
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of every size")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    workdir = args.dir or tempfile.mkdtemp(prefix="racs-ledger-bench-")
    for kind in kinds:
        print(f"{kind}:", flush=True)
        with backend_target(kind, workdir, args.pg_url) as fresh:
            if kind == "postgres":
                counts = [int(n) for n in args.pg_writers.split(",") if n]
                bench_writers(fresh, counts, args.pg_writer_seconds)
                if args.only_writers:
                    continue
            bench_batches(fresh, args.batch_events // scale)
            single = args.single_runs if kind == "sqlite" else args.pg_single_runs
            bench_single(fresh, single // scale)
            if kind == "sqlite":
                bench_sql_floor(fresh, single // scale)
            bench_queries(fresh, args.stats_runs // scale)
            bench_usage_totals(fresh, args.batch_events // scale)
            memory = args.memory_events if kind == "sqlite" else args.pg_memory_events
            bench_memory(fresh, memory // scale)
    if args.dir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

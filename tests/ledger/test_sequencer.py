"""PostgreSQL's intake queue and sequencer: durability, exactly-once chaining, one sealer.

Writers queue what they cannot chain at once; the holder of the schema's session advisory
lock (the sequencer turn) chains it. The probes kill writers and sequencers with SIGKILL
and hold the turn or a table lock from a raw connection to catch a sequencer mid-batch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ledger.conftest import _postgres_store
from ledger.helpers import PG_URL, Store, projections, start
from ledger.test_concurrency import _assert_consistent
from racs.core.errors import ERR_CONFLICT, ERR_NOT_FOUND, RacsError
from racs.ledger import Ledger

WRITER = str(Path(__file__).with_name("writer.py"))


@pytest.fixture
def pg() -> Iterator[Store]:
    """A fresh PostgreSQL ledger location (the queue and sequencer are PostgreSQL's)."""
    yield from _postgres_store()


@contextmanager
def raw_connection(store: Store) -> Iterator[Any]:
    """An autocommit connection in the store's schema, for holding locks."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{store.schema}"')
        yield conn


@contextmanager
def held_turn(store: Store) -> Iterator[Any]:
    """Hold the sequencer turn (as a stuck sequencer on another host would)."""
    key = "hashtext('racs.ledger:' || current_schema())"
    with raw_connection(store) as conn:
        conn.execute(f"SELECT pg_advisory_lock({key})")
        yield conn
        # Released at once (a closed session releases it only once its backend has exited).
        conn.execute(f"SELECT pg_advisory_unlock({key})")


def queued(store: Store) -> int:
    """Submissions waiting in the intake queue."""
    return int(store.raw("SELECT COUNT(*) FROM ledger_intake")[0][0])


def queue_starts(store: Store, ledger: Ledger, count: int) -> list[str]:
    """``count`` started runs left in the queue (the turn held meanwhile)."""
    with held_turn(store):
        run_ids = [start(ledger, agent_id=f"a{i % 3}") for i in range(count)]
    assert queued(store) == count
    return run_ids


def wait_until(condition: Any, what: str) -> None:
    """Poll ``condition`` (a probe's progress, not a timing assertion) for up to a minute."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


class TestIntake:
    """What a writer sees while its events wait for the sequencer."""

    def test_start_is_durable_and_pending_while_the_turn_is_held(self, pg: Store) -> None:
        """Queued, not chained: verify counts it pending; seal_pending chains it."""
        ledger, other = pg.open(), pg.open()  # opening migrates, under the turn's lock
        with held_turn(pg):
            run_id = start(ledger)
            assert pg.count_events() == 0
            assert queued(pg) == 1
            result = other.verify()
            assert (result.ok, result.checked, result.pending) == (True, 0, 1)
            assert other.seal_pending() == 0  # the turn is taken: nothing sealed
            assert pg.count_events() == 0
        assert other.seal_pending() == 1
        result = other.verify()
        assert (result.ok, result.checked, result.pending) == (True, 1, 0)
        assert ledger.get_run(run_id) is not None

    def test_reads_see_their_own_queued_start(self, pg: Store) -> None:
        """A read after an unwaited start chains it first (taking the freed turn)."""
        ledger = pg.open()
        with held_turn(pg):
            run_id = start(ledger)
        run = ledger.get_run(run_id)
        assert run is not None and run.status == "started"
        assert queued(pg) == 0

    def test_refusal_reaches_the_waiting_writer(self, pg: Store) -> None:
        """A queued completion of an unknown run raises ERR_NOT_FOUND; nothing is stored."""
        ledger = pg.open()
        caught: list[BaseException] = []

        def complete() -> None:
            try:
                ledger.complete_run("01HZZZZZZZZZZZZZZZZZZZZZZZ")
            except BaseException as exc:  # reported by the main thread
                caught.append(exc)

        with held_turn(pg):
            waiter = threading.Thread(target=complete)
            waiter.start()
            wait_until(lambda: queued(pg) == 1, "the completion is queued")
        waiter.join()
        assert len(caught) == 1 and isinstance(caught[0], RacsError)
        assert caught[0].code == ERR_NOT_FOUND
        assert pg.count_events() == 0
        assert pg.raw("SELECT COUNT(*) FROM ledger_refusals") == [(0,)]

    def test_one_batch_keeps_each_submission_all_or_nothing(self, pg: Store) -> None:
        """Refused submissions leave no trace in a batch whose others are chained."""
        ledger = pg.open()
        done = start(ledger)
        ledger.complete_run(done)
        outcomes: dict[str, Any] = {}

        def call(name: str, fn: Any) -> None:
            try:
                outcomes[name] = fn()
            except RacsError as exc:
                outcomes[name] = exc.code

        # A ledger each: a waiting call holds its ledger until its events are chained.
        writers = [pg.open() for _ in range(4)]
        with held_turn(pg):
            run_id = start(ledger, agent_id="queued")
            calls = {
                "record": lambda: writers[0].record_retry(run_id, {"n": 1}),
                "after_end": lambda: writers[1].record_retry(done, {"n": 2}),
                "twice": lambda: start(writers[2], run_id=run_id),
                "batch": lambda: _batch_with_a_bad_tail(writers[3], run_id),
            }
            threads = [threading.Thread(target=call, args=item) for item in calls.items()]
            for thread in threads:
                thread.start()
            wait_until(lambda: queued(pg) == 5, "all five submissions queued")
        for thread in threads:
            thread.join()
        assert outcomes["after_end"] == ERR_CONFLICT
        assert outcomes["twice"] == ERR_CONFLICT
        assert outcomes["batch"] == ERR_NOT_FOUND
        assert isinstance(outcomes["record"], int)
        # done: start + completion; run_id: start + retry. The batch's run never existed.
        assert pg.count_events() == 4
        assert ledger.count_runs() == 2
        run = ledger.get_run(run_id)
        assert run is not None and run.retries == 1 and run.event_count == 2
        before = projections(pg)
        ledger.rebuild()
        assert projections(pg) == before
        assert ledger.verify().ok


def _batch_with_a_bad_tail(ledger: Ledger, run_id: str) -> None:
    with ledger.batch() as batch:
        fresh = start(batch, agent_id="batched")
        batch.record_retry(run_id, {"n": "from a batch"})
        batch.complete_run(fresh)
        batch.complete_run("01HYYYYYYYYYYYYYYYYYYYYYYY")


class TestSequencerTurn:
    """One sealer at a time, whoever starts first."""

    def test_two_sequencers_started_at_once_seal_each_event_once(self, pg: Store) -> None:
        """Two processes seal a queue of 300 starts: 300 events between them, no overlap."""
        ledger = pg.open()
        queue_starts(pg, ledger, 300)
        start_at = time.time() + 1.0
        procs = [
            subprocess.Popen(
                [sys.executable, WRITER, pg.target, "seal", f"s{i}", str(start_at)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        assert sum(int(out) for out, _ in outputs) == 300
        assert pg.count_events() == 300
        assert queued(pg) == 0
        _assert_consistent(ledger)

    def test_a_held_turn_excludes_every_other_sealer(self, pg: Store) -> None:
        """While the turn is held, neither seal_pending nor a writer chains anything."""
        ledger, other = pg.open(), pg.open()
        with held_turn(pg):
            start(ledger)
            assert other.seal_pending() == 0
            # A waiting writer finds the turn taken, polls, and keeps waiting.
            waiter = threading.Thread(target=lambda: ledger.record_retry(start(other), {}))
            waiter.start()
            wait_until(lambda: queued(pg) == 3, "the writer's submissions are queued")
            assert pg.count_events() == 0
        waiter.join()
        assert pg.count_events() == 3
        assert ledger.verify().ok

    @pytest.mark.parametrize(
        "blocked", ["ledger_intake", "runs"], ids=["before-commit", "commit-sent"]
    )
    def test_sequencer_killed_mid_batch(self, pg: Store, blocked: str) -> None:
        """A sequencer SIGKILLed while its batch waits on a lock: nothing lost or doubled.

        Blocking the queue catches it while reading (the batch rolls back); blocking the
        runs table catches it after it sent the whole batch, commit included (the batch
        commits or not as a whole). Either way another sequencer then chains the rest.
        """
        ledger = pg.open()
        run_ids = queue_starts(pg, ledger, 200)
        with raw_connection(pg) as blocker:
            blocker.execute("BEGIN")
            blocker.execute(f"LOCK TABLE {blocked} IN SHARE ROW EXCLUSIVE MODE")
            blocker_pid = blocker.info.backend_pid
            proc = subprocess.Popen(
                [sys.executable, WRITER, pg.target, "seal", "victim", "0"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            victims: list[Any] = []

            def blocked_sequencer() -> bool:
                victims[:] = pg.raw(
                    "SELECT pid FROM pg_stat_activity WHERE ? = ANY(pg_blocking_pids(pid))",
                    (blocker_pid,),
                )
                return len(victims) == 1

            wait_until(blocked_sequencer, "the sequencer is blocked mid-batch")
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            blocker.execute("ROLLBACK")
        # Its server session goes on until it next talks to the dead client, then ends.
        wait_until(
            lambda: not pg.raw("SELECT 1 FROM pg_stat_activity WHERE pid = ?", victims[0]),
            "the killed sequencer's session ends",
        )
        chained = pg.count_events()
        assert chained in (0, 200)  # the batch is all or nothing
        assert queued(pg) == (200 - chained)
        assert ledger.seal_pending() == 200 - chained
        assert pg.count_events() == 200
        assert ledger.count_runs() == 200
        assert {r.run_id for r in ledger.query_runs(limit=1000).items} == set(run_ids)
        _assert_consistent(ledger)


class TestKilledWriters:
    """Writers (each a sequencer whenever it holds the turn) SIGKILLed mid-append."""

    def test_four_writers_killed_lose_no_acknowledged_event(self, pg: Store) -> None:
        """Every position printed before the kills is stored once; the ledger verifies."""
        pg.open().close()
        procs = [
            subprocess.Popen(
                [sys.executable, WRITER, pg.target, "forever", f"victim{i}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(4)
        ]
        acknowledged: list[int] = []
        for proc in procs:
            assert proc.stdout is not None
            for _ in range(150):
                line = proc.stdout.readline()
                assert line, proc.stderr.read() if proc.stderr else "writer died"
                acknowledged.append(int(line))
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)
        for proc in procs:
            rest, _ = proc.communicate(timeout=30)
            # A line cut short by the kill was never fully acknowledged: whole lines only.
            acknowledged.extend(int(x) for x in rest.split("\n")[:-1] if x)
            assert proc.returncode == -signal.SIGKILL
        with pg.open() as ledger:
            wait_until(lambda: ledger.seal_pending() >= 0 and queued(pg) == 0, "recovery")
            stored = [e.position for e in ledger.query_events(limit=10_000)]
            assert len(stored) == len(set(stored)) == pg.count_events()
            assert set(acknowledged) <= set(stored)
            result = ledger.verify()
            assert (result.ok, result.pending) == (True, 0)
            _assert_consistent(ledger)

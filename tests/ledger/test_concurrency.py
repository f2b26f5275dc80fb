"""Many writers at once (threads, processes), and a writer killed mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ledger.helpers import Store, start
from racs.ledger import Ledger

WRITER = str(Path(__file__).with_name("writer.py"))


def _assert_consistent(ledger: Ledger) -> None:
    """The chain verifies and every run's events are numbered 1..event_count."""
    assert ledger.verify().ok
    cursor = None
    while True:
        page = ledger.query_runs(limit=1000, cursor=cursor)
        for run in page.items:
            seqs = [e.seq for e in ledger.get_run_events(run.run_id)]
            assert seqs == list(range(1, run.event_count + 1))
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


class TestThreads:
    """One ledger shared by threads, and two ledgers (connections) on one store."""

    def test_threads_lose_nothing(self, store: Store) -> None:
        """4 threads x 50 runs x 3 events on two connections: 600 events, chain intact."""
        ledgers = [store.open(), store.open()]
        errors: list[BaseException] = []

        def work(ledger: Ledger, name: str) -> None:
            try:
                for i in range(50):
                    run_id = start(ledger, agent_id=name)
                    ledger.record_retry(run_id, {"i": i})
                    ledger.complete_run(run_id)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(ledgers[i % 2], f"t{i}")) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.count_events() == 600
        assert ledgers[0].count_runs(status="completed") == 200
        assert all(ledgers[1].count_runs(agent_id=f"t{i}") == 50 for i in range(4))
        _assert_consistent(ledgers[1])


class TestProcesses:
    """Separate processes appending to one ledger at the same time."""

    def test_four_processes(self, store: Store) -> None:
        """4 processes x (500 x 3 + 50 x 4) events: exactly 6800 events and 2400 runs."""
        store.open().close()  # create the schema once, as a deployment would
        start_at = time.time() + 1.0
        procs = [
            subprocess.Popen(
                [sys.executable, WRITER, store.target, "runs", f"proc{i}", "500", str(start_at)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(4)
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
            assert "locked" not in err and "busy" not in err
        with store.open() as ledger:
            assert store.count_events() == 4 * (500 * 3 + 50 * 4)
            assert ledger.count_runs() == 4 * (500 + 100)
            assert ledger.count_runs(status="completed") == 2400
            for i in range(4):
                assert ledger.count_runs(agent_id=f"proc{i}") == 600
            _assert_consistent(ledger)


class TestKilledWriter:
    """A writer killed with SIGKILL loses nothing it acknowledged."""

    def test_sigkill_mid_stream(self, store: Store) -> None:
        """Every position printed before the kill is stored; the ledger verifies clean."""
        store.open().close()
        proc = subprocess.Popen(
            [sys.executable, WRITER, store.target, "forever", "victim"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        acknowledged: list[int] = []
        while len(acknowledged) < 400:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "writer died"
            acknowledged.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        # A line cut short by the kill was never fully acknowledged: keep whole lines only.
        acknowledged.extend(int(x) for x in rest.split("\n")[:-1] if x)
        assert proc.returncode == -signal.SIGKILL
        with store.open() as ledger:
            stored = {e.position for e in ledger.query_events(limit=10_000)}
            assert set(acknowledged) <= stored
            assert ledger.verify().ok
            assert ledger.count_runs(status="completed") >= len(acknowledged) // 3
            _assert_consistent(ledger)

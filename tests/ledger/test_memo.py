"""What one connection remembers between appends never outlives a write by another."""

from __future__ import annotations

import pytest

from ledger.helpers import Store, start
from racs.core.errors import ERR_CONFLICT, RacsError
from racs.ledger import Ledger
from racs.ledger.hashing import chain, event_json, seal


class TestTwoWriters:
    """Two ledgers on one store (two connections) interleave single calls."""

    def test_chain_and_runs_stay_right(self, ledger: Ledger, store: Store) -> None:
        """Each sees the other's events: one chain, no gaps, the latest run state."""
        other = store.open()
        run = start(ledger)
        ledger.record_provider_call(run, {"n": 1})
        assert other.record_provider_call(run, {"n": 2}) == 3  # head moved by ledger
        assert ledger.record_provider_call(run, {"n": 3}) == 4  # head moved by other
        other.complete_run(run, input_tokens=5)
        # ledger remembered the run as open; the other connection ended it
        with pytest.raises(RacsError) as caught:
            ledger.record_retry(run, {"attempt": 2})
        assert caught.value.code == ERR_CONFLICT
        assert [e.seq for e in ledger.get_run_events(run)] == [1, 2, 3, 4, 5]
        assert ledger.verify().ok and ledger.verify().checked == 5

    def test_a_refused_call_forgets_nothing_it_should_keep(self, ledger: Ledger) -> None:
        """A batch refused midway (the fold had started) leaves the next calls correct."""
        run = start(ledger)
        with pytest.raises(RacsError), ledger.batch() as batch:
            batch.record_provider_call(run, {"n": 1})
            batch.complete_run(run)
            batch.record_retry(run, {"late": True})  # after the end: the batch is refused
        assert ledger.get_run(run).status == "started"  # type: ignore[union-attr]
        assert ledger.record_provider_call(run, {"n": 2}) == 2
        assert ledger.get_run(run).event_count == 2  # type: ignore[union-attr]
        assert ledger.verify().ok

    def test_rebuild_by_another_connection(self, ledger: Ledger, store: Store) -> None:
        """A rebuild elsewhere (same rows, rewritten) does not confuse the next append."""
        run = start(ledger)
        store.open().rebuild()
        ledger.complete_run(run, input_tokens=3)
        assert ledger.get_run(run).input_tokens == 3  # type: ignore[union-attr]
        assert ledger.verify().ok


class TestSeal:
    """seal() is chain(event_json(...)) event after event, in one loop."""

    def test_same_hashes(self) -> None:
        """Runs, run-less records, a repeated run id and a non-ASCII payload."""
        rows = [
            (1, "01A", 1, "run.started", 10, '{"a":1}', None),
            (2, None, None, "cache.usage", 11, '{"b":"ü"}', None),
            (3, "01A", 2, "run.completed", 12, "{}", 1),
        ]
        digest = "sha256:" + "0" * 64
        expected = []
        for row in rows:
            digest = chain(digest, event_json(*row[:6]))
            expected.append((*row, digest))
        assert seal("sha256:" + "0" * 64, rows) == expected

"""Batches: many calls appended as one transaction, all or nothing."""

from __future__ import annotations

import pytest

from ledger.helpers import Store, start
from racs.core.errors import ERR_CLOSED, ERR_CONFLICT, ERR_INVALID_INPUT, ERR_NOT_FOUND, RacsError
from racs.ledger import Ledger


class TestBatch:
    """The batch API behaves like the single calls, in one transaction."""

    def test_batch_appends_in_order(self, ledger: Ledger, store: Store) -> None:
        """Runs started and ended inside a batch are projected; positions are returned."""
        before = start(ledger)
        with ledger.batch() as batch:
            run_ids = [start(batch, agent_id=f"a{i}") for i in range(3)]
            for run_id in run_ids:
                batch.record_provider_call(run_id, {"ok": True})
                batch.complete_run(run_id, input_tokens=10)
            batch.complete_run(before)
            assert len(batch) == 10
        assert batch.positions == tuple(range(2, 12))
        assert store.count_events() == 11
        assert [ledger.get_run(r).event_count for r in run_ids] == [3, 3, 3]  # type: ignore[union-attr]
        assert ledger.get_run(before).status == "completed"  # type: ignore[union-attr]
        assert ledger.get_usage_stats().input_tokens == 30
        assert ledger.verify().checked == 11

    def test_an_exception_discards_the_batch(self, ledger: Ledger, store: Store) -> None:
        """Leaving the block by an exception writes nothing."""
        with pytest.raises(KeyError), ledger.batch() as batch:
            start(batch)
            raise KeyError("caller's own failure")
        assert store.count_events() == 0

    def test_bad_input_raises_at_the_call(self, ledger: Ledger, store: Store) -> None:
        """Validation happens at each call; the failing batch is discarded."""
        with pytest.raises(RacsError) as caught, ledger.batch() as batch:
            start(batch)
            batch.complete_run("x", input_tokens=-1)
        assert caught.value.code == ERR_INVALID_INPUT
        assert store.count_events() == 0

    @pytest.mark.parametrize(
        ("code", "second"),
        [
            (ERR_NOT_FOUND, lambda b, run: b.record_retry("ghost", {})),
            (ERR_CONFLICT, lambda b, run: b.complete_run(run)),
        ],
    )
    def test_run_rules_abort_the_whole_batch(
        self, ledger: Ledger, store: Store, code: str, second: object
    ) -> None:
        """An unknown run or an event after the end, found at commit: nothing is written."""
        run_id = start(ledger)
        ledger.complete_run(run_id)
        with pytest.raises(RacsError) as caught, ledger.batch() as batch:
            start(batch)
            second(batch, run_id)  # type: ignore[operator]
        assert caught.value.code == code
        assert store.count_events() == 2
        assert ledger.count_runs() == 1

    def test_rules_apply_inside_the_batch(self, ledger: Ledger, store: Store) -> None:
        """A run completed twice within one batch is refused."""
        with pytest.raises(RacsError) as caught, ledger.batch() as batch:
            run_id = start(batch)
            batch.complete_run(run_id)
            batch.cancel_run(run_id)
        assert caught.value.code == ERR_CONFLICT
        assert store.count_events() == 0

    def test_a_batch_is_used_once(self, ledger: Ledger) -> None:
        """After commit the batch refuses further calls; an empty batch commits nothing."""
        with ledger.batch() as batch:
            pass
        assert batch.positions == ()
        with pytest.raises(RacsError) as caught:
            start(batch)
        assert caught.value.code == ERR_CLOSED

    def test_large_batch_keeps_the_chain(self, ledger: Ledger) -> None:
        """25,000 events (more than one internal chunk) in one batch verify clean."""
        with ledger.batch() as batch:
            for i in range(5000):
                run_id = start(batch, workspace_id=f"ws{i % 7}")
                for _ in range(3):
                    batch.record_provider_call(run_id, {"i": i})
                batch.complete_run(run_id, latency_ms=i, input_tokens=i)
        assert ledger.count_runs() == 5000
        result = ledger.verify()
        assert (result.ok, result.checked) == (True, 25_000)
        # sum of 0..4999
        assert ledger.get_usage_stats().input_tokens == 4999 * 5000 // 2

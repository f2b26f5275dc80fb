"""StateSaver: reserved plan ids and contained failures, against a real state file."""

from __future__ import annotations

import json
from pathlib import Path

from racs import create_racs, file_state
from racs.server.persist import StateSaver
from server.conftest import plan_input


def _saved_counter(path: Path) -> int:
    counter: int = json.loads(path.read_text())["data"]["planCounter"]
    return counter


class TestReservations:
    def test_each_save_reserves_a_block_ahead_of_the_counter(self, tmp_path: Path) -> None:
        """With 3 plans made, a save records 3 + 10 = 13; the engine itself still says 3."""
        state = tmp_path / "s.json"
        engine = create_racs(state=file_state(state))
        saver = StateSaver(engine, file_state(state), interval=60, block=10)
        for i in range(3):
            engine.plan(plan_input(str(i)))
        assert saver.save() is True
        assert saver.reserved == 13 and _saved_counter(state) == 13
        assert engine.plans_created == 3

    def test_cover_saves_only_past_the_mark(self, tmp_path: Path) -> None:
        """Plans 1..10 are covered by the first reservation (10); plan 11 forces a save
        reserving 11 + 10 = 21 before it may be answered."""
        state = tmp_path / "s.json"
        engine = create_racs()
        saver = StateSaver(engine, file_state(state), interval=60, block=10)
        saver.save()
        for i in range(10):
            engine.plan(plan_input(str(i)))
            saver.cover(engine.plans_created)
        assert _saved_counter(state) == 10
        engine.plan(plan_input("11"))
        saver.cover(engine.plans_created)
        assert saver.reserved == 21 and _saved_counter(state) == 21

    def test_restart_from_a_reservation_never_repeats_an_id(self, tmp_path: Path) -> None:
        """An engine restored from a reserved snapshot numbers its next plan above it."""
        state = tmp_path / "s.json"
        first = create_racs(state=file_state(state))
        saver = StateSaver(first, file_state(state), interval=60, block=10)
        saver.save()
        ids = {first.plan(plan_input(str(i))).plan_id for i in range(5)}
        second = create_racs(state=file_state(state))  # as after kill -9: no final save
        again = second.plan(plan_input("0"))
        assert second.plans_created == 11 and again.plan_id not in ids


class TestFailures:
    def test_a_failed_save_is_counted_and_retried_after_the_interval(self, tmp_path: Path) -> None:
        """A save into a path under a file fails without raising; cover() does not retry
        it on every plan (the next try waits for the interval)."""
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("x")
        engine = create_racs()
        saver = StateSaver(engine, file_state(blocker / "s.json"), interval=3600, block=1)
        assert saver.save() is False
        assert saver.failures == 1 and saver.reserved == 0
        for i in range(5):
            engine.plan(plan_input(str(i)))
            saver.cover(engine.plans_created)
        assert saver.failures == 1  # throttled: no retry before the interval

"""Append-only storage, tamper evidence, rebuilds and schema versions."""

from __future__ import annotations

import pytest

from ledger.helpers import FakeClock, Store, history, projections, start
from racs.core.errors import ERR_STATE_VERSION, ERR_STORAGE, RacsError
from racs.ledger import Ledger
from racs.ledger.migrations import LATEST


class TestAppendOnly:
    """The database itself refuses to change or remove events."""

    def test_update_is_refused(self, ledger: Ledger, store: Store) -> None:
        """A raw UPDATE fails in the database, whoever sends it."""
        start(ledger)
        with pytest.raises(Exception, match="append-only"):
            store.raw("UPDATE events SET ts = 0")

    def test_delete_is_refused(self, ledger: Ledger, store: Store) -> None:
        """A raw DELETE fails, with or without a WHERE clause."""
        start(ledger)
        for sql in ("DELETE FROM events WHERE position = 1", "DELETE FROM events"):
            with pytest.raises(Exception, match="append-only"):
                store.raw(sql)
        assert store.count_events() == 1

    def test_truncate_is_refused(self, ledger: Ledger, store: Store) -> None:
        """Emptying the table wholesale is refused: PostgreSQL's TRUNCATE, and SQLite's
        truncate optimisation (an unqualified DELETE, which its trigger disables)."""
        start(ledger)
        sql = "TRUNCATE events" if store.kind == "postgres" else "DELETE FROM events"
        with pytest.raises(Exception, match="append-only"):
            store.raw(sql)
        assert store.count_events() == 1


class TestVerify:
    """verify() walks the chain and names the first event that does not match."""

    def test_untouched_ledger_verifies(self, ledger: Ledger) -> None:
        """A clean ledger: ok, every event checked, head = last event's hash."""
        history(ledger)
        result = ledger.verify()
        last = ledger.query_events(after_position=13)[-1]
        assert (result.ok, result.checked, result.first_bad_position) == (True, 14, None)
        assert result.head_hash == last.hash

    def test_empty_ledger_verifies(self, ledger: Ledger) -> None:
        """No events: ok, nothing checked."""
        assert ledger.verify().to_dict() == {
            "ok": True,
            "checked": 0,
            "first_bad_position": None,
            "reason": None,
            "head_hash": None,
            "pending": 0,
        }

    @pytest.mark.parametrize(
        ("column", "edit"),
        [
            ("payload", "REPLACE(payload, '200', '201')"),
            ("ts", "ts + 1"),
            ("seq", "seq + 10"),
            ("type", "'run.provider_calleD'"),
            ("run_id", "run_id || 'x'"),
            ("hash", "REPLACE(hash, 'sha256:', 'sha256:0')"),
        ],
    )
    def test_one_changed_byte_is_found(
        self, ledger: Ledger, store: Store, column: str, edit: str
    ) -> None:
        """Editing event 5 (the provider call) behind the ledger's back: reported at 5."""
        history(ledger)
        store.raw(f"UPDATE events SET {column} = {edit} WHERE position = 5", bypass=True)
        result = ledger.verify()
        assert (result.ok, result.first_bad_position, result.checked) == (False, 5, 4)
        assert result.reason

    def test_a_removed_event_is_found(self, ledger: Ledger, store: Store) -> None:
        """Deleting event 3 breaks the chain at the position where it is missing."""
        history(ledger)
        store.raw("DELETE FROM events WHERE position = 3", bypass=True)
        result = ledger.verify()
        assert (result.ok, result.first_bad_position) == (False, 4)
        assert "3 is missing" in (result.reason or "")

    @pytest.mark.parametrize("link", [None, 1, 3, 99])
    def test_an_edited_run_link_is_found(
        self, ledger: Ledger, store: Store, link: int | None
    ) -> None:
        """The unhashed link to the run's previous event must match the hashed run and seq:
        cut, pointed at the wrong event of the run, at another run's event or nowhere."""
        done = history(ledger)[0]
        store.raw("UPDATE events SET run_prev = ? WHERE position = 5", (link,), bypass=True)
        result = ledger.verify()
        assert (result.ok, result.checked, result.first_bad_position) == (False, 4, 5)
        assert "link" in (result.reason or "")
        # Reading never loops or leaks another run's events, whatever the link says.
        assert all(e.run_id == done for e in ledger.get_run_events(done))

    def test_run_events_follow_the_links(self, ledger: Ledger) -> None:
        """Interleaved runs: each run's events, in order, and only those."""
        first, second = start(ledger), start(ledger)
        for n in range(3):
            ledger.record_provider_call(first, {"n": n})
            ledger.record_provider_call(second, {"n": n})
        ledger.record_cache_usage(
            provider="p", model="m", input_tokens=1, cache_read_tokens=0, run_id=second
        )
        events = ledger.get_run_events(second)
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert [e.position for e in events] == [2, 4, 6, 8, 9]
        assert [e.position for e in ledger.query_events(run_id=first)] == [1, 3, 5, 7]
        assert [e.position for e in ledger.query_events(run_id=second, after_position=4)] == [
            6,
            8,
            9,
        ]
        assert ledger.query_events(run_id="01NOSUCHRUN") == ()

    def test_an_edited_payload_still_reads(self, ledger: Ledger, store: Store) -> None:
        """A payload that is no longer a JSON object reads as {} and fails verification."""
        history(ledger)
        store.raw("UPDATE events SET payload = 'not json' WHERE position = 2", bypass=True)
        assert ledger.query_events(after_position=1, limit=1)[0].payload == {}
        assert ledger.verify().first_bad_position == 2


class TestRebuild:
    """The projections are a pure function of the events."""

    def test_rebuild_reproduces_the_projection(self, ledger: Ledger, store: Store) -> None:
        """rebuild() after wiping runs, roll-ups and usage rows restores them exactly."""
        history(ledger)
        original = projections(store)
        for table in ("runs", "run_rollup", "cache_usage", "usage_rollup"):
            store.raw(f"DELETE FROM {table}")
        assert ledger.rebuild() == 14
        assert projections(store) == original
        assert ledger.verify().ok

    def test_rebuild_is_idempotent(self, ledger: Ledger, store: Store) -> None:
        """Rebuilding an intact ledger changes nothing, twice."""
        run_ids = history(ledger)
        runs = [ledger.get_run(r) for r in run_ids]
        original = projections(store)
        ledger.rebuild()
        ledger.rebuild()
        assert projections(store) == original
        assert [ledger.get_run(r) for r in run_ids] == runs

    def test_an_unprojectable_event_stops_the_rebuild(self, ledger: Ledger, store: Store) -> None:
        """A start event edited to lack its fields: ERR_STORAGE naming it, nothing changed."""
        history(ledger)
        original = projections(store)
        store.raw("UPDATE events SET payload = '{}' WHERE position = 1", bypass=True)
        with pytest.raises(RacsError) as caught:
            ledger.rebuild()
        assert caught.value.code == ERR_STORAGE
        assert "event 1" in caught.value.message
        assert projections(store) == original


class TestSchemaVersions:
    """The schema is versioned; older ledgers migrate, newer ones are refused."""

    def test_new_ledger_is_at_the_latest_version(self, ledger: Ledger, store: Store) -> None:
        """Every migration is recorded once, in order."""
        rows = store.raw("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == list(range(1, LATEST + 1))
        assert ledger.schema_version == LATEST

    def test_newer_ledger_is_refused(self, ledger: Ledger, store: Store) -> None:
        """A version this code does not know: ERR_STATE_VERSION, naming both versions."""
        start(ledger)
        ledger.close()
        store.raw("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'x', 0)")
        with pytest.raises(RacsError) as caught:
            store.open()
        assert caught.value.code == ERR_STATE_VERSION
        assert "99" in caught.value.message and str(LATEST) in caught.value.message
        assert store.count_events() == 1

    def test_older_ledger_is_migrated_and_projected(self, store: Store, clock: FakeClock) -> None:
        """A version-1 ledger (events only) gains the projections, rebuilt from its events."""
        with store.open(clock) as ledger:
            run_ids = history(ledger)
            runs = [ledger.get_run(r) for r in run_ids]
            events = [ledger.get_run_events(r) for r in run_ids]
        original = projections(store)
        downgrade_intake(store)
        downgrade_run_links(store)
        for table in ("runs", "run_rollup", "run_histogram", "cache_usage", "usage_rollup"):
            store.raw(f"DROP TABLE {table}")
        store.raw("DELETE FROM schema_migrations WHERE version > 1")
        with store.open(clock) as ledger:
            assert ledger.schema_version == LATEST
            assert [ledger.get_run(r) for r in run_ids] == runs
            assert [ledger.get_run_events(r) for r in run_ids] == events
            assert projections(store) == original
            assert ledger.verify().ok

    def test_version_2_ledger_gains_run_links(self, store: Store, clock: FakeClock) -> None:
        """A version-2 ledger (with the (run_id, seq) index, no histograms) is linked and
        re-projected."""
        with store.open(clock) as ledger:
            run_ids = history(ledger)
            events = [ledger.get_run_events(r) for r in run_ids]
        original = projections(store)
        links = store.raw("SELECT position, run_prev FROM events ORDER BY position")
        downgrade_intake(store)
        downgrade_run_links(store)
        store.raw("DROP TABLE run_histogram")
        store.raw("DELETE FROM schema_migrations WHERE version > 2")
        with store.open(clock) as ledger:
            assert ledger.schema_version == LATEST
            assert store.raw("SELECT position, run_prev FROM events ORDER BY position") == links
            assert [ledger.get_run_events(r) for r in run_ids] == events
            assert projections(store) == original
            assert ledger.verify().ok
            ledger.record_provider_call(run_ids[-1], {"after": "migration"})
            assert len(ledger.get_run_events(run_ids[-1])) == len(events[-1]) + 1
        with pytest.raises(Exception, match="append-only"):
            store.raw("UPDATE events SET payload = '{}' WHERE position = 1")


def downgrade_run_links(store: Store) -> None:
    """Undo migration 3 by hand: the events index back, the run links gone."""
    store.raw("DROP INDEX IF EXISTS events_run")
    store.raw("CREATE UNIQUE INDEX events_run ON events (run_id, seq) WHERE run_id IS NOT NULL")
    store.raw("ALTER TABLE events DROP COLUMN run_prev")
    store.raw("ALTER TABLE runs DROP COLUMN last_position")


def downgrade_intake(store: Store) -> None:
    """Undo migration 5 by hand: the PostgreSQL intake queue gone (SQLite never had it)."""
    store.raw("DROP TABLE IF EXISTS ledger_intake")
    store.raw("DROP TABLE IF EXISTS ledger_refusals")

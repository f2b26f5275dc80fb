"""Querying runs and events: filters, windows, keyset pagination."""

from __future__ import annotations

import pytest

from ledger.helpers import T0, FakeClock, start
from racs.ledger import Ledger


@pytest.fixture
def populated(ledger: Ledger, clock: FakeClock) -> list[str]:
    """30 runs, one per second: workspace ws_{i%3}, provider by parity, every 5th failed."""
    clock.step = 0
    run_ids = []
    for i in range(30):
        clock.now = T0 + i * 1000
        run_id = start(
            ledger,
            workspace_id=f"ws_{i % 3}",
            agent_id=f"agent_{i % 2}",
            provider="anthropic" if i % 2 == 0 else "openai",
            model="m1" if i < 15 else "m2",
            auth_type="consumer" if i % 4 == 0 else "api",
            execution_mode="background" if i % 3 == 0 else "interactive",
        )
        ledger.complete_run(run_id, status="failed" if i % 5 == 0 else "completed")
        run_ids.append(run_id)
    return run_ids


class TestQueryRuns:
    """Filters, newest-first order and pagination."""

    def test_newest_first(self, ledger: Ledger, populated: list[str]) -> None:
        """Without filters every run comes back, newest first."""
        page = ledger.query_runs()
        assert [r.run_id for r in page.items] == populated[::-1]
        assert page.next_cursor is None

    def test_each_filter(self, ledger: Ledger, populated: list[str]) -> None:
        """Each filter keeps exactly the runs it names."""
        expected = {
            "workspace_id": ({"workspace_id": "ws_1"}, [i for i in range(30) if i % 3 == 1]),
            "agent_id": ({"agent_id": "agent_0"}, [i for i in range(30) if i % 2 == 0]),
            "provider": ({"provider": "openai"}, [i for i in range(30) if i % 2 == 1]),
            "model": ({"model": "m2"}, list(range(15, 30))),
            "status": ({"status": "failed"}, [0, 5, 10, 15, 20, 25]),
            "auth_type": ({"auth_type": "consumer"}, [i for i in range(30) if i % 4 == 0]),
            "execution_mode": (
                {"execution_mode": "background"},
                [i for i in range(30) if i % 3 == 0],
            ),
            # consumer (i % 4 == 0) and background (i % 3 == 0): i % 12 == 0
            "auth_risk": ({"auth_risk": True}, [0, 12, 24]),
            "since": ({"since": T0 + 25_000}, [25, 26, 27, 28, 29]),
            "until": ({"until": T0 + 2_000}, [0, 1, 2]),
        }
        for name, (filters, indexes) in expected.items():
            got = [r.run_id for r in ledger.query_runs(**filters).items]
            assert got == [populated[i] for i in reversed(indexes)], name
            assert ledger.count_runs(**filters) == len(indexes), name

    def test_filters_combine(self, ledger: Ledger, populated: list[str]) -> None:
        """Filters are ANDed: ws_0 and failed is i in {0, 15}."""
        page = ledger.query_runs(workspace_id="ws_0", status="failed")
        assert [r.run_id for r in page.items] == [populated[15], populated[0]]

    def test_pages_cover_everything_once(self, ledger: Ledger, populated: list[str]) -> None:
        """Pages of 7 give 7+7+7+7+2 runs, in order, without repeats, then no cursor."""
        seen: list[str] = []
        sizes = []
        cursor = None
        while True:
            page = ledger.query_runs(limit=7, cursor=cursor)
            sizes.append(len(page.items))
            seen.extend(r.run_id for r in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert sizes == [7, 7, 7, 7, 2]
        assert seen == populated[::-1]

    def test_pagination_with_a_filter(self, ledger: Ledger, populated: list[str]) -> None:
        """A cursor keeps working under the same filter."""
        first = ledger.query_runs(provider="anthropic", limit=10)
        second = ledger.query_runs(provider="anthropic", limit=10, cursor=first.next_cursor)
        assert [r.run_id for r in first.items + second.items] == populated[28::-2]
        assert second.next_cursor is None

    def test_exact_last_page_has_no_cursor(self, ledger: Ledger, populated: list[str]) -> None:
        """When the page ends exactly at the last run there is no next cursor."""
        assert ledger.query_runs(limit=30).next_cursor is None

    def test_runs_in_the_same_millisecond_page_cleanly(
        self, ledger: Ledger, clock: FakeClock
    ) -> None:
        """Ties on start time are broken by run id, so no run is lost between pages."""
        clock.step = 0
        run_ids = [start(ledger) for _ in range(5)]
        first = ledger.query_runs(limit=2)
        second = ledger.query_runs(limit=2, cursor=first.next_cursor)
        third = ledger.query_runs(limit=2, cursor=second.next_cursor)
        got = [r.run_id for p in (first, second, third) for r in p.items]
        assert got == run_ids[::-1]

    def test_to_dict_is_plain_json(self, ledger: Ledger, populated: list[str]) -> None:
        """A page converts to plain dicts and lists."""
        data = ledger.query_runs(limit=1).to_dict()
        assert data["items"][0]["run_id"] == populated[-1]
        assert data["next_cursor"] == ledger.query_runs(limit=1).next_cursor


class TestEvents:
    """Reading the event log."""

    def test_query_by_type_run_position_and_time(
        self, ledger: Ledger, populated: list[str]
    ) -> None:
        """Run i started at position 2i+1 and ended at 2i+2, at T0 + i seconds."""
        assert len(ledger.query_events()) == 60
        completed = ledger.query_events(type="run.completed")
        assert [e.position for e in completed] == [2 * i + 2 for i in range(30) if i % 5]
        assert [e.position for e in ledger.query_events(run_id=populated[3])] == [7, 8]
        after = ledger.query_events(after_position=55)
        assert [e.position for e in after] == [56, 57, 58, 59, 60]
        window = ledger.query_events(since=T0 + 10_000, until=T0 + 11_000)
        assert [e.position for e in window] == [21, 22, 23, 24]
        assert [e.position for e in ledger.query_events(limit=3)] == [1, 2, 3]

    def test_event_fields(self, ledger: Ledger) -> None:
        """An event carries position, run, sequence, type, timestamp, payload and hash."""
        run_id = start(ledger)
        ledger.record_provider_call(run_id, {"status": 200})
        event = ledger.get_run_events(run_id)[1]
        assert (event.position, event.run_id, event.seq, event.type, event.timestamp) == (
            2,
            run_id,
            2,
            "run.provider_called",
            T0 + 1,
        )
        assert event.payload == {"status": 200}
        assert event.hash.startswith("sha256:") and len(event.hash) == 71

    def test_standalone_usage_events_have_no_run(self, ledger: Ledger) -> None:
        """A cache.usage record without run_id has neither run nor sequence."""
        position = ledger.record_cache_usage(
            provider="p", model="m", input_tokens=5, cache_read_tokens=0
        )
        event = ledger.query_events(type="cache.usage")[0]
        assert (event.position, event.run_id, event.seq) == (position, None, None)

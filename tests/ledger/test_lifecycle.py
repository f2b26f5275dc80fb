"""Run lifecycle and the run projection (ledger.md sections 1-3)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from ledger.helpers import T0, FakeClock, Store, start
from racs.core.errors import ERR_CLOSED, ERR_CONFLICT, ERR_NOT_FOUND, ERR_STORAGE, RacsError
from racs.ledger import Ledger, RunError, create_ledger, default_ledger_path


class TestStartAndComplete:
    """A run is started, completed with metrics, and projected field by field."""

    def test_start_returns_a_time_sortable_id_and_a_started_run(self, ledger: Ledger) -> None:
        """The id is a 26-character ULID and the run is `started` at the clock's time."""
        run_id = start(ledger, metadata={"task": "summarise"}, prefix_key="pk", plan_id="plan_1")
        run = ledger.get_run(run_id)
        assert run is not None
        assert len(run_id) == 26
        assert run.status == "started"
        assert run.started_at == T0
        assert run.ended_at is None
        assert (run.auth_type, run.execution_mode, run.compliance_mode) == (
            "api",
            "interactive",
            "recommended",
        )
        assert run.metadata == {"task": "summarise"}
        assert (run.prefix_key, run.plan_id) == ("pk", "plan_1")
        assert run.event_count == 1
        assert run.retries == 0

    def test_complete_projects_every_metric(self, ledger: Ledger) -> None:
        """Completion sets status, end time and each metric exactly as given."""
        run_id = start(ledger)
        ledger.complete_run(
            run_id,
            latency_ms=2500,
            ttft_ms=150,
            input_tokens=1000,
            output_tokens=500,
            total_tokens=1500,
            cost_usd=0.015,
            cache_read_tokens=600,
            cache_write_tokens_5m=200,
            cache_write_tokens_1h=100,
            metadata={"result": "ok"},
        )
        run = ledger.get_run(run_id)
        assert run is not None
        assert run.status == "completed"
        assert run.ended_at == T0 + 1
        assert (run.latency_ms, run.ttft_ms) == (2500.0, 150.0)
        assert (run.input_tokens, run.output_tokens, run.total_tokens) == (1000, 500, 1500)
        assert run.cost_usd == 0.015
        assert (run.cache_read_tokens, run.cache_write_tokens_5m, run.cache_write_tokens_1h) == (
            600,
            200,
            100,
        )
        assert run.metadata == {"result": "ok"}
        assert run.event_count == 2

    def test_completion_metadata_is_merged_into_the_start_metadata(self, ledger: Ledger) -> None:
        """Keys given at completion are added to (and override) those given at start."""
        run_id = start(ledger, metadata={"a": 1, "b": 1})
        ledger.complete_run(run_id, metadata={"b": 2, "c": 3})
        run = ledger.get_run(run_id)
        assert run is not None and run.metadata == {"a": 1, "b": 2, "c": 3}

    def test_metrics_are_optional(self, ledger: Ledger) -> None:
        """A completion without metrics leaves them None."""
        run_id = start(ledger)
        ledger.complete_run(run_id)
        run = ledger.get_run(run_id)
        assert run is not None
        assert run.status == "completed"
        assert run.latency_ms is None and run.input_tokens is None and run.cost_usd is None

    def test_failed_run_keeps_its_error(self, ledger: Ledger) -> None:
        """status='failed' records the error code and message."""
        run_id = start(ledger)
        ledger.complete_run(run_id, status="failed", error={"code": "E_TIMEOUT", "message": "slow"})
        run = ledger.get_run(run_id)
        assert run is not None
        assert run.status == "failed"
        assert run.error == RunError("E_TIMEOUT", "slow")
        assert run.to_dict()["error"] == {"code": "E_TIMEOUT", "message": "slow"}

    def test_an_exception_can_be_the_error(self, ledger: Ledger) -> None:
        """A RacsError gives its code; another exception its class name."""
        first, second = start(ledger), start(ledger)
        ledger.complete_run(first, status="failed", error=RacsError("ERR_X", "boom"))
        ledger.complete_run(second, status="failed", error=TimeoutError("too slow"))
        assert ledger.get_run(first).error == RunError("ERR_X", "boom")  # type: ignore[union-attr]
        assert ledger.get_run(second).error == RunError(  # type: ignore[union-attr]
            "TimeoutError", "too slow"
        )

    def test_cancel_ends_the_run(self, ledger: Ledger) -> None:
        """A cancelled run has status `cancelled`, an end time, and the reason in its event."""
        run_id = start(ledger)
        ledger.cancel_run(run_id, reason="user hit stop")
        run = ledger.get_run(run_id)
        assert run is not None and run.status == "cancelled" and run.ended_at == T0 + 1
        assert ledger.get_run_events(run_id)[-1].payload == {"reason": "user hit stop"}

    def test_given_run_id_is_used(self, ledger: Ledger) -> None:
        """A caller-chosen run id is kept as is."""
        assert start(ledger, run_id="my-run") == "my-run"
        assert ledger.get_run("my-run") is not None

    def test_unknown_run_reads_as_none(self, ledger: Ledger) -> None:
        """get_run returns None (the seed's style) and get_run_events an empty tuple."""
        assert ledger.get_run("nope") is None
        assert ledger.get_run_events("nope") == ()

    def test_run_ids_sort_in_start_order(self, ledger: Ledger, clock: FakeClock) -> None:
        """Lexicographic order of ids is start order, within and across milliseconds."""
        clock.step = 0  # many runs in the same millisecond
        same_ms = [start(ledger) for _ in range(20)]
        clock.now += 5
        later = start(ledger)
        assert same_ms == sorted(same_ms)
        assert later > same_ms[-1]


class TestAuthRisk:
    """auth_risk is derived: consumer credentials outside interactive mode."""

    @pytest.mark.parametrize(
        ("auth_type", "execution_mode", "risk"),
        [
            ("api", "interactive", False),
            ("api", "background", False),
            ("api", "scheduled", False),
            ("consumer", "interactive", False),
            ("consumer", "background", True),
            ("consumer", "scheduled", True),
        ],
    )
    def test_derivation(
        self, ledger: Ledger, auth_type: str, execution_mode: str, risk: bool
    ) -> None:
        """Every combination of auth type and execution mode."""
        run_id = start(ledger, auth_type=auth_type, execution_mode=execution_mode)
        run = ledger.get_run(run_id)
        assert run is not None and run.auth_risk is risk

    def test_auth_risk_cannot_be_passed(self, ledger: Ledger) -> None:
        """start_run has no auth_risk parameter."""
        with pytest.raises(TypeError):
            ledger.start_run(
                workspace_id="w", agent_id="a", provider="p", model="m", auth_risk=True
            )  # type: ignore[call-arg]


class TestRecords:
    """Audit records between start and end."""

    def test_records_append_in_sequence(self, ledger: Ledger) -> None:
        """Each record is an event of the run, numbered 1, 2, ... in call order."""
        run_id = start(ledger)
        ledger.record_auth_validation(run_id, {"valid": True})
        ledger.record_policy_evaluation(run_id, [{"policy": "p1", "allowed": True}])
        ledger.record_routing(run_id, {"provider": "openai", "model": "gpt-4o"})
        ledger.record_provider_call(run_id, {"status": 200, "duration_ms": 812})
        ledger.record_retry(run_id, {"attempt": 2})
        ledger.complete_run(run_id)
        events = ledger.get_run_events(run_id)
        assert [e.type for e in events] == [
            "run.started",
            "run.auth_validated",
            "run.policy_evaluated",
            "run.routed",
            "run.provider_called",
            "run.retried",
            "run.completed",
        ]
        assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6, 7]
        assert events[3].payload == {"provider": "openai", "model": "gpt-4o"}
        assert events[2].payload == {"decisions": [{"policy": "p1", "allowed": True}]}

    def test_record_calls_return_global_positions(self, ledger: Ledger) -> None:
        """Positions increase by one across all runs."""
        a, b = start(ledger), start(ledger)
        assert ledger.record_provider_call(a, {}) == 3
        assert ledger.record_provider_call(b, {}) == 4
        assert ledger.complete_run(a) == 5

    def test_retries_are_counted(self, ledger: Ledger) -> None:
        """Each record_retry increments the run's retries."""
        run_id = start(ledger)
        for attempt in range(3):
            ledger.record_retry(run_id, {"attempt": attempt})
        assert ledger.get_run(run_id).retries == 3  # type: ignore[union-attr]

    def test_policy_override_from_start_or_evaluation(self, ledger: Ledger) -> None:
        """policy_override is true when given at start or in any policy evaluation."""
        at_start = start(ledger, policy_override=True)
        in_eval = start(ledger)
        ledger.record_policy_evaluation(in_eval, [], policy_override=True)
        ledger.record_policy_evaluation(in_eval, [], policy_override=False)
        never = start(ledger)
        ledger.record_policy_evaluation(never, [], policy_override=False)
        assert ledger.get_run(at_start).policy_override is True  # type: ignore[union-attr]
        assert ledger.get_run(in_eval).policy_override is True  # type: ignore[union-attr]
        assert ledger.get_run(never).policy_override is False  # type: ignore[union-attr]

    def test_routing_keeps_the_started_provider(self, ledger: Ledger) -> None:
        """The routing decision is an audit record; the run keeps its provider and model."""
        run_id = start(ledger, provider="anthropic", model="m1")
        ledger.record_routing(run_id, {"provider": "openai", "model": "m2"})
        run = ledger.get_run(run_id)
        assert run is not None and (run.provider, run.model) == ("anthropic", "m1")


class TestRunRules:
    """Unknown runs and events after the end are refused, writing nothing."""

    def test_unknown_run(self, ledger: Ledger, store: Store) -> None:
        """Any event for a run that was never started is ERR_NOT_FOUND."""
        for call in (
            lambda: ledger.complete_run("ghost"),
            lambda: ledger.cancel_run("ghost"),
            lambda: ledger.record_retry("ghost", {}),
            lambda: ledger.record_cache_usage(
                provider="p", model="m", input_tokens=1, cache_read_tokens=0, run_id="ghost"
            ),
        ):
            with pytest.raises(RacsError) as caught:
                call()
            assert caught.value.code == ERR_NOT_FOUND
            assert "ghost" in caught.value.message
        assert store.count_events() == 0

    @pytest.mark.parametrize("end", ["completed", "failed", "cancelled"])
    def test_nothing_after_the_end(self, ledger: Ledger, store: Store, end: str) -> None:
        """After completed/failed/cancelled, lifecycle and record calls are ERR_CONFLICT."""
        run_id = start(ledger)
        if end == "cancelled":
            ledger.cancel_run(run_id)
        else:
            ledger.complete_run(run_id, status=end)
        before = store.count_events()
        for call in (
            lambda: ledger.complete_run(run_id),
            lambda: ledger.complete_run(run_id, status="failed"),
            lambda: ledger.cancel_run(run_id),
            lambda: ledger.record_provider_call(run_id, {}),
            lambda: ledger.record_retry(run_id, {}),
            lambda: ledger.record_policy_evaluation(run_id, [], policy_override=True),
        ):
            with pytest.raises(RacsError) as caught:
                call()
            assert caught.value.code == ERR_CONFLICT
            assert end in caught.value.message
        assert store.count_events() == before
        run = ledger.get_run(run_id)
        assert run is not None and run.status == end and run.retries == 0

    def test_usage_may_arrive_after_the_end(self, ledger: Ledger) -> None:
        """A cache.usage record naming an ended run is accepted (usage is reported late)."""
        run_id = start(ledger)
        ledger.complete_run(run_id)
        ledger.record_cache_usage(
            provider="anthropic", model="m", input_tokens=10, cache_read_tokens=5, run_id=run_id
        )
        events = ledger.get_run_events(run_id)
        assert [e.type for e in events] == ["run.started", "run.completed", "cache.usage"]
        assert ledger.get_run(run_id).status == "completed"  # type: ignore[union-attr]

    def test_duplicate_run_id(self, ledger: Ledger, store: Store) -> None:
        """Starting a run id that exists is ERR_CONFLICT."""
        start(ledger, run_id="same")
        with pytest.raises(RacsError) as caught:
            start(ledger, run_id="same")
        assert caught.value.code == ERR_CONFLICT
        assert store.count_events() == 1


class TestLifetime:
    """Opening, closing, and where the ledger lives."""

    def test_close_is_idempotent_and_final(self, store: Store) -> None:
        """close() twice is fine; any call afterwards is ERR_CLOSED."""
        ledger = store.open()
        ledger.close()
        ledger.close()
        with pytest.raises(RacsError) as caught:
            ledger.get_run("x")
        assert caught.value.code == ERR_CLOSED

    def test_context_manager_closes(self, store: Store) -> None:
        """Leaving the with block closes the ledger."""
        with store.open() as ledger:
            run_id = start(ledger)
        with pytest.raises(RacsError):
            ledger.get_run(run_id)

    def test_reopened_ledger_keeps_everything(self, store: Store) -> None:
        """Data survives close and reopen; the chain continues."""
        with store.open() as ledger:
            run_id = start(ledger)
        with store.open() as ledger:
            ledger.complete_run(run_id)
            assert ledger.get_run(run_id).status == "completed"  # type: ignore[union-attr]
            assert ledger.verify().checked == 2


class TestWhere:
    """Where create_ledger puts the ledger when told nothing, a path, or RACS_LEDGER."""

    def test_default_is_home_racs_ledger_db(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """~/.racs/ledger.db, parent directory created, owner-only, in WAL mode."""
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.delenv("RACS_LEDGER", raising=False)
        assert default_ledger_path() == tmp_path / ".racs" / "ledger.db"
        with create_ledger() as ledger:
            start(ledger)
            assert ledger.location == str(tmp_path / ".racs" / "ledger.db")
        path = tmp_path / ".racs" / "ledger.db"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    def test_environment_variable(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """RACS_LEDGER names the file when no path is given; a path argument wins over it."""
        monkeypatch.setenv("RACS_LEDGER", str(tmp_path / "env" / "l.db"))
        with create_ledger() as ledger:
            assert ledger.location == str(tmp_path / "env" / "l.db")
        with create_ledger(tmp_path / "arg.db") as ledger:
            assert ledger.location == str(tmp_path / "arg.db")

    def test_unreachable_postgres_is_a_storage_error(self) -> None:
        """A URL nobody answers: ERR_STORAGE, without the password in the message."""
        with pytest.raises(RacsError) as caught:
            create_ledger(url="postgresql://u:s3cret@127.0.0.1:1/none?connect_timeout=2")
        assert caught.value.code == ERR_STORAGE
        assert "s3cret" not in caught.value.message

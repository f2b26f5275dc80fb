"""The @relayplane/ledger seed's calling style works unchanged (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

import racs
from racs.ledger import create_ledger, default_ledger_path, get_default_ledger_path


class TestSeedCallingStyle:
    def test_create_ledger_db_path(self, tmp_path: Path) -> None:
        """`create_ledger(db_path=...)` and `create_ledger({"dbPath": ...})` open that file."""
        path = tmp_path / "seed.db"
        with create_ledger(db_path=path) as ledger:
            assert ledger.location.endswith("seed.db")
        assert path.exists()
        with create_ledger({"dbPath": str(path)}) as ledger:
            assert ledger.location.endswith("seed.db")

    def test_start_and_complete_with_option_mappings(self, tmp_path: Path) -> None:
        """`start_run({...})` and `complete_run(run_id, {...})`, as in the seed's README."""
        with create_ledger(db_path=tmp_path / "l.db") as ledger:
            run_id = ledger.start_run(
                {
                    "workspace_id": "ws_123",
                    "agent_id": "agent_456",
                    "provider": "anthropic",
                    "model": "claude-3-5-sonnet",
                    "auth_type": "consumer",
                    "execution_mode": "background",
                    "compliance_mode": "recommended",
                }
            )
            ledger.complete_run(
                run_id,
                {
                    "status": "completed",
                    "input_tokens": 1000,
                    "output_tokens": 500,
                    "total_tokens": 1500,
                    "cost_usd": 0.015,
                    "latency_ms": 2500,
                    "ttft_ms": 150,
                },
            )
            run = ledger.get_run(run_id)
        assert run is not None
        assert (run.workspace_id, run.status, run.total_tokens, run.auth_risk) == (
            "ws_123",
            "completed",
            1500,
            True,  # consumer auth outside interactive mode
        )

    def test_camel_case_keys(self, tmp_path: Path) -> None:
        """The mapping may use camelCase keys too."""
        with create_ledger(db_path=tmp_path / "l.db") as ledger:
            run_id = ledger.start_run(
                {"workspaceId": "ws", "agentId": "a", "provider": "openai", "model": "gpt-4.1"}
            )
            ledger.complete_run(run_id, {"inputTokens": 7, "cacheWriteTokens5m": 2})
            run = ledger.get_run(run_id)
        assert run is not None
        assert (run.agent_id, run.input_tokens, run.cache_write_tokens_5m) == ("a", 7, 2)

    def test_unknown_option_and_mixed_styles_are_refused(self, tmp_path: Path) -> None:
        """A misspelt option, or a mapping plus keywords, raises and writes nothing."""
        with create_ledger(db_path=tmp_path / "l.db") as ledger:
            base = {"workspace_id": "ws", "agent_id": "a", "provider": "p", "model": "m"}
            with pytest.raises(racs.RacsError) as err:
                ledger.start_run({**base, "workspace": "ws"})
            assert err.value.code == "ERR_INVALID_INPUT"
            with pytest.raises(racs.RacsError):
                ledger.start_run(base, auth_type="consumer")
            assert ledger.count_runs() == 0

    def test_batch_accepts_mappings(self, tmp_path: Path) -> None:
        """A batch records with the same calling style."""
        with create_ledger(db_path=tmp_path / "l.db") as ledger:
            with ledger.batch() as batch:
                run_id = batch.start_run(
                    {"workspace_id": "ws", "agent_id": "a", "provider": "p", "model": "m"}
                )
                batch.complete_run(run_id, {"status": "completed", "input_tokens": 3})
            run = ledger.get_run(run_id)
        assert run is not None and run.input_tokens == 3

    def test_get_default_ledger_path(self) -> None:
        """The seed's name for the default location, as a string."""
        assert get_default_ledger_path() == str(default_ledger_path())
        assert get_default_ledger_path().endswith("ledger.db")

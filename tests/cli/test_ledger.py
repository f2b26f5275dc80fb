"""`racs ledger`: reading what `racs simulate` wrote; verify catches tampering."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cli.conftest import Runner
from cli.test_cli_basics import assert_one_line_usage_error


@pytest.fixture
def ledger_path(racs: Runner, tmp_path: Path) -> str:
    """A ledger holding 3 anthropic calls of each prompt: 6 runs, 18 events."""
    path = str(tmp_path / "ledger.db")
    proc = racs("simulate", "--calls", "3", "--provider", "anthropic", "--ledger", path)
    assert proc.returncode == 0, proc.stderr
    return path


class TestLedgerReads:
    def test_runs_table_and_filters(self, racs: Runner, ledger_path: str) -> None:
        """`runs` lists the runs; --agent and --status filter them."""
        proc = racs("ledger", "runs", "--ledger", ledger_path)
        assert proc.returncode == 0, proc.stderr
        assert "6 run(s)" in proc.stdout and "simulate" in proc.stdout
        naive = racs("ledger", "runs", "--ledger", ledger_path, "--agent", "naive", "--json")
        runs = json.loads(naive.stdout)["runs"]
        assert len(runs) == 3 and {r["agent_id"] for r in runs} == {"naive"}
        failed = racs("ledger", "runs", "--ledger", ledger_path, "--status", "failed")
        assert failed.returncode == 0 and "no runs match" in failed.stdout

    def test_every_run_filter_is_a_flag(self, racs: Runner, ledger_path: str) -> None:
        """`runs` takes each of RunFilter's fields: the simulation's runs are API-key runs
        in the background, so none is an auth risk."""
        args = ("ledger", "runs", "--ledger", ledger_path, "--json")
        safe = racs(*args, "--auth-risk", "no", "--execution-mode", "background")
        assert len(json.loads(safe.stdout)["runs"]) == 6
        live = racs(*args, "--execution-mode", "interactive")
        assert json.loads(live.stdout)["runs"] == []
        risky = racs(*args, "--auth-risk", "yes", "--auth-type", "api")
        assert json.loads(risky.stdout)["runs"] == []
        bad = racs(*args, "--auth-risk", "maybe")
        assert bad.returncode == 2 and "expected yes or no" in bad.stderr

    def test_show_run(self, racs: Runner, ledger_path: str) -> None:
        """`show RUN_ID` prints the run and its events; --json too."""
        runs = json.loads(racs("ledger", "runs", "--ledger", ledger_path, "--json").stdout)
        run_id = runs["runs"][0]["run_id"]
        proc = racs("ledger", "show", run_id, "--ledger", ledger_path)
        assert proc.returncode == 0, proc.stderr
        assert run_id in proc.stdout and "run.completed" in proc.stdout
        doc = json.loads(racs("ledger", "show", run_id, "--ledger", ledger_path, "--json").stdout)
        assert [e["type"] for e in doc["events"]] == ["run.started", "run.completed"]

    def test_show_unknown_run_exits_2(self, racs: Runner, ledger_path: str) -> None:
        """An unknown run id: exit 2 with one line."""
        proc = racs("ledger", "show", "01NOSUCHRUN", "--ledger", ledger_path)
        assert_one_line_usage_error(proc)
        assert "01NOSUCHRUN" in proc.stderr

    def test_events_by_type(self, racs: Runner, ledger_path: str) -> None:
        """`events --type cache.usage` returns the engine's usage records (one per call)."""
        proc = racs("ledger", "events", "--ledger", ledger_path, "--type", "cache.usage", "--json")
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)["events"]) == 6
        table = racs("ledger", "events", "--ledger", ledger_path, "--limit", "2")
        assert table.returncode == 0 and "position" in table.stdout

    def test_stats(self, racs: Runner, ledger_path: str, tmp_path: Path) -> None:
        """`stats` sums the simulated runs; --pricing adds the USD figures."""
        proc = racs("ledger", "stats", "--ledger", ledger_path, "--workspace", "simulate", "--json")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["runs"] == 6
        assert doc["cache_read_tokens"] > 0
        pricing = tmp_path / "p.json"
        pricing.write_text(json.dumps({"claude-sonnet-4-5": {"inputPerMTok": 3}}))
        text = racs("ledger", "stats", "--ledger", ledger_path, "--pricing", str(pricing))
        assert text.returncode == 0, text.stderr
        assert "runs            6" in text.stdout and "net $" in text.stdout

    def test_bad_time_window_exits_2(self, racs: Runner, ledger_path: str) -> None:
        """A --since that is no date: exit 2 with one line."""
        proc = racs("ledger", "runs", "--ledger", ledger_path, "--since", "yesterday-ish")
        assert_one_line_usage_error(proc)

    def test_export_stdout_and_file(self, racs: Runner, ledger_path: str, tmp_path: Path) -> None:
        """`export` writes every event as a JSON line, to stdout or --output."""
        proc = racs("ledger", "export", "--ledger", ledger_path)
        assert proc.returncode == 0, proc.stderr
        lines = [json.loads(line) for line in proc.stdout.splitlines()]
        # 6 runs x (started + completed) + 6 cache.usage records.
        assert len(lines) == 18
        assert [e["position"] for e in lines] == list(range(1, 19))
        out = tmp_path / "events.jsonl"
        racs("ledger", "export", "--ledger", ledger_path, "--output", str(out))
        assert out.read_text().splitlines() == proc.stdout.splitlines()


class TestLedgerVerify:
    def test_untouched_ledger_verifies(self, racs: Runner, ledger_path: str) -> None:
        """A ledger nobody touched verifies clean: exit 0."""
        proc = racs("ledger", "verify", "--ledger", ledger_path)
        assert proc.returncode == 0, proc.stdout
        assert proc.stdout.startswith("ok: 18 event(s) verified")

    def test_tampered_ledger_exits_1(self, racs: Runner, ledger_path: str) -> None:
        """A payload edited behind the ledger's back breaks the chain: exit 1, position named."""
        con = sqlite3.connect(ledger_path)
        triggers = con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'"
        ).fetchall()
        for (name,) in triggers:
            con.execute(f'DROP TRIGGER "{name}"')
        con.execute("UPDATE events SET payload = ? WHERE position = 5", ('{"forged":true}',))
        con.commit()
        con.close()
        proc = racs("ledger", "verify", "--ledger", ledger_path)
        assert proc.returncode == 1
        assert "first bad position 5" in proc.stdout
        doc = json.loads(racs("ledger", "verify", "--ledger", ledger_path, "--json").stdout)
        assert doc["ok"] is False and doc["first_bad_position"] == 5

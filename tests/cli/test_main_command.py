"""The README's main command on a fresh machine: a demo, then its report and its dollars."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.conftest import Runner


@pytest.fixture
def home(cli_env: dict[str, str]) -> Path:
    """A fresh machine: a private HOME and no RACS_LEDGER, as a newcomer has."""
    cli_env.pop("RACS_LEDGER", None)
    return Path(cli_env["HOME"])


class TestMainCommand:
    def test_simulate_then_read_commands_see_the_demo(self, racs: Runner, home: Path) -> None:
        """`racs simulate && racs ledger stats` and `racs report --ledger` read the demo
        ledger while the user's own ledger does not exist, say so, and show dollars."""
        assert racs("simulate", "--calls", "20").returncode == 0
        assert (home / ".racs" / "demo-ledger.db").exists()
        assert not (home / ".racs" / "ledger.db").exists()
        stats = racs("ledger", "stats")
        assert stats.returncode == 0, stats.stderr
        assert "reading the demo ledger" in stats.stderr
        cache_usd = next(line for line in stats.stdout.splitlines() if line.startswith("cache USD"))
        assert "$" in cache_usd and " - " not in cache_usd
        report = racs("report", "--ledger")
        assert report.returncode == 0, report.stderr
        assert "160 requests" in report.stdout  # 20 calls x 2 variants x 4 providers
        assert not (home / ".racs" / "ledger.db").exists()  # reading created nothing

    def test_an_explicit_missing_ledger_is_still_refused(self, racs: Runner, home: Path) -> None:
        """The fallback applies to the implicit default only: a named path must exist."""
        assert racs("simulate", "--calls", "5").returncode == 0
        proc = racs("ledger", "stats", "--ledger", str(home / "typo" / "ledgr.db"))
        assert proc.returncode == 2
        assert not (home / "typo").exists()

    def test_own_ledger_wins_over_the_demo(self, racs: Runner, home: Path) -> None:
        """Once the default ledger exists, read commands use it, without a note."""
        assert racs("simulate", "--calls", "5").returncode == 0
        own = str(home / ".racs" / "ledger.db")
        assert racs("simulate", "--calls", "5", "--ledger", own).returncode == 0
        proc = racs("ledger", "stats")
        assert proc.returncode == 0 and "demo ledger" not in proc.stderr

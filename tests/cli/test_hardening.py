"""The command line refuses wrong paths and hostile numbers, and proves anchors."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from cli.conftest import Runner, command
from cli.test_cli_basics import assert_one_line_usage_error

READS = [
    ["verify"],
    ["stats"],
    ["runs"],
    ["show", "01JD3ZK2Q8W7C9V4X1N5M6B2A0"],
    ["events"],
    ["export"],
    ["anchor"],
]


@pytest.fixture
def ledger_path(racs: Runner, tmp_path: Path) -> str:
    """A ledger of 3 anthropic calls of each prompt (18 events)."""
    path = str(tmp_path / "ledger.db")
    proc = racs("simulate", "--calls", "3", "--provider", "anthropic", "--ledger", path)
    assert proc.returncode == 0, proc.stderr
    return path


class TestMissingLedger:
    """A typo in --ledger (or RACS_LEDGER) must fail a CI gate, not pass it."""

    @pytest.mark.parametrize("action", READS, ids=[a[0] for a in READS])
    def test_a_missing_file_is_refused(
        self, racs: Runner, tmp_path: Path, action: list[str]
    ) -> None:
        """Exit 2 naming the path; neither the file nor its directory is created."""
        path = tmp_path / "typo" / "ledgr.db"
        proc = racs("ledger", *action, "--ledger", str(path))
        assert_one_line_usage_error(proc)
        assert str(path) in proc.stderr and "no such file" in proc.stderr
        assert not path.parent.exists()

    def test_a_missing_racs_ledger_is_refused(self, racs: Runner, tmp_path: Path) -> None:
        """No --ledger and RACS_LEDGER naming a missing file: the same refusal."""
        proc = racs("ledger", "verify")
        assert_one_line_usage_error(proc)
        assert not (tmp_path / "home").exists()

    def test_the_readme_first_command_on_a_fresh_home(
        self, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """Nothing named and no ~/.racs/ledger.db: before `racs simulate` the read commands
        refuse; after it they read the demo ledger it wrote, saying so, creating nothing."""
        env = {k: v for k, v in cli_env.items() if k != "RACS_LEDGER"}

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*command(), *args], env=env, capture_output=True, text=True, timeout=120
            )

        assert_one_line_usage_error(run("ledger", "stats"))
        assert run("simulate", "--calls", "2", "--provider", "anthropic").returncode == 0
        stats = run("ledger", "stats", "--json")
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["runs"] == 4  # 2 calls x (structured, naive)
        assert "demo ledger" in stats.stderr
        assert not (tmp_path / "home" / ".racs" / "ledger.db").exists()


class TestHostileNumbers:
    def test_events_after_a_huge_position(self, racs: Runner, ledger_path: str) -> None:
        """It escaped as an OverflowError traceback; now one line, exit 2."""
        proc = racs("ledger", "events", "--ledger", ledger_path, "--after", "9" * 23)
        assert_one_line_usage_error(proc)
        assert "after_position" in proc.stderr

    @pytest.mark.parametrize("calls", ["99999999999999999999", "100001", "0"])
    def test_simulate_calls_are_bounded(self, racs: Runner, tmp_path: Path, calls: str) -> None:
        """--calls 99999999999999999999 ran until the disk filled; at most 100,000 now."""
        path = tmp_path / "sim.db"
        proc = racs("simulate", "--calls", calls, "--ledger", str(path))
        assert_one_line_usage_error(proc)
        assert "--calls" in proc.stderr and "100000" in proc.stderr
        assert not path.exists()


class TestAnchors:
    def test_anchor_then_verify(self, racs: Runner, ledger_path: str, tmp_path: Path) -> None:
        """An authenticated anchor verifies; after tail truncation the same check exits 1."""
        key = tmp_path / "anchor.key"
        key.write_text("kept elsewhere\n")
        anchor = tmp_path / "head.json"
        made = racs(
            "ledger", "anchor", "--ledger", ledger_path, "--key-file", str(key), "-o", str(anchor)
        )
        assert made.returncode == 0, made.stderr
        document = json.loads(anchor.read_text())
        assert document["position"] == 18 and document["mac"].startswith("hmac-sha256:")
        check = ("ledger", "verify", "--ledger", ledger_path, "--anchor", str(anchor))
        ok = racs(*check, "--key-file", str(key))
        assert ok.returncode == 0, ok.stderr
        assert "18 event(s) verified" in ok.stdout and "extends 1 anchor(s)" in ok.stdout
        conn = sqlite3.connect(ledger_path, isolation_level=None)
        conn.execute("DROP TRIGGER events_no_delete")
        conn.execute("DELETE FROM events WHERE position > 12")
        conn.execute(
            "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
            "BEGIN SELECT RAISE(ABORT, 'ledger events are append-only: DELETE refused'); END"
        )
        conn.close()
        assert racs("ledger", "verify", "--ledger", ledger_path).returncode == 1  # projections
        cut = racs(*check, "--key-file", str(key), "--json")
        assert cut.returncode == 1
        assert json.loads(cut.stdout)["first_bad_position"] == 13  # the anchor is at 18

    def test_a_wrong_key_is_a_usage_error(
        self, racs: Runner, ledger_path: str, tmp_path: Path
    ) -> None:
        """An anchor made with another key (or edited) is refused before any check."""
        anchor = tmp_path / "head.json"
        anchor.write_text(racs("ledger", "anchor", "--ledger", ledger_path).stdout)
        key = tmp_path / "k"
        key.write_text("k")
        proc = racs(
            "ledger", "verify", "--ledger", ledger_path, "--anchor", str(anchor), "--key-file",
            str(key),
        )  # fmt: skip
        assert_one_line_usage_error(proc)
        assert "no MAC" in proc.stderr


def test_ledger_directories_are_private_under_umask_000(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """`racs simulate --ledger a/b/l.db` under umask 000: a and b are 0700, the file 0600."""
    target = tmp_path / "a" / "b" / "l.db"
    proc = subprocess.run(
        [
            *command(),
            "simulate",
            "--calls",
            "2",
            "--provider",
            "anthropic",
            "--ledger",
            str(target),
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.umask(0),
    )
    assert proc.returncode == 0, proc.stderr
    for directory in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

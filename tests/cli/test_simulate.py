"""`racs simulate`: determinism, the acceptance numbers, every provider family."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli.conftest import Runner


def summary_row(stdout: str, provider: str, prompt: str) -> tuple[int, int]:
    """(calls, hits) of one row of the summary table."""
    match = re.search(rf"^\s+{provider}\s+{prompt}\s+(\d+)\s+(\d+)\s", stdout, re.MULTILINE)
    assert match, stdout
    return int(match.group(1)), int(match.group(2))


class TestSimulate:
    def test_acceptance_400_calls_anthropic(self, racs: Runner, tmp_path: Path) -> None:
        """400 calls at 60 s on anthropic: structured hits on every call after the first
        (399 of 400), naive on none."""
        proc = racs(
            "simulate",
            "--calls",
            "400",
            "--interval",
            "60",
            "--provider",
            "anthropic",
            "--ledger",
            str(tmp_path / "l.db"),
        )
        assert proc.returncode == 0, proc.stderr
        assert summary_row(proc.stdout, "anthropic", "structured") == (400, 399)
        assert summary_row(proc.stdout, "anthropic", "naive") == (400, 0)
        # The naive prompt's timestamp changes the system segment on every call after
        # the first: 399 drift reports.
        assert "naive prompt drift reports: 399" in proc.stdout

    def test_identical_flags_give_identical_bytes(self, racs: Runner, tmp_path: Path) -> None:
        """Two runs with the same flags (and a ledger) print byte-identical stdout."""
        args = ("simulate", "--calls", "12", "--seed", "3", "--interval", "90")
        first = racs(*args, "--ledger", str(tmp_path / "a.db"))
        second = racs(*args, "--ledger", str(tmp_path / "a.db"))
        assert first.returncode == second.returncode == 0
        assert first.stdout == second.stdout
        assert str(tmp_path) not in first.stdout

    def test_seed_changes_the_content(self, racs: Runner) -> None:
        """A different seed gives different prompts (and token counts)."""
        a = racs("simulate", "--calls", "3", "--provider", "openai", "--no-ledger")
        b = racs("simulate", "--calls", "3", "--provider", "openai", "--seed", "8", "--no-ledger")
        assert a.stdout != b.stdout

    @pytest.mark.parametrize("provider", ["anthropic", "openai", "google", "deepseek"])
    def test_every_family_structured_hits_naive_misses(self, racs: Runner, provider: str) -> None:
        """Each family's representative: structured hits after the first call, naive never;
        the naive prompt's lint findings and drift are shown."""
        proc = racs("simulate", "--calls", "8", "--provider", provider, "--no-ledger")
        assert proc.returncode == 0, proc.stderr
        assert summary_row(proc.stdout, provider, "structured") == (8, 7)
        assert summary_row(proc.stdout, provider, "naive") == (8, 0)
        assert "timestamp-in-stable" in proc.stdout
        assert "segment-order" in proc.stdout
        assert "naive prompt drift reports: 7" in proc.stdout
        assert "illustrative list prices" in proc.stdout

    def test_default_runs_all_four_families(self, racs: Runner) -> None:
        """Without --provider every family's representative runs; progress goes to stderr
        as plain lines when it is not a terminal."""
        proc = racs("simulate", "--calls", "4", "--no-ledger")
        assert proc.returncode == 0, proc.stderr
        for provider in ("anthropic", "openai", "google", "deepseek"):
            assert f"== {provider} (" in proc.stdout
            assert f"simulate: {provider} naive 4/4" in proc.stderr
        assert "naive 4/4" not in proc.stdout

    def test_ledger_flag_writes_there(self, racs: Runner, tmp_path: Path) -> None:
        """With --ledger the runs go to that ledger, where `ledger stats` sees them."""
        target = tmp_path / "mine.db"
        proc = racs("simulate", "--calls", "3", "--provider", "google", "--ledger", str(target))
        assert proc.returncode == 0, proc.stderr
        assert f"wrote 6 runs to {target}" in proc.stderr
        stats = racs("ledger", "stats", "--workspace", "simulate", "--ledger", str(target))
        assert stats.returncode == 0, stats.stderr
        # 3 calls x 2 prompts.
        assert "runs            6 (completed 6" in stats.stdout


class TestProgress:
    def test_bar_on_a_terminal_lines_otherwise(
        self, cli_env: dict[str, str], tmp_path: Path
    ) -> None:
        """With stdout on a real pseudo-terminal a bar is drawn (carriage returns on
        stderr); piped, stderr carries plain progress lines and no bar."""
        import os
        import pty
        import subprocess

        from cli.conftest import command

        args = [
            *command(),
            "simulate",
            "--calls",
            "8",
            "--provider",
            "anthropic",
            "--ledger",
            str(tmp_path / "p.db"),
        ]
        import threading

        primary, secondary = pty.openpty()
        screen: list[bytes] = []

        def drain() -> None:  # keep the terminal's buffer from filling up
            try:
                while chunk := os.read(primary, 65536):
                    screen.append(chunk)
            except OSError:
                pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        proc = subprocess.run(
            args, env=cli_env, stdout=secondary, stderr=subprocess.PIPE, timeout=120, check=False
        )
        os.close(secondary)
        reader.join(timeout=5)
        os.close(primary)
        assert b"summary" in b"".join(screen)
        assert proc.returncode == 0
        assert b"\r[" in proc.stderr and b"#" in proc.stderr
        piped = subprocess.run(args, env=cli_env, capture_output=True, timeout=120, check=False)
        assert b"\r" not in piped.stderr
        assert b"simulate: anthropic structured 8/8" in piped.stderr

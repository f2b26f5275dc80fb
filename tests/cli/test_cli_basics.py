"""Top-level behaviour: version, help for every command, usage errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cli.conftest import Runner, command
from racs import __version__

HELP_TARGETS = [
    ("analyze",),
    ("simulate",),
    ("inspect",),
    ("ledger",),
    ("ledger", "runs"),
    ("ledger", "show"),
    ("ledger", "events"),
    ("ledger", "stats"),
    ("ledger", "verify"),
    ("ledger", "export"),
]


def assert_one_line_usage_error(proc: object) -> None:
    """Exit 2, exactly one line on stderr, no traceback, nothing on stdout."""
    assert proc.returncode == 2, proc.stderr  # type: ignore[attr-defined]
    err = proc.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert proc.stdout == ""  # type: ignore[attr-defined]


class TestTopLevel:
    def test_version(self, racs: Runner) -> None:
        """`racs --version` prints the package version and exits 0."""
        proc = racs("--version")
        assert proc.returncode == 0
        assert proc.stdout.strip() == __version__  # bare, as @takk/racs prints it

    def test_help_lists_every_command(self, racs: Runner) -> None:
        """`racs --help` names every command, serve included, and the exit codes."""
        proc = racs("--help")
        assert proc.returncode == 0
        for name in ("analyze", "simulate", "inspect", "ledger", "serve"):
            assert name in proc.stdout
        assert "exit codes" in proc.stdout

    @pytest.mark.parametrize("target", HELP_TARGETS, ids=" ".join)
    def test_command_help_has_examples(self, racs: Runner, target: tuple[str, ...]) -> None:
        """Every command's --help exits 0 and shows examples."""
        proc = racs(*target, "--help")
        assert proc.returncode == 0, proc.stderr
        assert "examples:" in proc.stdout
        assert f"racs {' '.join(target)}" in proc.stdout

    def test_no_command_prints_help(self, racs: Runner) -> None:
        """Bare `racs` prints the help and exits 0."""
        proc = racs()
        assert proc.returncode == 0
        assert "COMMAND" in proc.stdout


class TestUsageErrors:
    @pytest.mark.parametrize(
        "argv",
        [
            ("--bogus",),
            ("frobnicate",),
            ("analyze", "--input", "x.json", "--bogus"),
            ("analyze",),
            ("analyze", "--input", "x.json", "--format", "yaml"),
            ("simulate", "--calls", "zero"),
            ("simulate", "--calls", "0"),
            ("simulate", "--interval", "-5"),
            ("simulate", "--provider", "nowhere"),
            ("inspect",),
            ("inspect", "--state", "s.json", "--interval", "never"),
            ("ledger", "runs", "--limit", "lots"),
            ("ledger", "runs", "--status", "exploded"),
            ("ledger", "show"),
            ("ledger",),
        ],
        ids=" ".join,
    )
    def test_bad_flag_or_value_exits_2_with_one_line(
        self, racs: Runner, argv: tuple[str, ...]
    ) -> None:
        """Unknown flags and bad values: exit 2, one line on stderr, no traceback."""
        assert_one_line_usage_error(racs(*argv))

    def test_serve_without_server_package(self, cli_env: dict[str, str], tmp_path: Path) -> None:
        """`racs serve` without the server extra says how to install it (exit 2): the
        extra is hidden by a `uvicorn` that fails to import, as on a bare install."""
        blocker = tmp_path / "blocked" / "uvicorn"
        blocker.mkdir(parents=True)
        (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
        env = {**cli_env, "PYTHONPATH": str(blocker.parent)}
        proc = subprocess.run(
            [*command(), "serve", "--port", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert_one_line_usage_error(proc)
        assert "racs[server]" in proc.stderr


class TestServeDispatch:
    def test_serve_is_handed_to_the_server_cli(self, racs: Runner) -> None:
        """`racs serve --help` reaches the server's own parser (when it is installed)."""
        proc = racs("serve", "--help")
        assert proc.returncode == 0, proc.stderr
        assert "--port" in proc.stdout

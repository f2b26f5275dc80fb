"""Helpers: run the real `racs` console script in a subprocess with a private HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _command() -> list[str]:
    script = shutil.which("racs")
    return [script] if script else [sys.executable, "-m", "racs.cli"]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME and RACS_LEDGER point into the test's tmp dir."""
    env = dict(os.environ)
    env["HOME"] = str(tmp_path / "home")
    env["RACS_LEDGER"] = str(tmp_path / "home" / "ledger.db")
    env.pop("PYTHONWARNINGS", None)
    return env


@pytest.fixture
def racs(cli_env: dict[str, str]) -> Runner:
    """Run `racs ARGS...`; returns the completed process (text mode)."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_command(), *args],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def command() -> list[str]:
    """The argv prefix that starts the console script."""
    return _command()

"""Progress on stderr: only on a terminal or when RACS_PROGRESS=1 forces it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def _run(args: list[str], progress: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RACS_PROGRESS"}
    if progress is not None:
        env["RACS_PROGRESS"] = progress
    return subprocess.run(
        [sys.executable, "-m", "racs.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.mark.parametrize("command", ["report", "replay", "blocks"])
class TestProgress:
    def test_forced_progress_names_each_step(
        self, command: str, shared: Callable[[str], Path]
    ) -> None:
        """RACS_PROGRESS=1: the reading bar reaches 100%; the report names its hindsight
        step; stdout is the same as without progress."""
        args = [command, str(shared("traffic/claude-code")), "--utc"]
        if command == "blocks":
            args += ["--as-of", "2026-03-01"]
        forced = _run(args, "1")
        assert "100%" in forced.stderr
        if command == "report":
            assert "racs report: hindsight: replaying the streams of" in forced.stderr
        assert forced.stdout == _run(args, None).stdout

    def test_silent_when_stderr_is_not_a_terminal(
        self, command: str, shared: Callable[[str], Path]
    ) -> None:
        """Piped stderr, nothing forced: no progress at all."""
        args = [command, str(shared("traffic/claude-code")), "--utc"]
        if command == "blocks":
            args += ["--as-of", "2026-03-01"]
        assert _run(args, None).stderr == ""
        assert _run(args, "0").stderr == ""

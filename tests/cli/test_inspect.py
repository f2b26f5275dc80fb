"""`racs inspect`: a snapshot written by a real engine with the file backend."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from cli.conftest import Runner, command
from cli.test_cli_basics import assert_one_line_usage_error
from racs import create_racs, file_state


def write_snapshot(path: Path) -> str:
    """Plan twice (with drift) on anthropic and once on google, record usage, flush."""
    now = [1_767_225_600_000]
    engine = create_racs(
        state=file_state(path),
        clock=lambda: now[0],
        pricing={"claude-sonnet-4-5": {"inputPerMTok": 3, "cacheReadPerMTok": 0.3}},
    )

    def prompt(system: str) -> dict[str, object]:
        return {
            "agentId": "support",
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "segments": [
                {"id": "system", "role": "system", "stability": "stable", "content": system},
                {"id": "turn", "role": "dynamic", "stability": "volatile", "content": "hi"},
            ],
            "reuse": {"intervalSeconds": 60},
        }

    first = engine.plan(prompt("x" * 8000))
    engine.record(
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "prefixKey": first.prefix_key,
            "inputTokens": 2001,
            "cacheReadTokens": 0,
            "cacheWriteTokens5m": 2000,
        }
    )
    now[0] += 60_000
    second = engine.plan(prompt("y" * 8000))
    engine.plan(
        {**prompt("z" * 12000), "provider": "google", "model": "gemini-2.5-pro", "agentId": "docs"}
    )
    engine.close()
    return second.prefix_key


class TestInspect:
    def test_renders_every_section(self, racs: Runner, tmp_path: Path) -> None:
        """Usage per prefix, keep-warm, resources and drift appear as tables."""
        state = tmp_path / "state.json"
        key = write_snapshot(state)
        proc = racs("inspect", "--state", str(state))
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
        assert "usage: 1 calls" in out
        assert "keep-warm" in out and key in out
        assert "resources" in out and "gemini-2.5-pro" in out
        assert "recent drift (1 reports kept)" in out
        assert "support" in out and "system" in out

    def test_unreadable_state_file_exits_2(self, racs: Runner, tmp_path: Path) -> None:
        """A snapshot file that is not JSON: exit 2, one line naming it (a missing one is
        not an error, see test_fidelity)."""
        path = tmp_path / "broken.json"
        path.write_text("{not json")
        proc = racs("inspect", "--state", str(path))
        assert_one_line_usage_error(proc)
        assert "broken.json" in proc.stderr

    def test_unsupported_version_exits_2(self, racs: Runner, tmp_path: Path) -> None:
        """A snapshot of another version: exit 2 with the reason."""
        state = tmp_path / "v9.json"
        state.write_text('{"version": 9, "savedAt": 0, "data": {}}')
        proc = racs("inspect", "--state", str(state))
        assert_one_line_usage_error(proc)
        assert "version" in proc.stderr

    def test_watch_rerenders_until_interrupted(
        self, tmp_path: Path, cli_env: dict[str, str]
    ) -> None:
        """--watch keeps rendering; Ctrl-C (SIGINT) ends it with exit 0."""
        state = tmp_path / "state.json"
        write_snapshot(state)
        proc = subprocess.Popen(
            [*command(), "inspect", "--state", str(state), "--watch", "--interval", "0.2"],
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert out.count("keep-warm") >= 2
        assert "Traceback" not in err

"""``racs serve`` as a real process: flags, refusals, signals, restart continuity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import free_port, plan_input


def _start(*flags: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "racs.server", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _wait_up(url: str, proc: subprocess.Popen[str], headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            httpx.get(url + "/healthz", headers=headers, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("server did not come up")


class TestRefusals:
    def test_non_loopback_without_token_is_refused(self) -> None:
        """Binding 0.0.0.0 without a token exits 1 with one line on stderr."""
        proc = _start("--host", "0.0.0.0", "--port", str(free_port()), env={"RACS_TOKEN": ""})
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 1
        assert err.count("\n") == 1 and "--token" in err

    @pytest.mark.parametrize(
        "flags", [["--port", "x"], ["--bogus"], ["--port", "70000"], ["--seed", "1.5"]]
    )
    def test_bad_flags_exit_2(self, flags: list[str]) -> None:
        """A bad flag is a usage error: exit 2, one line."""
        proc = _start(*flags)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2
        assert err.count("\n") == 1 and err.startswith("racs serve:")

    def test_insecure_no_token_warns_loudly(self) -> None:
        """--insecure-no-token serves a non-loopback bind, with a warning on stderr."""
        port = free_port()
        proc = _start(
            "--host", "0.0.0.0", "--port", str(port), "--insecure-no-token", env={"RACS_TOKEN": ""}
        )
        try:
            _wait_up(f"http://127.0.0.1:{port}", proc)
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert "WARNING" in err and "WITHOUT A TOKEN" in err

    def test_token_from_environment(self) -> None:
        """RACS_TOKEN is the token when --token is absent."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start("--port", str(port), env={"RACS_TOKEN": "from-env"})
        try:
            _wait_up(url, proc)
            assert httpx.get(url + "/stats").status_code == 401
            ok = httpx.get(url + "/stats", headers={"Authorization": "Bearer from-env"})
            assert ok.status_code == 200
        finally:
            proc.terminate()
            proc.communicate(timeout=15)
        assert proc.returncode == 0


class TestSignals:
    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
    def test_signal_flushes_and_restart_continues(self, tmp_path: Path, sig: int) -> None:
        """SIGTERM/SIGINT flush the state and exit 0; a restart continues the plan counter
        and the usage stats."""
        state = tmp_path / "state.json"
        flags = ("--state", str(state), "--ledger", str(tmp_path / "ledger.db"))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start("--port", str(port), *flags, env={"RACS_TOKEN": ""})
        _wait_up(url, proc)
        start = {"workspaceId": "w", "agentId": "a", "provider": "anthropic", "model": "m"}
        run_id = httpx.post(url + "/ledger/runs", json=start).json()["runId"]
        first = httpx.post(url + "/plan", json=plan_input("one")).json()
        httpx.post(
            url + "/usage",
            json={
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "prefixKey": first["prefixKey"],
                "inputTokens": 2300,
                "cacheReadTokens": 2250,
            },
        )
        proc.send_signal(sig)
        proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert state.exists()
        assert oct(state.stat().st_mode & 0o777) == "0o600"

        proc = _start("--port", str(port), *flags, env={"RACS_TOKEN": ""})
        try:
            _wait_up(url, proc)
            assert httpx.get(url + "/healthz").json()["plansCreated"] == 1
            second = httpx.post(url + "/plan", json=plan_input("two")).json()
            assert second["planId"].startswith("rx-2-")
            stats = httpx.get(url + "/stats").json()
            assert stats["calls"] == 1 and stats["readTokens"] == 2250
            assert httpx.get(url + f"/ledger/runs/{run_id}").json()["status"] == "started"
            assert httpx.get(url + "/ledger/verify").json()["ok"] is True
        finally:
            proc.terminate()
            proc.communicate(timeout=15)
        assert proc.returncode == 0


class TestLearn:
    def test_learn_flag_learns_and_rebuilds_from_the_ledger(self, tmp_path: Path) -> None:
        """--learn plans from observed gaps; a restart rebuilds them from the ledger."""
        flags = ("--learn", "--ledger", str(tmp_path / "ledger.db"))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        now_ms = int(time.time() * 1000)
        proc = _start("--port", str(port), *flags, env={"RACS_TOKEN": ""})
        try:
            _wait_up(url, proc)
            for i in range(4):  # a cron every 7 minutes, the last one 7 minutes ago
                usage = {
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "agentId": "cron",
                    "inputTokens": 2300,
                    "cacheReadTokens": 0,
                    "timestamp": now_ms - (4 - i) * 420_000,
                }
                assert httpx.post(url + "/usage", json=usage).status_code < 300
            plan = httpx.post(url + "/plan", json=plan_input(agent="cron")).json()
            assert "learned from 4 gap(s) between uses of this stream" in plan["reasoning"]
        finally:
            proc.terminate()
            proc.communicate(timeout=15)
        proc = _start("--port", str(port), *flags, env={"RACS_TOKEN": ""})
        try:
            _wait_up(url, proc)
            plan = httpx.post(url + "/plan", json=plan_input(agent="cron")).json()
            # Rebuilt from the 4 cache.usage records (3 gaps), plus this plan's own gap.
            assert "learned from 4 gap(s) between uses of this stream" in plan["reasoning"]
        finally:
            proc.terminate()
            proc.communicate(timeout=15)

    def test_without_learn_the_reference_decides(self) -> None:
        """The default server plans exactly as the reference engine."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start("--port", str(port), env={"RACS_TOKEN": ""})
        try:
            _wait_up(url, proc)
            for _ in range(4):
                plan = httpx.post(url + "/plan", json=plan_input(agent="cron")).json()
            assert "learned" not in plan["reasoning"].lower()
        finally:
            proc.terminate()
            proc.communicate(timeout=15)

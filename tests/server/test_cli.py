"""``racs serve`` as a real process: flags, refusals, signals, restart continuity."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from server.conftest import free_port, plan_input


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


def _usage(prefix_key: str, read: int) -> dict[str, object]:
    return {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "prefixKey": prefix_key,
        "inputTokens": 2300,
        "cacheReadTokens": read,
    }


def _plan_number(plan: dict[str, str]) -> int:
    return int(plan["planId"].split("-")[1])  # rx-<counter>-<hash>


class TestPeriodicSaves:
    def test_kill_9_keeps_saved_state_and_never_reuses_plan_ids(self, tmp_path: Path) -> None:
        """SIGKILL loses at most one save interval; a restart hands out only new plan ids.

        Three plans and a usage record, then a wait past the 0.2 s interval, then SIGKILL:
        the usage is back after the restart, and the next plan id is above the reserved
        block (3 + 1000), not 4 again.
        """
        state = tmp_path / "state.json"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        flags = ("--port", str(port), "--state", str(state), "--save-interval", "0.2")
        proc = _start(*flags, env={"RACS_TOKEN": ""})
        try:
            _wait_up(url, proc)
            first = [httpx.post(url + "/plan", json=plan_input(str(i))).json() for i in range(3)]
            assert [_plan_number(p) for p in first] == [1, 2, 3]
            httpx.post(url + "/usage", json=_usage(first[0]["prefixKey"], 2250))
            deadline = time.monotonic() + 15
            while '"calls":1' not in state.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)  # wait for a periodic save that holds the usage record
        finally:
            proc.kill()
            proc.communicate(timeout=15)
        assert proc.returncode == -signal.SIGKILL

        proc = _start(*flags, env={"RACS_TOKEN": ""})
        try:
            _wait_up(url, proc)
            stats = httpx.get(url + "/stats").json()
            assert stats["calls"] == 1 and stats["readTokens"] == 2250
            again = httpx.post(url + "/plan", json=plan_input("0")).json()
            assert _plan_number(again) == 3 + 1000 + 1
            assert again["planId"] not in {p["planId"] for p in first}
        finally:
            proc.terminate()
            proc.communicate(timeout=15)
        assert proc.returncode == 0

    def test_a_plan_past_the_reserved_block_is_saved_before_it_is_answered(
        self, tmp_path: Path
    ) -> None:
        """With a save interval too long to fire, the state file still holds a mark above
        every plan id answered so far (the startup reservation)."""
        state = tmp_path / "state.json"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start(
            "--port", str(port), "--state", str(state), "--save-interval", "3600",
            env={"RACS_TOKEN": ""},
        )  # fmt: skip
        try:
            _wait_up(url, proc)
            plan = httpx.post(url + "/plan", json=plan_input()).json()
            assert _plan_number(plan) == 1
            assert json.loads(state.read_text())["data"]["planCounter"] == 1000
        finally:
            proc.kill()
            proc.communicate(timeout=15)

    def test_failed_saves_are_logged_and_a_failed_final_save_exits_1(self, tmp_path: Path) -> None:
        """When the state directory disappears (a file takes its place), periodic saves
        fail, are logged, and the service keeps answering; the final save fails too and
        the process exits 1 instead of pretending all is well."""
        directory = tmp_path / "state"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start(
            "--port", str(port), "--state", str(directory / "s.json"), "--save-interval", "0.1",
            env={"RACS_TOKEN": ""},
        )  # fmt: skip
        try:
            _wait_up(url, proc)
            shutil.rmtree(directory)
            directory.write_text("not a directory")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if httpx.get(url + "/healthz").json()["stateSaveFailures"] >= 2:
                    break
                time.sleep(0.05)
            assert httpx.get(url + "/healthz").json()["stateSaveFailures"] >= 2
            assert httpx.post(url + "/plan", json=plan_input()).status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=15)
        assert proc.returncode == 1
        assert "saving the engine state failed" in err
        assert "final state save failed" in err


class TestKeyScheme:
    def test_fnv1a64_keys_differ_from_blake2b(self) -> None:
        """--key-scheme fnv1a64 serves the @takk/racs prefix keys: the same input keyed
        by the in-process engine with that scheme, and unlike the default scheme."""
        from racs import create_racs

        expected = create_racs(key_scheme="fnv1a64").plan(plan_input()).prefix_key
        default = create_racs().plan(plan_input()).prefix_key
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start("--port", str(port), "--key-scheme", "fnv1a64", env={"RACS_TOKEN": ""})
        try:
            _wait_up(url, proc)
            key = httpx.post(url + "/plan", json=plan_input()).json()["prefixKey"]
        finally:
            proc.terminate()
            proc.communicate(timeout=15)
        assert key == expected != default

    def test_unknown_scheme_exits_2(self) -> None:
        """Only the two schemes are accepted."""
        proc = _start("--key-scheme", "md5")
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2 and err.count("\n") == 1


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

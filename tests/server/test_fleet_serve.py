"""Two ``racs serve`` replicas behind one Redis (``--state redis://``): one state."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from server.conftest import free_port

REDIS_URL = os.environ.get("RACS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def prefix() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:
        if os.environ.get("CI"):
            raise RuntimeError(f"Redis is required in CI but unreachable: {exc}") from exc
        pytest.skip(f"Redis unreachable: {exc}")
    name = f"racs-test-{uuid.uuid4().hex[:12]}:"
    yield name
    keys = list(client.scan_iter(match=name + "*", count=1000))
    if keys:
        client.delete(*keys)


def _replica(prefix: str) -> tuple[str, subprocess.Popen[str]]:
    port = free_port()
    flags = ["--port", str(port), "--state", REDIS_URL, "--state-prefix", prefix]
    proc = subprocess.Popen(
        [sys.executable, "-m", "racs.server", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RACS_TOKEN": ""},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            httpx.get(url + "/healthz", timeout=0.5)
            return url, proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("replica did not come up")


def gemini() -> dict[str, Any]:
    return {
        "provider": "google",
        "model": "gemini-2.5-flash",
        "segments": [
            {"id": "s", "role": "system", "stability": "stable", "contentHash": "h", "tokens": 3000}
        ],
    }


def test_replicas_share_claims_ids_and_totals(prefix: str) -> None:
    """Replica 1 creates the Gemini cache, replica 2 reuses it; plan ids continue across
    replicas (rx-1, rx-2); a usage posted to each shows 2 calls on either."""
    replicas = [_replica(prefix), _replica(prefix)]
    try:
        (one, _), (two, _) = replicas
        first = httpx.post(one + "/plan", json=gemini()).json()
        second = httpx.post(two + "/plan", json=gemini()).json()
        assert [p["directives"][0]["action"] for p in (first, second)] == ["create", "reuse"]
        assert [p["planId"].split("-")[1] for p in (first, second)] == ["1", "2"]
        for url in (one, two):
            usage = {"provider": "google", "model": "gemini-2.5-flash", "inputTokens": 3010}
            httpx.post(url + "/usage", json={**usage, "cacheReadTokens": 3000})
        assert httpx.get(one + "/stats").json()["calls"] == 2
        assert httpx.get(two + "/stats").json()["readTokens"] == 6000
    finally:
        for _, proc in replicas:
            proc.terminate()
            proc.communicate(timeout=15)
            assert proc.returncode == 0

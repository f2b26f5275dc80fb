"""Snapshots through the memory, file and key-value (real Redis) backends."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import racs
from engine.helpers import FakeClock, plan_input, require_service, seg
from racs.state.base import StateBackend

REDIS_URL = os.environ.get("RACS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_client() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # connection refused and friends
        require_service("Redis", exc)
    return client


@pytest.fixture(params=["memory", "file", "redis"])
def backend_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], StateBackend]]:
    """One contract, every backend: a factory returning backends over the same storage."""
    if request.param == "memory":
        shared = racs.memory_state()
        yield lambda: shared
    elif request.param == "file":
        path = tmp_path / "state" / "racs.json"
        yield lambda: racs.file_state(path)
    else:
        client = redis_client()
        key = f"racs-test:{uuid.uuid4()}"
        yield lambda: racs.kv_state(client, key=key)
        client.delete(key)


PRICING = {
    "claude-sonnet-4-5": {"inputPerMTok": 3, "cacheReadPerMTok": 0.3, "cacheWrite5mPerMTok": 3.75}
}


def busy_engine(state: StateBackend, clock: FakeClock) -> racs.Racs:
    engine = racs.create_racs(state=state, clock=clock, pricing=PRICING)
    for i in range(3):
        plan = engine.plan(
            plan_input(
                [
                    seg("s", tokens=2000, content=f"v{i // 2}"),
                    seg("t", "dynamic", "volatile", 5, content=str(i)),
                ],
                agentId="a",
            )
        )
        engine.record(
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "prefixKey": plan.prefix_key,
                "inputTokens": 2005,
                "cacheReadTokens": 2000 if i else 0,
                "cacheWriteTokens5m": 0 if i else 2000,
            }
        )
    engine.plan(
        plan_input(
            [seg("s", tokens=3000, content="g")], provider="google", model="gemini-2.5-flash"
        )
    )
    return engine


class TestRoundTrip:
    def test_fresh_engine_restores_everything(
        self, backend_factory: Callable[[], StateBackend], clock: FakeClock
    ) -> None:
        """Usage, fingerprints, keep-warm, resources, drifts and the plan counter survive."""
        engine = busy_engine(backend_factory(), clock)
        before = (engine.stats().to_dict(), engine.drifts(), engine.schedule(clock.now + 280_000))
        engine.close()
        restored = racs.create_racs(state=backend_factory(), clock=clock, pricing=PRICING)
        after = (
            restored.stats().to_dict(),
            restored.drifts(),
            restored.schedule(clock.now + 280_000),
        )
        assert after == before
        assert len(before[1]) == 1 and len(before[2]) == 2
        # the plan counter continues (improvement): the 5th plan, not the 1st
        next_plan = restored.plan(plan_input([seg("s", tokens=2000, content="v1")], agentId="a"))
        assert next_plan.plan_id.startswith("rx-5-")
        # the resource registry survived: the same Gemini prefix is reused, not re-created
        google = restored.plan(
            plan_input(
                [seg("s", tokens=3000, content="g")], provider="google", model="gemini-2.5-flash"
            )
        )
        assert google.directives[0].action == "reuse"  # type: ignore[union-attr]
        # drift fingerprints survived: a change after restore is reported against the old key
        restored.plan(plan_input([seg("s", tokens=2000, content="v9")], agentId="a"))
        assert len(restored.drifts()) == 2

    def test_snapshot_holds_no_content(
        self, backend_factory: Callable[[], StateBackend], clock: FakeClock
    ) -> None:
        """Hashes and counts only: the prompt text never reaches the backend."""
        secret = "TOP-SECRET-PROMPT-TEXT"
        state = backend_factory()
        engine = racs.create_racs(state=state, clock=clock)
        engine.plan(
            plan_input(
                [
                    seg("s", tokens=2000, content=secret),
                    seg("t", "dynamic", "volatile", content=secret + "2"),
                ]
            )
        )
        engine.flush()
        snapshot = state.load()
        assert snapshot is not None and snapshot["version"] == 1
        assert set(snapshot["data"]) == {
            "planCounter",
            "usage",
            "fingerprints",
            "keepWarm",
            "resources",
            "drifts",
            "prefixes",
        }
        assert secret not in json.dumps(snapshot)


class TestDegradation:
    def test_corrupt_section_degrades_to_empty(self, clock: FakeClock) -> None:
        """A corrupt section restores empty without raising; the others still restore."""
        state = racs.memory_state()
        busy_engine(state, clock).close()
        assert state.snapshot is not None
        state.snapshot["data"]["usage"] = [{"key": 5}]
        state.snapshot["data"]["keepWarm"] = "garbage"
        restored = racs.create_racs(state=state, clock=clock)
        assert restored.stats().calls == 0
        assert restored.schedule(clock.now + 280_000) == ()
        assert len(restored.drifts()) == 1
        assert restored.plans_created == 4

    def test_unknown_version_is_refused(self) -> None:
        """A snapshot of another version raises ERR_STATE_VERSION."""
        state = racs.memory_state()
        state.save({"version": 2, "savedAt": 0, "data": {}})
        with pytest.raises(racs.RacsError) as err:
            racs.create_racs(state=state)
        assert err.value.code == "ERR_STATE_VERSION"

    def test_unparseable_file_raises(self, tmp_path: Path) -> None:
        """A file that is not JSON at all raises ERR_STATE_IO, as in @takk/racs; a JSON
        value that is not an object still degrades to an empty engine."""
        path = tmp_path / "s.json"
        path.write_text("{not json")
        with pytest.raises(racs.RacsError) as err:
            racs.create_racs(state=racs.file_state(path))
        assert err.value.code == "ERR_STATE_IO"
        path.write_text("[1, 2]")
        assert racs.create_racs(state=racs.file_state(path)).stats().calls == 0


class TestFileBackend:
    def test_owner_only_permissions(self, tmp_path: Path) -> None:
        """The state file is created 0600."""
        path = tmp_path / "racs.json"
        with racs.create_racs(state=racs.file_state(path)) as engine:
            engine.plan(plan_input([seg("s", tokens=10)]))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    def test_crash_mid_write_never_tears_the_file(self, tmp_path: Path) -> None:
        """A writer killed with SIGKILL while saving big snapshots in a loop leaves a
        file that always parses as a complete snapshot."""
        path = tmp_path / "racs.json"
        script = textwrap.dedent(
            f"""
            import racs, sys
            state = racs.file_state({str(path)!r})
            engine = racs.create_racs(state=state)
            for i in range(3000):
                engine.plan({{"provider": "anthropic", "model": "m", "agentId": str(i),
                             "segments": [{{"id": "s", "role": "system", "stability": "stable",
                                           "contentHash": str(i), "tokens": 2000}}]}})
            engine.flush()
            print("ready", flush=True)
            while True:
                engine.flush()
            """
        )
        for attempt in range(3):
            proc = subprocess.Popen(
                [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
            )
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(0.3)
            proc.kill()
            proc.wait()
            snapshot = json.loads(path.read_text())
            assert snapshot["version"] == 1
            # each run restores the previous snapshot and plans 3000 more
            assert snapshot["data"]["planCounter"] == 3000 * (attempt + 1)

    def test_unwritable_directory_is_a_racs_error(self, tmp_path: Path) -> None:
        """Read and write failures surface as ERR_STATE_IO."""
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(racs.RacsError) as err:
            racs.create_racs(state=racs.file_state(blocker / "sub" / "s.json"))
        assert err.value.code == "ERR_STATE_IO"
        gone = tmp_path / "gone"
        engine = racs.create_racs(state=racs.file_state(gone / "s.json"))
        gone.write_text("now a file, not a directory")
        with pytest.raises(racs.RacsError) as err:
            engine.flush()
        assert err.value.code == "ERR_STATE_IO"


class TestKeyValue:
    def test_plain_dict_client(self) -> None:
        """Any object with get/set/delete works."""

        class DictKv:
            def __init__(self) -> None:
                self.data: dict[str, str] = {}

            def get(self, key: str) -> str | None:
                return self.data.get(key)

            def set(self, key: str, value: str) -> None:
                self.data[key] = value

            def delete(self, key: str) -> None:
                self.data.pop(key, None)

        kv = DictKv()
        with racs.create_racs(state=racs.kv_state(kv, key="k")) as engine:
            engine.plan(plan_input([seg("s", tokens=10)]))
        assert json.loads(kv.data["k"])["data"]["planCounter"] == 1

    def test_client_without_methods_is_refused(self) -> None:
        """kv_state checks the client's shape up front."""
        with pytest.raises(racs.RacsError):
            racs.kv_state(object())

    def test_asyncio_redis(self) -> None:
        """An asyncio Redis client works through create_racs_async / aflush / aclose,
        and the sync constructor explains what to use instead."""
        redis_client()  # skip or fail early when Redis is down
        import redis.asyncio as aioredis

        key = f"racs-test:{uuid.uuid4()}"

        async def scenario() -> tuple[int, str]:
            client = aioredis.Redis.from_url(REDIS_URL)
            try:
                state = racs.kv_state(client, key=key)
                with pytest.raises(racs.RacsError) as err:
                    racs.create_racs(state=state)
                async with await racs.create_racs_async(state=state) as engine:
                    engine.plan(plan_input([seg("s", tokens=10)]))
                again = await racs.create_racs_async(state=racs.kv_state(client, key=key))
                counter = again.plans_created
                await again.aclose()
                await client.delete(key)
                return counter, err.value.message
            finally:
                await client.aclose()

        counter, message = asyncio.run(scenario())
        assert counter == 1
        assert "create_racs_async" in message

"""LiteLLM logger: real litellm calls to the local stub, provider cache usage recorded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import litellm
import pytest

import racs
from racs.integrations.litellm import RacsLiteLLMLogger, usage_from_litellm
from racs.ledger import Ledger, create_ledger
from racs.testing import StubServer


def wait_for(predicate: Any, seconds: float = 10) -> None:
    """LiteLLM runs sync success callbacks on a worker thread."""
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A real SQLite ledger in the test's tmp dir."""
    with create_ledger(tmp_path / "ledger.db") as opened:
        yield opened


@pytest.fixture
def logger(engine: racs.Racs, ledger: Ledger) -> Iterator[RacsLiteLLMLogger]:
    handler = RacsLiteLLMLogger(engine, ledger=ledger, agent_id="lite")
    _reset_callbacks()
    litellm.callbacks = [handler]
    yield handler
    _reset_callbacks()


def _reset_callbacks() -> None:
    """LiteLLM copies `callbacks` into internal lists on first use; clear them all."""
    litellm.callbacks = []
    for name in (
        "success_callback",
        "failure_callback",
        "_async_success_callback",
        "_async_failure_callback",
        "input_callback",
        "_async_input_callback",
    ):
        setattr(litellm, name, [])


MESSAGES = [{"role": "system", "content": "Be brief. " * 600}, {"role": "user", "content": "hi"}]


class TestLiteLLM:
    def test_anthropic_completion(
        self, stub: StubServer, engine: racs.Racs, ledger: Ledger, logger: RacsLiteLLMLogger
    ) -> None:
        """Anthropic through LiteLLM: prompt_tokens is all-in, cache read and write kept,
        and a completed run lands in the ledger."""
        litellm.completion(
            model="anthropic/claude-sonnet-4-6",
            messages=MESSAGES,
            api_base=stub.url,
            api_key="test",
        )
        wait_for(lambda: ledger.count_runs(status="completed") == 1)
        stats = engine.stats()
        assert (stats.calls, stats.read_tokens) == (1, 2000)
        (run,) = ledger.query_runs().items
        assert (run.agent_id, run.input_tokens, run.cache_read_tokens) == ("lite", 2312, 2000)
        assert run.prefix_key == stats.prefixes[0].prefix_key
        assert ledger.verify().ok

    def test_failure_records_a_failed_run(
        self, stub: StubServer, engine: racs.Racs, ledger: Ledger, logger: RacsLiteLLMLogger
    ) -> None:
        """A provider error is a failed run with the error, and no usage."""
        stub.fail_next = 500
        with pytest.raises(Exception):  # noqa: B017 - litellm maps the 500 to its own type
            litellm.completion(
                model="anthropic/claude-sonnet-4-6",
                messages=MESSAGES,
                api_base=stub.url,
                api_key="test",
                num_retries=0,
            )
        wait_for(lambda: ledger.count_runs(status="failed") == 1)
        (run,) = ledger.query_runs(status="failed").items
        assert run.error is not None
        assert engine.stats().calls == 0

    def test_openai_async(self, stub: StubServer, engine: racs.Racs, logger: Any) -> None:
        """The async path records too."""
        import asyncio

        async def main() -> None:
            await litellm.acompletion(
                model="openai/gpt-4o", messages=MESSAGES, api_base=f"{stub.url}/v1", api_key="test"
            )
            for _ in range(200):  # async callbacks run as tasks on this loop
                if engine.stats().calls:
                    break
                await asyncio.sleep(0.02)

        asyncio.run(main())
        assert engine.stats().read_tokens == 1920

    def test_litellm_cache_hit_is_not_provider_cache(self, engine: racs.Racs) -> None:
        """A response from LiteLLM's own cache is not recorded."""
        handler = RacsLiteLLMLogger(engine)
        response = {
            "model": "gpt-4o",
            "usage": {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 0}},
        }
        handler.log_success_event({"cache_hit": True, "model": "gpt-4o"}, response, 0, 1)
        assert engine.stats().calls == 0

    def test_standard_logging_object_fallback(self) -> None:
        """usage_object in the standard logging payload is read when usage is missing."""
        kwargs = {
            "custom_llm_provider": "bedrock",
            "model": "m",
            "standard_logging_object": {
                "metadata": {"usage_object": {"prompt_tokens": 300, "cache_read_input_tokens": 200}}
            },
        }
        usage = usage_from_litellm(kwargs, None)
        assert usage is not None
        got = (usage.provider, usage.input_tokens, usage.cache_read_tokens)
        assert got == ("bedrock", 300, 200)

"""OpenAI adapters: routing key + retention, GPT-5.6 explicit breakpoints, inclusive usage."""

from __future__ import annotations

import copy
from typing import Any

import openai as sdk

import racs
from racs.core.model import CachePlan, RoutingKeyDirective
from racs.providers import openai
from racs.testing import StubServer, openai_chat_chunks

SYSTEM = "You are a careful support agent for ACME routers. " * 200


def chat_request(model: str = "gpt-4o") -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "help"},
        ],
    }


class TestChat:
    def test_segments(self) -> None:
        """System messages are stable system segments; the final turn is volatile."""
        segs = openai.chat.segments_from(chat_request()).segments
        assert [(s.id, s.role, s.stability) for s in segs] == [
            ("msg-0", "system", "stable"),
            ("msg-1", "history", "semi"),
            ("msg-2", "history", "semi"),
            ("msg-3", "dynamic", "volatile"),
        ]

    def test_routing_key_and_retention(self, engine: racs.Racs) -> None:
        """Older models: prompt_cache_key, plus 24h retention for sparse reuse where the
        model accepts it (gpt-5.2; gpt-4o refuses 24h, see the catalog tests)."""
        req = chat_request("gpt-5.2")
        plan = engine.plan(openai.chat.segments_from(req, reuse={"intervalSeconds": 7200}))
        out = openai.chat.apply(plan, req)
        assert out["prompt_cache_key"] == plan.prefix_key
        assert out["prompt_cache_retention"] == "24h"
        assert "prompt_cache_options" not in out
        assert "prompt_cache_key" not in req

    def test_host_key_wins(self) -> None:
        """A key the host set itself is kept."""
        plan = CachePlan(
            "rx", "openai", "m", "routing-key", "k", 0, 0, (RoutingKeyDirective("k"),), (), None, ""
        )
        out = openai.chat.apply(plan, {**chat_request(), "prompt_cache_key": "user-7"})
        assert out["prompt_cache_key"] == "user-7"

    def test_gpt56_breakpoints_and_options(self, engine: racs.Racs) -> None:
        """GPT-5.6: explicit breakpoint on the last block, options, never retention."""
        req = {**chat_request("gpt-5.6"), "prompt_cache_retention": "24h"}
        before = copy.deepcopy(req)
        plan = engine.plan(openai.chat.segments_from(req))
        out = openai.chat.apply(plan, req)
        assert req == before
        assert out["prompt_cache_options"] == {"mode": "explicit", "ttl": "30m"}
        assert "prompt_cache_retention" not in out
        assert out["prompt_cache_key"] == plan.prefix_key
        marked = [
            i
            for i, m in enumerate(out["messages"])
            if isinstance(m["content"], list)
            and m["content"][-1].get("prompt_cache_breakpoint") == {"mode": "explicit"}
        ]
        assert marked and max(marked) == 2
        assert out["messages"][3]["content"] == "help"

    def test_usage_is_inclusive(self) -> None:
        """prompt_tokens already contains cached_tokens: 2048 all-in, 1920 read."""
        usage = openai.chat.usage_from(
            {
                "model": "gpt-4o",
                "usage": {"prompt_tokens": 2048, "prompt_tokens_details": {"cached_tokens": 1920}},
            }
        )
        assert (usage.input_tokens, usage.cache_read_tokens) == (2048, 1920)

    def test_deepseek_and_stream(self) -> None:
        """DeepSeek hit/miss counts; a stream's last usage chunk."""
        deepseek = openai.OpenAIChat("deepseek")
        usage = deepseek.usage_from(
            {"usage": {"prompt_cache_hit_tokens": 900, "prompt_cache_miss_tokens": 100}}, model="d"
        )
        assert (usage.input_tokens, usage.cache_read_tokens) == (1000, 900)
        assert openai.chat.usage_from(openai_chat_chunks()).cache_read_tokens == 1920

    def test_sdk_round_trip(self, stub: StubServer, engine: racs.Racs) -> None:
        """The key reaches the wire; usage comes back from the SDK object."""
        client = sdk.OpenAI(base_url=f"{stub.url}/v1", api_key="test", max_retries=0)
        req = chat_request()
        plan = engine.plan(openai.chat.segments_from(req))
        response = client.chat.completions.create(**openai.chat.apply(plan, req))
        body = stub.bodies("/chat/completions")[0]
        assert body["prompt_cache_key"] == plan.prefix_key
        assert openai.chat.usage_from(response).cache_read_tokens == 1920
        chunks = list(
            client.chat.completions.create(
                **req, stream=True, stream_options={"include_usage": True}
            )
        )
        assert openai.chat.usage_from(chunks).input_tokens == 2048


class TestResponses:
    def test_gpt56_over_the_wire(self, stub: StubServer, engine: racs.Racs) -> None:
        """instructions is the system segment; input parts carry the breakpoint."""
        req = {
            "model": "gpt-5.6",
            "instructions": SYSTEM,
            "input": [
                {"role": "user", "content": "hi " * 2000},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "help"},
            ],
        }
        plan = engine.plan(openai.responses.segments_from(req))
        client = sdk.OpenAI(base_url=f"{stub.url}/v1", api_key="test", max_retries=0)
        response = client.responses.create(**openai.responses.apply(plan, req))
        body = stub.bodies("/responses")[0]
        assert body["prompt_cache_options"] == {"mode": "explicit", "ttl": "30m"}
        assert body["input"][1]["content"] == [
            {
                "type": "output_text",
                "text": "hello",
                "prompt_cache_breakpoint": {"mode": "explicit"},
            }
        ]
        usage = openai.responses.usage_from(response)
        # 2048 all-in includes 1024 read and 512 written (30-minute tier)
        assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens_30m) == (
            2048,
            1024,
            512,
        )

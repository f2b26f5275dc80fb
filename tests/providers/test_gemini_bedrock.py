"""Gemini cachedContent references and Bedrock cachePoint blocks, over the real SDKs."""

from __future__ import annotations

import copy
from typing import Any

import boto3
from google import genai
from google.genai import types

import racs
from racs.core.model import BreakpointDirective, CachePlan
from racs.providers import bedrock, gemini
from racs.testing import StubServer, count_markers

SYSTEM = "You are a careful support agent for ACME routers. " * 400  # ~5,000 tokens


def gemini_request() -> dict[str, Any]:
    return {
        "model": "gemini-2.5-flash",
        "contents": [
            {"role": "user", "parts": [{"text": "manual " * 500}]},
            {"role": "model", "parts": [{"text": "read it"}]},
            {"role": "user", "parts": [{"text": "question"}]},
        ],
        "config": {
            "system_instruction": SYSTEM,
            "tools": [{"function_declarations": [{"name": "lookup", "description": "d"}]}],
        },
    }


class TestGemini:
    def test_create_then_use_the_cache(self, stub: StubServer, engine: racs.Racs) -> None:
        """create body -> caches.create -> apply with the name -> generate_content."""
        client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=stub.url))
        req = gemini_request()
        before = copy.deepcopy(req)
        plan = engine.plan(gemini.segments_from(req))
        assert plan.directives[0].kind == "resource"
        body = gemini.cache_create_body(plan, req)
        assert body["config"]["ttl"] == "3600s"
        assert len(body["config"]["contents"]) == 2
        cache = client.caches.create(**body)
        out = gemini.apply(plan, req, cached_content_name=cache.name)
        assert req == before
        assert out["config"] == {"cached_content": "cachedContents/stub-1"}
        assert out["contents"] == [{"role": "user", "parts": [{"text": "question"}]}]
        response = client.models.generate_content(**out)
        sent = stub.bodies(":generateContent")[0]
        assert sent["cachedContent"] == "cachedContents/stub-1"
        assert "systemInstruction" not in sent and "tools" not in sent
        created = stub.bodies("/cachedContents")[0]
        assert created["systemInstruction"]["parts"][0]["text"] == SYSTEM
        usage = gemini.usage_from(response)
        # promptTokenCount 5000 already includes the 4096 cached tokens
        assert (usage.input_tokens, usage.cache_read_tokens, usage.model) == (
            5000,
            4096,
            "gemini-2.5-flash",
        )

    def test_sdk_stream(self, stub: StubServer, engine: racs.Racs) -> None:
        """generate_content_stream over SSE: the chunks' last usage is the call's usage."""
        client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=stub.url))
        req = gemini_request()
        plan = engine.plan(gemini.segments_from(req))
        out = gemini.apply(plan, req, cached_content_name="cachedContents/live")
        chunks = list(client.models.generate_content_stream(**out))
        assert len(chunks) == 2
        sent = stub.bodies(":streamGenerateContent")[0]
        assert sent["cachedContent"] == "cachedContents/live"
        usage = gemini.usage_from(iter(chunks))
        assert (usage.input_tokens, usage.cache_read_tokens, usage.model) == (
            5000,
            4096,
            "gemini-2.5-flash",
        )
        # The first chunk alone carries only the running prompt count.
        early = gemini.usage_from(chunks[0])
        assert (early.input_tokens, early.cache_read_tokens) == (5000, 0)

    def test_no_name_leaves_the_request_alone(self, engine: racs.Racs) -> None:
        """Without a resource name the copy is unchanged."""
        req = gemini_request()
        plan = engine.plan(gemini.segments_from(req))
        assert gemini.apply(plan, req) == req

    def test_rest_shape_and_mapping_name(self, engine: racs.Racs) -> None:
        """REST camelCase body: cachedContent from a {resource_key: name} map."""
        req = {
            "contents": gemini_request()["contents"],
            "systemInstruction": {"parts": [{"text": SYSTEM}]},
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        }
        plan = engine.plan(gemini.segments_from(req, model="gemini-2.5-flash"))
        key = plan.directives[0].resource_key  # type: ignore[union-attr]
        out = gemini.apply(plan, req, cached_content_name={key: "cachedContents/x"})
        assert out == {"contents": req["contents"][2:], "cachedContent": "cachedContents/x"}
        body = gemini.cache_create_body(plan, req)
        assert body["model"] == "models/gemini-2.5-flash" and "systemInstruction" in body

    def test_usage_stream_and_nulls(self) -> None:
        """Last chunk with usage wins; nulls count zero."""
        chunks = [
            {"usageMetadata": {"promptTokenCount": 10}},
            {"usage_metadata": {"prompt_token_count": 10, "cached_content_token_count": None}},
        ]
        assert gemini.usage_from(chunks, model="g").input_tokens == 10


def bedrock_request() -> dict[str, Any]:
    return {
        "modelId": "anthropic.claude-sonnet-4-5-v1:0",
        "system": [{"text": SYSTEM}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {}}}}]},
        "messages": [
            {"role": "user", "content": [{"text": "hi"}]},
            {"role": "assistant", "content": [{"text": "hello"}]},
            {"role": "user", "content": [{"text": "help"}]},
        ],
    }


def bp_plan(*directives: BreakpointDirective) -> CachePlan:
    return CachePlan("rx", "bedrock", "m", "breakpoint", "k", 0, 0, directives, (), None, "")


class TestBedrock:
    def test_round_trip(self, stub: StubServer, engine: racs.Racs) -> None:
        """cachePoint blocks after tools, system and the last semi turn; boto3 sends them."""
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=stub.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        req = bedrock_request()
        before = copy.deepcopy(req)
        plan = engine.plan(bedrock.segments_from(req))
        out = bedrock.apply(plan, req)
        assert req == before
        response = client.converse(**out)
        body = stub.bodies("/converse")[0]
        point = {"cachePoint": {"type": "default"}}
        assert body["system"][-1] == point
        assert body["toolConfig"]["tools"][-1] == point
        assert body["messages"][1]["content"][-1] == point
        assert body["messages"][2]["content"] == [{"text": "help"}]
        usage = bedrock.usage_from(response, model=plan.model)
        # 12 uncached + 2000 read + 100 (5m) + 200 (1h) = 2312
        assert (usage.input_tokens, usage.cache_write_tokens_5m, usage.cache_write_tokens_1h) == (
            2312,
            100,
            200,
        )

    def test_sdk_converse_stream(self, stub: StubServer, engine: racs.Racs) -> None:
        """converse_stream over AWS's binary event stream: usage from the metadata event,
        whether the host collected the events first or hands over the live response."""
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=stub.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        req = bedrock_request()
        plan = engine.plan(bedrock.segments_from(req))
        out = bedrock.apply(plan, req)
        events = list(client.converse_stream(**out)["stream"])
        assert [next(iter(e)) for e in events] == [
            "messageStart",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata",
        ]
        body = stub.bodies("/converse-stream")[0]
        assert body["system"][-1] == {"cachePoint": {"type": "default"}}
        collected = bedrock.usage_from({"stream": events}, model=plan.model)
        live = bedrock.usage_from(client.converse_stream(**out), model=plan.model)
        for usage in (collected, live):
            assert (
                usage.input_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens_5m,
                usage.cache_write_tokens_1h,
            ) == (2312, 2000, 100, 200)

    def test_one_hour_and_budget(self) -> None:
        """ttl 1h is written; three host points leave room for only the deepest new one."""
        req = bedrock_request()
        for m in req["messages"]:
            m["content"].append({"cachePoint": {"type": "default"}})
        out = bedrock.apply(
            bp_plan(BreakpointDirective("tools", "1h"), BreakpointDirective("system", "1h")), req
        )
        assert count_markers(out) == 4
        # the new point would precede 5m host points, so it stays at the plan's 1h
        assert out["system"][-1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
        assert "cachePoint" not in out["toolConfig"]["tools"][-1]

    def test_stream_metadata(self) -> None:
        """ConverseStream: usage in the metadata event."""
        events = [
            {"messageStart": {"role": "assistant"}},
            {"metadata": {"usage": {"inputTokens": 5, "cacheReadInputTokens": 95}}},
        ]
        usage = bedrock.usage_from({"stream": events}, model="m")
        assert (usage.input_tokens, usage.cache_read_tokens) == (100, 95)

"""Anthropic Messages adapter: segments, cache_control placement, usage; SDK over a socket."""

from __future__ import annotations

import copy
from typing import Any

import anthropic as sdk
import pytest

import racs
from racs.core.model import BreakpointDirective, CachePlan
from racs.providers import anthropic
from racs.testing import StubServer, count_markers

SYSTEM = "You are a careful support agent for ACME routers. " * 200  # ~2,500 tokens
TOOLS = [
    {"name": "lookup", "description": "Find an order", "input_schema": {"type": "object"}},
    {"name": "refund", "description": "Refund an order", "input_schema": {"type": "object"}},
]


def request(turns: int = 3, **extra: Any) -> dict[str, Any]:
    messages = []
    for i in range(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"})
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "system": SYSTEM,
        "tools": copy.deepcopy(TOOLS),
        "messages": messages,
        **extra,
    }


def plan_of(*directives: BreakpointDirective) -> CachePlan:
    return CachePlan("rx-1", "anthropic", "m", "breakpoint", "k", 0, 0, directives, (), None, "")


class TestSegments:
    def test_ids_roles_and_default_stabilities(self) -> None:
        """tools and system stable, earlier turns semi, the final turn volatile."""
        segs = anthropic.segments_from(request()).segments
        assert [(s.id, s.role, s.stability) for s in segs] == [
            ("tools", "tools", "stable"),
            ("system", "system", "stable"),
            ("msg-0", "history", "semi"),
            ("msg-1", "history", "semi"),
            ("msg-2", "dynamic", "volatile"),
        ]

    def test_same_request_same_prefix_key(self, engine: racs.Racs) -> None:
        """Canonical serialization: key order in the request does not change the key."""
        a = request()
        b = dict(reversed(list(request().items())))
        b["tools"] = [dict(reversed(list(t.items()))) for t in b["tools"]]
        assert (
            engine.plan(anthropic.segments_from(a)).prefix_key
            == engine.plan(anthropic.segments_from(b)).prefix_key
        )

    def test_override_by_mapping_and_callable(self) -> None:
        """The host overrides stabilities by id or with a callable."""
        segs = anthropic.segments_from(request(), stability={"msg-0": "stable"}).segments
        assert segs[2].stability == "stable"
        segs = anthropic.segments_from(
            request(), stability=lambda sid, role, d: "volatile" if role == "history" else None
        ).segments
        assert [s.stability for s in segs] == ["stable", "stable"] + ["volatile"] * 3

    def test_tool_runs_count_as_one_lookback_position(self) -> None:
        """Consecutive tool_use/tool_result blocks occupy one position, even across turns."""
        req = request(turns=0)
        req["messages"] = [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "a", "name": "lookup", "input": {}},
                    {"type": "tool_use", "id": "b", "name": "lookup", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "a", "content": "x"},
                    {"type": "tool_result", "tool_use_id": "b", "content": "y"},
                ],
            },
            {"role": "user", "content": "next"},
        ]
        blocks = [s.blocks for s in anthropic.segments_from(req).segments]
        # tools 2 defs, system 1 block, "go" 1, text + one tool run 2, run continues 0, 1
        assert blocks == [2, 1, 1, 2, 0, 1]


class TestApply:
    def test_markers_on_last_block_and_input_untouched(self, engine: racs.Racs) -> None:
        """cache_control lands on the last tool, the system block and the last semi turn."""
        req = request()
        before = copy.deepcopy(req)
        out = anthropic.apply(engine.plan(anthropic.segments_from(req)), req)
        assert req == before
        assert out["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert "cache_control" not in out["tools"][0]
        assert out["system"] == [
            {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
        ]
        assert out["messages"][1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        assert out["messages"][2]["content"] == "turn 2"
        assert count_markers(out) == 3

    def test_one_hour_ttl_is_written(self) -> None:
        """ttl is present only for the 1h tier."""
        out = anthropic.apply(plan_of(BreakpointDirective("system", "1h")), request())
        assert out["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}

    def test_existing_markers_and_automatic_mode_use_slots(self) -> None:
        """Two host markers + a top-level automatic one leave one slot: the deepest wins."""
        req = request(turns=5, cache_control={"type": "ephemeral"})
        req["tools"][0]["cache_control"] = {"type": "ephemeral"}
        req["messages"][0]["content"] = [
            {"type": "text", "text": "turn 0", "cache_control": {"type": "ephemeral"}}
        ]
        plan = plan_of(
            BreakpointDirective("tools", "5m"),
            BreakpointDirective("system", "5m"),
            BreakpointDirective("msg-3", "5m"),
        )
        out = anthropic.apply(plan, req)
        assert count_markers(out) == 4
        assert out["messages"][3]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        assert "cache_control" not in out["system"][-1]

    def test_full_budget_adds_nothing(self) -> None:
        """Four host markers already: the plan adds none."""
        req = request(turns=5)
        for i in range(4):
            req["messages"][i]["content"] = [
                {"type": "text", "text": "t", "cache_control": {"type": "ephemeral"}}
            ]
        out = anthropic.apply(plan_of(BreakpointDirective("system", "5m")), req)
        assert count_markers(out) == 4

    def test_one_hour_never_follows_five_minutes(self) -> None:
        """A new 1h marker after a host 5m marker is downgraded to 5m."""
        req = request()
        req["tools"][-1]["cache_control"] = {"type": "ephemeral"}
        out = anthropic.apply(plan_of(BreakpointDirective("msg-1", "1h")), req)
        assert out["messages"][1]["content"][-1]["cache_control"] == {"type": "ephemeral"}

    def test_five_minutes_before_host_one_hour_is_upgraded(self) -> None:
        """A new 5m marker ahead of a host 1h marker is upgraded so 1h never follows 5m."""
        req = request()
        req["messages"][1]["content"] = [
            {"type": "text", "text": "t", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ]
        out = anthropic.apply(plan_of(BreakpointDirective("system", "5m")), req)
        assert out["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}

    def test_sdk_param_objects_are_accepted(self) -> None:
        """TypedDict params and pydantic objects convert without being mutated."""
        from anthropic.types import Message

        msg = Message.model_validate(
            {**__import__("racs.testing").testing.anthropic_message(), "content": []}
        )
        usage = anthropic.usage_from(msg)
        assert usage.input_tokens == 2312


class TestUsage:
    def test_cache_counts_are_added_beside_input(self) -> None:
        """12 uncached + 2000 read + 100 (5m) + 200 (1h) = 2312 all-in."""
        usage = anthropic.usage_from(
            {
                "model": "claude-sonnet-4-6",
                "usage": {
                    "input_tokens": 12,
                    "cache_read_input_tokens": 2000,
                    "cache_creation_input_tokens": 300,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 100,
                        "ephemeral_1h_input_tokens": 200,
                    },
                },
            }
        )
        assert (usage.input_tokens, usage.cache_read_tokens) == (2312, 2000)
        assert (usage.cache_write_tokens_5m, usage.cache_write_tokens_1h) == (100, 200)
        assert usage.model == "claude-sonnet-4-6"

    def test_missing_split_and_nulls(self) -> None:
        """No cache_creation split: the whole write is 5m; nulls count as zero."""
        usage = anthropic.usage_from(
            {
                "usage": {
                    "input_tokens": 10,
                    "cache_read_input_tokens": None,
                    "cache_creation_input_tokens": 40,
                    "cache_creation": None,
                }
            },
            model="m",
        )
        assert (usage.input_tokens, usage.cache_write_tokens_5m, usage.cache_read_tokens) == (
            50,
            40,
            0,
        )

    def test_stream_events(self) -> None:
        """Cache counts arrive in message_start; message_delta adds output only."""
        from racs.testing import anthropic_stream

        usage = anthropic.usage_from(anthropic_stream())
        assert (usage.input_tokens, usage.cache_read_tokens) == (2312, 2000)


class TestOverTheWire:
    def test_sdk_round_trip(self, stub: StubServer, engine: racs.Racs) -> None:
        """segments -> plan -> apply -> real SDK request -> usage -> record."""
        client = sdk.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
        req = request()
        plan = engine.plan(anthropic.segments_from(req))
        response = client.messages.create(**anthropic.apply(plan, req))
        engine.record(anthropic.usage_from(response, prefix_key=plan.prefix_key))
        body = stub.bodies("/v1/messages")[0]
        assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["messages"][1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        stats = engine.stats(prefix_key=plan.prefix_key)
        assert stats.read_tokens == 2000

    def test_sdk_stream(self, stub: StubServer) -> None:
        """A streamed call: usage from the collected events and from the final message."""
        client = sdk.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
        events = list(client.messages.create(**request(), stream=True))
        assert anthropic.usage_from(events).input_tokens == 2312
        with client.messages.stream(**request()) as stream:
            final = stream.get_final_message()
        assert anthropic.usage_from(final).cache_write_tokens_1h == 200

    def test_stub_rejects_a_fifth_marker(self, stub: StubServer) -> None:
        """The stub answers 400 like the API when a body carries five markers."""
        client = sdk.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
        req = request(turns=5)
        for m in req["messages"]:
            m["content"] = [{"type": "text", "text": "t", "cache_control": {"type": "ephemeral"}}]
        with pytest.raises(sdk.BadRequestError):
            client.messages.create(**req)
        stub.requests.clear()

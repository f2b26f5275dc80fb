"""The planning loop (sync and asyncio) and adapter invariants checked with hypothesis."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import anthropic as sdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import racs
from racs.core.model import BreakpointDirective, CachePlan
from racs.integrations.loop import AsyncCachedCall, CachedCall
from racs.ledger import create_ledger
from racs.providers import anthropic, bedrock, gemini, openai
from racs.testing import StubServer, count_markers

SYSTEM = "You are a careful support agent for ACME routers. " * 200


def request() -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 8,
        "system": SYSTEM,
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
    }


class TestLoop:
    def test_plan_apply_call_record(self, stub: StubServer, tmp_path: Path) -> None:
        """One call: markers on the wire, usage recorded under the plan's prefix key, and a
        completed run in a real SQLite ledger, its cache.usage event tied to the run."""
        with create_ledger(tmp_path / "ledger.db") as ledger:
            engine = racs.create_racs(ledger=ledger)
            client = sdk.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
            call = CachedCall(engine, anthropic.messages, ledger=ledger, agent_id="support")
            call(request(), lambda req: client.messages.create(**req))
            plan = call.last_plan
            assert plan is not None and call.last_run_id is not None
            assert stub.bodies("/v1/messages")[0]["system"][-1]["cache_control"]
            assert engine.stats(prefix_key=plan.prefix_key).read_tokens == 2000
            run = ledger.get_run(call.last_run_id)
            assert run is not None
            assert (run.status, run.agent_id) == ("completed", "support")
            assert (run.input_tokens, run.output_tokens, run.total_tokens) == (2312, 5, 2317)
            assert (run.cache_read_tokens, run.prefix_key, run.plan_id) == (
                2000,
                plan.prefix_key,
                plan.plan_id,
            )
            (usage_event,) = ledger.query_events(type="cache.usage")
            assert usage_event.run_id == call.last_run_id
            assert ledger.verify().ok

    def test_failure_is_recorded_and_reraised(self, stub: StubServer, tmp_path: Path) -> None:
        """An SDK error completes the run as failed (with the error) and propagates."""
        with create_ledger(tmp_path / "ledger.db") as ledger:
            engine = racs.create_racs()
            client = sdk.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
            stub.fail_next = 500
            call = CachedCall(engine, anthropic.messages, ledger=ledger)
            with pytest.raises(sdk.InternalServerError):
                call(request(), lambda req: client.messages.create(**req))
            assert call.last_run_id is not None
            run = ledger.get_run(call.last_run_id)
            assert run is not None and run.status == "failed"
            assert run.error is not None and run.error.code == "InternalServerError"
            assert engine.stats().calls == 0

    def test_async_twin(self, stub: StubServer, tmp_path: Path) -> None:
        """The asyncio loop with the async SDK client and the asyncio ledger."""
        from racs.ledger import create_async_ledger

        async def main() -> str | None:
            ledger = await create_async_ledger(tmp_path / "ledger.db")
            try:
                client = sdk.AsyncAnthropic(base_url=stub.url, api_key="test", max_retries=0)
                call = AsyncCachedCall(racs.create_racs(), anthropic.messages, ledger=ledger)
                await call(request(), lambda req: client.messages.create(**req))
                await client.close()
                return call.last_run_id
            finally:
                await ledger.close()

        run_id = asyncio.run(main())
        with create_ledger(tmp_path / "ledger.db") as ledger:
            assert run_id is not None
            run = ledger.get_run(run_id)
            assert run is not None and run.cache_read_tokens == 2000


# --- invariants ----------------------------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
block = st.fixed_dictionaries(
    {"type": st.just("text"), "text": st.text(max_size=10)},
    optional={
        "cache_control": st.sampled_from(
            [{"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}]
        )
    },
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant"]),
            "content": st.one_of(
                st.text(min_size=1, max_size=10), st.lists(block, min_size=1, max_size=3)
            ),
        }
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def anthropic_requests(draw: st.DrawFn) -> dict[str, Any]:
    req: dict[str, Any] = {"model": "m", "messages": draw(messages)}
    if draw(st.booleans()):
        req["system"] = draw(st.one_of(st.text(min_size=1), st.lists(block, min_size=1)))
    if draw(st.booleans()):
        req["cache_control"] = {"type": "ephemeral"}
    return req


@st.composite
def bp_plans(draw: st.DrawFn, ids: list[str]) -> CachePlan:
    chosen = draw(st.lists(st.sampled_from(ids), unique=True, max_size=4))
    ttl = draw(st.sampled_from(["5m", "1h"]))
    directives = tuple(BreakpointDirective(i, ttl) for i in chosen)
    return CachePlan("rx", "anthropic", "m", "breakpoint", "k", 0, 0, directives, (), None, "")


def _ttls_in_order(out: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "cache_control" in node:
                found.append(node["cache_control"].get("ttl", "5m"))
            for key, value in node.items():
                if key != "cache_control":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: out[k] for k in ("system", "messages") if k in out})
    if "cache_control" in out:
        found.append(out["cache_control"].get("ttl", "5m"))
    return found


class TestInvariants:
    @settings(max_examples=150, deadline=None)
    @given(data=st.data(), req=anthropic_requests())
    def test_anthropic_apply(self, data: st.DataObject, req: dict[str, Any]) -> None:
        """apply never mutates, never exceeds 4 markers (or adds to an over-full request),
        and never puts a new 1h marker after a 5m one."""
        ids = [s.id for s in anthropic.segments_from(req).segments]
        plan = data.draw(bp_plans(ids))
        before = copy.deepcopy(req)
        out = anthropic.apply(plan, req)
        assert req == before
        assert count_markers(out) <= max(4, count_markers(req))
        if count_markers(req) <= 4 and _ttls_in_order(req) == sorted(
            _ttls_in_order(req), key=lambda t: t != "1h"
        ):
            ttls = _ttls_in_order(out)
            assert ttls == sorted(ttls, key=lambda t: t != "1h")

    @settings(max_examples=100, deadline=None)
    @given(data=st.data(), req=anthropic_requests())
    def test_bedrock_apply(self, data: st.DataObject, req: dict[str, Any]) -> None:
        """Bedrock: the same never-mutate and at-most-4 invariants."""
        br = {
            "modelId": "m",
            "messages": [
                {
                    "role": m["role"],
                    "content": [{"text": "x"}, {"cachePoint": {"type": "default"}}]
                    if data.draw(st.booleans())
                    else [{"text": "y"}],
                }
                for m in req["messages"]
            ],
        }
        ids = [s.id for s in bedrock.segments_from(br).segments]
        plan = data.draw(bp_plans(ids))
        before = copy.deepcopy(br)
        out = bedrock.apply(plan, br)
        assert br == before
        assert count_markers(out) <= max(4, count_markers(br))

    usage_value = st.one_of(
        st.none(),
        st.integers(-5, 10**7),
        st.floats(allow_nan=True),
        st.text(max_size=3),
        st.booleans(),
    )

    @settings(max_examples=200, deadline=None)
    @given(
        anth=st.dictionaries(
            st.sampled_from(
                [
                    "input_tokens",
                    "cache_read_input_tokens",
                    "cache_creation_input_tokens",
                    "cache_creation",
                ]
            ),
            usage_value,
        ),
        oai=st.dictionaries(
            st.sampled_from(["prompt_tokens", "prompt_tokens_details", "input_tokens"]), usage_value
        ),
        junk=st.one_of(st.none(), json_leaf, st.lists(json_leaf)),
    )
    def test_usage_never_raises(self, anth: dict[str, Any], oai: dict[str, Any], junk: Any) -> None:
        """Arbitrary, missing or null usage fields: a valid all-in usage, never an error."""
        engine = racs.create_racs()
        for adapter, resp in (
            (anthropic.messages, {"usage": anth}),
            (openai.chat, {"usage": oai}),
            (openai.responses, {"usage": oai}),
            (bedrock.converse, {"usage": anth}),
            (gemini.generate_content, {"usageMetadata": oai}),
            (anthropic.messages, junk),
            (openai.chat, junk),
        ):
            usage = adapter.usage_from(resp, model="m")
            parts = (
                usage.cache_read_tokens
                + usage.cache_write_tokens_5m
                + usage.cache_write_tokens_1h
                + usage.cache_write_tokens_30m
            )
            assert usage.input_tokens >= parts
            engine.record(usage)

    @given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
    def test_all_in_totals(self, uncached: int, read: int, write: int) -> None:
        """Exclusive providers add; inclusive ones do not."""
        a = anthropic.usage_from(
            {
                "usage": {
                    "input_tokens": uncached,
                    "cache_read_input_tokens": read,
                    "cache_creation_input_tokens": write,
                }
            },
            model="m",
        )
        assert a.input_tokens == uncached + read + write
        o = openai.chat.usage_from(
            {
                "usage": {
                    "prompt_tokens": uncached + read,
                    "prompt_tokens_details": {"cached_tokens": read},
                }
            },
            model="m",
        )
        assert o.input_tokens == uncached + read

    def test_segment_ids_are_deterministic(self) -> None:
        """Same request, same segments (ids and canonical content)."""
        a = anthropic.segments_from(request())
        b = anthropic.segments_from(json.loads(json.dumps(request())))
        assert a == b

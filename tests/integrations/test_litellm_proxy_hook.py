"""The LiteLLM proxy hook in-process: settings, markers, budgets, policies, shared state.

A real ``litellm.Router`` resolves the model groups; the proxy process itself is
exercised in ``test_litellm_proxy.py``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import litellm
import pytest
from litellm.proxy._types import UserAPIKeyAuth

import racs
from racs.core.errors import RacsError
from racs.core.model import BreakpointDirective, ResourceDirective
from racs.integrations.litellm import RacsProxyHook
from racs.integrations.litellm_requests import count_markers, plan_input, target_of
from racs.integrations.litellm_settings import parse_settings
from racs.providers.openai import OpenAIChat

REDIS_URL = os.environ.get("RACS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SYSTEM = "You are the support agent of ACME. Answer briefly and cite the policy. " * 90
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def conversation(turns: int) -> list[dict[str, Any]]:
    """A system prompt, ``turns`` question/answer pairs of about 400 tokens, a new question."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"question {i}: " + "detail " * 200})
        messages.append({"role": "assistant", "content": f"answer {i}: " + "because " * 180})
    messages.append({"role": "user", "content": "and now?"})
    return messages


@pytest.fixture(scope="module")
def router() -> litellm.Router:
    """Model groups as a proxy config declares them (never called: only resolved)."""
    static = [{"location": "message", "role": "system"}]
    return litellm.Router(
        model_list=[
            {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-sonnet-4-5"}},
            {
                "model_name": "claude-static",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "cache_control_injection_points": static,
                },
            },
            {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o"}},
            {"model_name": "gemini", "litellm_params": {"model": "gemini/gemini-2.5-flash"}},
            {
                "model_name": "vertex-claude",
                "litellm_params": {"model": "vertex_ai/claude-sonnet-4-5@20250929"},
            },
        ]
    )


def hook_for(router: litellm.Router, settings: Any = None, **options: Any) -> RacsProxyHook:
    return RacsProxyHook(racs.create_racs(**options), router=router, settings=settings or {})


def request(model: str, messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": messages, "tools": TOOLS, "metadata": {}, **extra}


def markers_of(body: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(where, index, ttl) of every cache_control in an OpenAI-format request."""
    found = []
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("cache_control"):
            found.append(("tool", i, tool["cache_control"].get("ttl", "5m")))
    for i, message in enumerate(body["messages"]):
        controls = [message.get("cache_control")]
        if isinstance(message.get("content"), list):
            controls += [block.get("cache_control") for block in message["content"]]
        found += [("message", i, c.get("ttl", "5m")) for c in controls if c]
    return found


def expected_markers(plan: racs.CachePlan) -> list[tuple[str, int, str]]:
    out = []
    for directive in plan.directives:
        assert isinstance(directive, BreakpointDirective)
        if directive.segment_id == "tools":
            out.append(("tool", len(TOOLS) - 1, directive.ttl))
        else:
            out.append(("message", int(directive.segment_id[4:]), directive.ttl))
    return out


TOOL_TURNS: list[dict[str, Any]] = [
    {"role": "developer", "content": [{"type": "text", "text": "rules " * 50}]},
    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}]},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
    {"role": "tool", "tool_call_id": "c1", "content": "result"},
    {"role": "tool", "tool_call_id": "c2", "content": "result 2"},
    {"role": "assistant", "content": "done"},
    {"role": "user", "content": "next"},
]


class TestSegments:
    @pytest.mark.parametrize(
        "messages", [conversation(0), conversation(3), TOOL_TURNS], ids=["one", "three", "tools"]
    )
    def test_same_segments_as_the_chat_adapter(self, messages: list[dict[str, Any]]) -> None:
        """The proxy's segmentation is the Chat Completions adapter's, field for field
        (it only skips the adapter's defensive copy)."""
        target = target_of("anthropic", "claude-sonnet-4-5")
        override = {"msg-1": "stable"}
        for tools in (TOOLS, []):
            body = {"model": target.model, "messages": messages, "tools": tools}
            ours = plan_input(body, target, stability=override, agent_id="a")
            theirs = OpenAIChat("anthropic").segments_from(body, stability=override, agent_id="a")
            assert ours == theirs


class TestAnthropicMarkers:
    def test_markers_are_the_plan(self, router: litellm.Router) -> None:
        """cache_control lands exactly where the plan's breakpoints are, in LiteLLM's
        forms: on the last tool, and at message level for string contents."""
        hook = hook_for(router)
        mirror = racs.create_racs()
        messages = conversation(3)
        out = hook.prepare(request("claude", messages))
        target = target_of("anthropic", "claude-sonnet-4-5")
        plan = mirror.plan(plan_input(request("claude", messages), target))
        assert sorted(markers_of(out)) == sorted(expected_markers(plan))
        assert len(markers_of(out)) == 3  # tools, system, the deepest stable turn
        assert out["metadata"]["racs"]["prefixKey"] == plan.prefix_key
        assert out["metadata"]["racs"]["dialect"] == "cache_control"
        assert messages == conversation(3)  # the caller's request is never mutated

    def test_callers_markers_count_and_stay(self, router: litellm.Router) -> None:
        """Two markers of the caller's + three planned = at most 4: the plan's shallowest
        is dropped, the caller's are kept untouched."""
        hook = hook_for(router)
        messages = conversation(3)
        messages[2] = {**messages[2], "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        messages[4] = {
            **messages[4],
            "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}],
        }
        out = hook.prepare(request("claude", messages))
        assert count_markers(out) == 4
        assert out["messages"][2]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
        assert out["messages"][4]["content"][0]["cache_control"] == {"type": "ephemeral"}
        assert out["metadata"]["racs"]["markers"] == 2
        # the tools marker (the shallowest of tools, system, msg-6) gave way
        assert not out["tools"][0].get("cache_control")

    def test_full_budget_adds_nothing(self, router: litellm.Router) -> None:
        """A caller already at 4 markers (one of them the automatic top-level one)."""
        hook = hook_for(router)
        messages = conversation(3)
        for i in (1, 2, 3):
            messages[i] = {**messages[i], "cache_control": {"type": "ephemeral"}}
        body = request("claude", messages, cache_control={"type": "ephemeral"})
        out = hook.prepare(body)
        assert count_markers(out) == 4 and out["metadata"]["racs"]["markers"] == 0

    def test_ttl_order_is_kept(self, router: litellm.Router) -> None:
        """A planned 1h marker after the caller's 5m one would be refused by Anthropic:
        it is downgraded to 5m."""
        hook = hook_for(router, settings={"reuse": {"interval_seconds": 1800}})
        messages = conversation(3)
        messages[1] = {**messages[1], "cache_control": {"type": "ephemeral"}}
        out = hook.prepare(request("claude", messages))
        ttls = [ttl for where, i, ttl in markers_of(out) if where == "message" and i > 1]
        assert ttls and set(ttls) == {"5m"}
        system = [ttl for where, i, ttl in markers_of(out) if where == "message" and i == 0]
        assert system == ["1h"]  # before the caller's marker, the plan's 1h stands

    def test_vertex_claude_plans_as_anthropic(self, router: litellm.Router) -> None:
        """Claude on Vertex AI gets cache_control, priced and profiled as Anthropic."""
        out = hook_for(router).prepare(request("vertex-claude", conversation(2)))
        info = out["metadata"]["racs"]
        assert (info["provider"], info["model"], info["dialect"]) == (
            "anthropic",
            "claude-sonnet-4-5@20250929",
            "cache_control",
        )
        assert info["markers"] == 3


class TestOtherProviders:
    def test_openai_routing_key(self, router: litellm.Router) -> None:
        """gpt-4o: the plan's routing key as prompt_cache_key, no markers; a key the
        caller set wins."""
        hook = hook_for(router)
        out = hook.prepare(request("gpt", conversation(2)))
        assert out["prompt_cache_key"] == out["metadata"]["racs"]["prefixKey"]
        assert count_markers(out) == 0
        own = hook.prepare(request("gpt", conversation(2), prompt_cache_key="user-7"))
        assert own["prompt_cache_key"] == "user-7"

    def test_gemini_marks_the_cached_run(self, router: litellm.Router) -> None:
        """create: every leading stable message marked with the plan's TTL, the run cut
        back so it ends on a user turn (cachedContents refuses a model turn last)."""
        hook = hook_for(router)
        mirror = racs.create_racs()
        messages = conversation(3)
        out = hook.prepare(request("gemini", messages))
        target = target_of("gemini", "gemini-2.5-flash")
        plan = mirror.plan(plan_input(request("gemini", messages), target))
        (directive,) = plan.directives
        assert isinstance(directive, ResourceDirective) and directive.action == "create"
        ttl = f"{int(directive.ttl_seconds)}s"
        marked = [
            i
            for i, m in enumerate(out["messages"])
            if isinstance(m["content"], list) and m["content"][-1].get("cache_control")
        ]
        # stable: system + 3 pairs (msg-0..msg-6); msg-6 is an answer, so 0..5 are cached
        assert marked == [0, 1, 2, 3, 4, 5]
        assert out["messages"][0]["content"][-1]["cache_control"] == {
            "type": "ephemeral",
            "ttl": ttl,
        }

    def test_gemini_callers_own_run_wins(self, router: litellm.Router) -> None:
        """A caller who marked messages chose what LiteLLM caches: racs adds nothing."""
        messages = conversation(2)
        messages[0] = {**messages[0], "cache_control": {"type": "ephemeral"}}
        out = hook_for(router).prepare(request("gemini", messages))
        assert out["metadata"]["racs"]["markers"] == 0 and count_markers(out) == 1


class TestPolicies:
    def test_static_injection_points_win_by_default(self, router: litellm.Router) -> None:
        """defer: a deployment with cache_control_injection_points gets no racs marker,
        but its plan is still made and carried for the usage record."""
        out = hook_for(router).prepare(request("claude-static", conversation(2)))
        assert count_markers(out) == 0
        assert out["metadata"]["racs"]["planId"]

    def test_combine_marks_first(self, router: litellm.Router) -> None:
        """combine: racs marks; LiteLLM's points later fill only the slots left."""
        hook = hook_for(router, settings={"injection_points": "combine"})
        out = hook.prepare(request("claude-static", conversation(2)))
        assert count_markers(out) == 3

    def test_points_sent_by_the_client_count_too(self, router: litellm.Router) -> None:
        points = [{"location": "message", "index": -1}]
        out = hook_for(router).prepare(
            request("claude", conversation(2), cache_control_injection_points=points)
        )
        assert count_markers(out) == 0

    def test_disabled_per_model_and_per_key(self, router: litellm.Router) -> None:
        """enabled: false on a model group, on a key alias, or in the key's metadata."""
        settings = {
            "models": {"gpt*": {"enabled": False}},
            "keys": {"batch": {"enabled": False}},
        }
        hook = hook_for(router, settings)
        off = hook.prepare(request("gpt", conversation(1)))
        assert off["metadata"]["racs"] == {"enabled": False} and "prompt_cache_key" not in off
        batch = UserAPIKeyAuth(key_alias="batch")
        assert hook.prepare(request("claude", conversation(2)), batch)["metadata"]["racs"] == {
            "enabled": False
        }
        own = UserAPIKeyAuth(key_alias="other", metadata={"racs": {"enabled": False}})
        assert hook.prepare(request("claude", conversation(2)), own)["metadata"]["racs"] == {
            "enabled": False
        }
        named = hook.prepare(request("claude", conversation(2)), UserAPIKeyAuth(key_alias="ci"))
        assert named["metadata"]["racs"]["agentId"] == "ci"  # the alias names the stream

    def test_stability_override_moves_the_markers(self, router: litellm.Router) -> None:
        """history: volatile leaves only tools and system to cache."""
        hook = hook_for(
            router, settings={"models": {"claude": {"stability": {"history": "volatile"}}}}
        )
        out = hook.prepare(request("claude", conversation(3)))
        assert sorted(markers_of(out)) == [("message", 0, "5m"), ("tool", 0, "5m")]

    def test_never_raises(self, router: litellm.Router) -> None:
        """A request racs cannot plan (here: its engine is closed) goes on unchanged."""
        hook = hook_for(router)
        hook.engine.close()
        data = request("claude", conversation(2))
        assert hook.prepare(data) is data and count_markers(data) == 0
        unknown = {"model": "no-such-group/zzz", "messages": conversation(1), "metadata": {}}
        assert hook.prepare(unknown) == unknown

    def test_other_call_types_pass(self, router: litellm.Router) -> None:
        hook = hook_for(router)
        from litellm.types.utils import CallTypes

        data = {"model": "claude", "input": ["x"], "metadata": {}}
        assert asyncio.run(hook.async_pre_call_hook(None, None, data, "aembedding")) is data
        chat = request("claude", conversation(2))
        out = asyncio.run(hook.async_pre_call_hook(None, None, chat, CallTypes.acompletion))
        assert out["metadata"]["racs"]["markers"] == 3


class TestSettings:
    def test_errors_name_the_setting(self) -> None:
        cases = {
            "racs_settings: unknown setting 'stabilty'": {"stabilty": {}},
            "racs_settings.models.claude: unknown setting 'ledger' (engine settings are global)": {
                "models": {"claude": {"ledger": "x.db"}}
            },
            "racs_settings.reuse_policy must be 'reference' or 'learned'": {"reuse_policy": "x"},
            "racs_settings.stability: 'msg-x' is neither a role": {
                "stability": {"msg-x": "stable"}
            },
            "racs_settings.keys.a.reuse.interval_seconds must be a positive number": {
                "keys": {"a": {"reuse": {"interval_seconds": -1}}}
            },
            "racs_settings.injection_points must be 'defer' or 'combine'": {
                "injection_points": "both"
            },
        }
        for message, raw in cases.items():
            with pytest.raises(RacsError) as caught:
                parse_settings(raw)
            assert caught.value.code == "ERR_INVALID_INPUT"
            assert message in caught.value.message

    def test_layers(self) -> None:
        """Global, then the longest matching model pattern, then the key; stability merges."""
        settings = parse_settings(
            {
                "stability": {"history": "stable"},
                "workspace_id": "ws",
                "models": {
                    "claude*": {"agent_id": "any-claude"},
                    "claude-opus*": {"agent_id": "opus", "stability": {"tools": "semi"}},
                },
                "keys": {"nightly": {"reuse": {"interval_seconds": 3600}}},
            }
        )
        opus = settings.for_request("claude-opus-4-5", "nightly")
        assert (opus.agent_id, opus.workspace_id) == ("opus", "ws")
        assert dict(opus.stability) == {"history": "stable", "tools": "semi"}
        assert opus.reuse == {"interval_seconds": 3600.0}
        assert settings.for_request("claude-haiku").agent_id == "any-claude"
        assert settings.for_request("gpt").agent_id is None

    def test_environment_values(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RACS_TEST_LEDGER", "/tmp/x.db")
        assert parse_settings({"ledger": "os.environ/RACS_TEST_LEDGER"}).ledger == "/tmp/x.db"
        with pytest.raises(RacsError, match="RACS_TEST_MISSING is not set"):
            parse_settings({"redis": "os.environ/RACS_TEST_MISSING"})

    def test_example_config_is_valid(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """examples/litellm-proxy/config.yaml validates and layers as documented."""
        import yaml

        monkeypatch.setenv("RACS_LEDGER", "/tmp/racs-example.db")
        monkeypatch.setenv("RACS_REDIS_URL", REDIS_URL)
        path = Path(__file__).resolve().parents[2] / "examples/litellm-proxy/config.yaml"
        config = yaml.safe_load(path.read_text())
        assert config["litellm_settings"]["callbacks"] == "racs.integrations.litellm.proxy_hook"
        settings = parse_settings(config["litellm_settings"]["racs_settings"])
        assert (settings.ledger, settings.reuse_policy) == ("/tmp/racs-example.db", "learned")
        assert settings.for_request("claude-bedrock").stability == {
            "history": "semi",
            "dynamic": "semi",
        }
        assert settings.for_request("gpt", "evals").enabled is False

    def test_bad_settings_disable_the_hook_not_the_proxy(
        self, router: litellm.Router, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Settings read from the proxy (litellm.racs_settings) that do not validate: the
        error is logged, requests go through untouched."""
        monkeypatch.setattr(litellm, "racs_settings", {"reuse_policy": "sometimes"}, raising=False)
        hook = RacsProxyHook(router=router)
        data = request("claude", conversation(2))
        assert hook.prepare(data) is data and "racs" not in data["metadata"]


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis; deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # connection refused and friends
        if os.environ.get("CI"):
            raise RuntimeError(f"Redis is required in CI: {exc}") from exc
        pytest.skip(f"Redis unreachable: {exc}")
    name = f"racs-test-{uuid.uuid4().hex[:12]}:"
    yield name
    keys = list(client.scan_iter(match=name + "*", count=1000))
    if keys:
        client.delete(*keys)


class TestSharedState:
    def test_workers_share_the_engine_state(
        self, router: litellm.Router, redis_prefix: str
    ) -> None:
        """Two proxy workers (two hooks built from the same settings) share one Redis
        state: the first plans the Gemini cache's create, the second its reuse."""
        settings = {"redis": REDIS_URL, "redis_prefix": redis_prefix}
        first = RacsProxyHook(router=router, settings=settings)
        second = RacsProxyHook(router=router, settings=settings)
        assert first.engine is not second.engine
        messages = conversation(2)

        async def both() -> list[dict[str, Any]]:
            a = await first.async_pre_call_hook(
                None, None, request("gemini", messages), "acompletion"
            )
            b = await second.async_pre_call_hook(
                None, None, request("gemini", messages), "acompletion"
            )
            return [a, b]

        a, b = asyncio.run(both())
        assert [a["metadata"]["racs"]["resource"], b["metadata"]["racs"]["resource"]] == [
            "create",
            "reuse",
        ]
        assert a["metadata"]["racs"]["prefixKey"] == b["metadata"]["racs"]["prefixKey"]
        first.engine.close()
        second.engine.close()

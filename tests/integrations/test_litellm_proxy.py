"""A real LiteLLM proxy process with racs's hook in its config, in front of the stub.

An OpenAI-SDK client talks to the proxy; the stub records what each provider would have
received. Each model group has its own agent and workspace (per-model settings), so every
test checks exactly its own runs in the ledger, through the ``racs`` command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import racs
from racs.core.model import BreakpointDirective, CachePlan, ResourceDirective, RoutingKeyDirective
from racs.integrations.litellm_requests import plan_input, target_of
from racs.integrations.litellm_testing import LiteLLMProxy
from racs.ledger import create_ledger
from racs.testing import StubServer, count_markers

pytestmark = pytest.mark.slow

SYSTEM = "You are the support agent of ACME. Answer briefly and cite the policy. " * 90
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
CLAUDE = "claude-sonnet-4-5"


def group(name: str, model: str, base: str, **extra: Any) -> dict[str, Any]:
    params = {"model": model, "api_base": base, "api_key": "test", **extra}
    return {"model_name": name, "litellm_params": params}


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("proxy-ledger") / "ledger.db"


@pytest.fixture(scope="module")
def proxy(
    stub: StubServer, ledger_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiteLLMProxy]:
    """One proxy for the module: the hook, a SQLite ledger, per-model settings."""
    static = [{"location": "message", "role": "system"}]
    per_model = {
        name: {"agent_id": name, "workspace_id": name}
        for name in ("claude", "gpt", "gemini", "claude-static", "claude-fail")
    }
    per_model["claude-off"] = {"enabled": False}
    config = {
        "model_list": [
            group("claude", f"anthropic/{CLAUDE}", stub.url),
            group(
                "claude-static",
                f"anthropic/{CLAUDE}",
                stub.url,
                cache_control_injection_points=static,
            ),
            group("claude-off", f"anthropic/{CLAUDE}", stub.url),
            group("claude-fail", f"anthropic/{CLAUDE}", stub.url),
            group("gpt", "openai/gpt-4o", f"{stub.url}/v1"),
            group("gemini", "gemini/gemini-2.5-flash", stub.url),
        ],
        "litellm_settings": {
            "callbacks": "racs.integrations.litellm.proxy_hook",
            "racs_settings": {"ledger": str(ledger_path), "models": per_model},
        },
        "router_settings": {"num_retries": 0},
    }
    with LiteLLMProxy(config, workdir=tmp_path_factory.mktemp("proxy")) as running:
        yield running


@pytest.fixture(scope="module")
def client(proxy: LiteLLMProxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url, api_key=proxy.master_key, max_retries=0)


def ask(client: openai.OpenAI, model: str, messages: list[dict[str, Any]]) -> Any:
    return client.chat.completions.create(model=model, messages=messages, tools=TOOLS)  # type: ignore[arg-type]


def converse(client: openai.OpenAI, model: str, turns: int) -> list[list[dict[str, Any]]]:
    """A conversation of ``turns`` requests, each the history plus a new question of about
    400 tokens; the proxy's answers are appended as they come. Returns each request."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    sent = []
    for turn in range(turns):
        messages.append({"role": "user", "content": f"question {turn}: " + "detail " * 200})
        sent.append([dict(m) for m in messages])
        answer = ask(client, model, messages)
        messages.append({"role": "assistant", "content": answer.choices[0].message.content})
    return sent


def runs(ledger_path: Path, workspace: str, count: int) -> list[Any]:
    """The workspace's runs once ``count`` are recorded (the proxy records off its loop)."""
    deadline = time.monotonic() + 60
    with create_ledger(ledger_path) as ledger:
        while True:
            found = ledger.query_runs(workspace_id=workspace, limit=100).items
            if len(found) >= count or time.monotonic() > deadline:
                return sorted(reversed(found), key=lambda r: r.started_at)
            time.sleep(0.1)


def ledger_stats(ledger_path: Path, workspace: str) -> dict[str, Any]:
    """``racs ledger stats --json`` for one workspace, as a user would run it."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "racs.cli",
            "ledger",
            "stats",
            "--ledger",
            str(ledger_path),
            "--workspace",
            workspace,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    stats: dict[str, Any] = json.loads(out.stdout)
    return stats


def anthropic_markers(body: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(where, index, ttl) of every cache_control in an Anthropic Messages body."""
    found = []
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("cache_control"):
            found.append(("tool", i, tool["cache_control"].get("ttl", "5m")))
    for i, block in enumerate(body.get("system") or []):
        if block.get("cache_control"):
            found.append(("system", i, block["cache_control"].get("ttl", "5m")))
    for i, message in enumerate(body["messages"]):
        for block in message["content"]:
            if block.get("cache_control"):
                found.append(("message", i, block["cache_control"].get("ttl", "5m")))
    return found


def planned_markers(plan: CachePlan) -> list[tuple[str, int, str]]:
    """Where the plan's breakpoints sit in the Anthropic body LiteLLM builds: the system
    message becomes the system block; message ``i`` becomes message ``i - 1``."""
    out = []
    for d in plan.directives:
        assert isinstance(d, BreakpointDirective)
        if d.segment_id == "tools":
            out.append(("tool", len(TOOLS) - 1, d.ttl))
        elif d.segment_id == "msg-0":
            out.append(("system", 0, d.ttl))
        else:
            out.append(("message", int(d.segment_id[4:]) - 1, d.ttl))
    return out


def mirror_plans(model: str, provider: str, agent: str, sent: list[Any]) -> list[CachePlan]:
    """The same requests planned in the test by an engine of the same settings."""
    engine = racs.create_racs()
    target = target_of(provider, model)
    return [
        engine.plan(plan_input({"messages": m, "tools": TOOLS}, target, agent_id=agent))
        for m in sent
    ]


class TestAnthropic:
    def test_conversation_gets_the_planned_markers(
        self, client: openai.OpenAI, stub: StubServer, ledger_path: Path
    ) -> None:
        """Four turns: each body the stub received carries exactly the markers racs
        planned for that request, at most 4; each run carries the plan's prefix key; the
        stub's usage is in `racs ledger stats`."""
        before = len(stub.bodies("/v1/messages"))
        sent = converse(client, "claude", 4)
        bodies = stub.bodies("/v1/messages")[before:]
        plans = mirror_plans(CLAUDE, "anthropic", "claude", sent)
        assert len(bodies) == len(plans) == 4
        for body, plan in zip(bodies, plans, strict=True):
            assert sorted(anthropic_markers(body)) == sorted(planned_markers(plan))
            assert 0 < count_markers(body) <= 4
        recorded = runs(ledger_path, "claude", 4)
        assert sorted(r.prefix_key for r in recorded) == sorted(p.prefix_key for p in plans)
        assert {r.status for r in recorded} == {"completed"}
        # the stub bills every call 12 fresh + 2000 read + 100 (5m) + 200 (1h) written
        stats = ledger_stats(ledger_path, "claude")
        assert (stats["runs"], stats["input_tokens"], stats["cache_read_tokens"]) == (
            4,
            4 * 2312,
            4 * 2000,
        )
        (by_model,) = stats["by_model"]
        assert (by_model["provider"], by_model["model"]) == ("anthropic", CLAUDE)

    def test_static_injection_points_win(
        self, client: openai.OpenAI, stub: StubServer, ledger_path: Path
    ) -> None:
        """A deployment with LiteLLM's injection points: LiteLLM's one system marker
        reaches the provider, racs adds none, and the call is still recorded."""
        before = len(stub.bodies("/v1/messages"))
        sent = converse(client, "claude-static", 2)
        bodies = stub.bodies("/v1/messages")[before:]
        assert [anthropic_markers(b) for b in bodies] == [[("system", 0, "5m")]] * 2
        recorded = runs(ledger_path, "claude-static", 2)
        plans = mirror_plans(CLAUDE, "anthropic", "claude-static", sent)
        assert sorted(r.prefix_key for r in recorded) == sorted(p.prefix_key for p in plans)

    def test_disabled_model_is_left_alone(
        self, client: openai.OpenAI, stub: StubServer, ledger_path: Path
    ) -> None:
        """enabled: false for one model group: no marker, no run."""
        with create_ledger(ledger_path) as ledger:
            runs_before = ledger.count_runs()
        before = len(stub.bodies("/v1/messages"))
        converse(client, "claude-off", 1)
        (body,) = stub.bodies("/v1/messages")[before:]
        assert count_markers(body) == 0
        time.sleep(1.5)  # what would have been recorded has been by now
        with create_ledger(ledger_path) as ledger:
            assert ledger.count_runs() == runs_before

    def test_failure_is_a_failed_run(
        self, client: openai.OpenAI, stub: StubServer, ledger_path: Path
    ) -> None:
        """The provider answers 500: the client gets an error, the ledger a failed run
        with the plan's id."""
        stub.fail_next = 500
        with pytest.raises(openai.APIStatusError):
            converse(client, "claude-fail", 1)
        (run,) = runs(ledger_path, "claude-fail", 1)
        assert run.status == "failed" and run.error is not None
        assert run.plan_id and run.plan_id.startswith("rx-")


class TestOpenAI:
    def test_routing_key(self, client: openai.OpenAI, stub: StubServer, ledger_path: Path) -> None:
        """gpt-4o: the plan's routing key as prompt_cache_key, and no cache markers."""
        before = len(stub.bodies("/chat/completions"))
        sent = converse(client, "gpt", 2)
        bodies = stub.bodies("/chat/completions")[before:]
        plans = mirror_plans("gpt-4o", "openai", "gpt", sent)
        for body, plan in zip(bodies, plans, strict=True):
            (directive,) = plan.directives
            assert isinstance(directive, RoutingKeyDirective)
            assert body["prompt_cache_key"] == directive.key
            assert count_markers(body) == 0
        stats = ledger_stats(ledger_path, "gpt")
        assert (stats["runs"], stats["input_tokens"], stats["cache_read_tokens"]) == (
            2,
            2 * 2048,
            2 * 1920,
        )


class TestGemini:
    def test_create_then_reuse(
        self, client: openai.OpenAI, stub: StubServer, ledger_path: Path
    ) -> None:
        """The same request twice: racs plans create then reuse; LiteLLM creates one
        cachedContent with the plan's TTL, finds it the second time, and both calls send
        it instead of the cached messages."""
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "question 0: " + "detail " * 400},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "and now?"},
        ]
        created_before = len(_created(stub))
        calls_before = len(stub.bodies(":generateContent"))
        ask(client, "gemini", messages)
        ask(client, "gemini", messages)
        plans = mirror_plans("gemini-2.5-flash", "gemini", "gemini", [messages, messages])
        actions = []
        for plan in plans:
            (directive,) = plan.directives
            assert isinstance(directive, ResourceDirective)
            actions.append(directive.action)
        assert actions == ["create", "reuse"]
        created = _created(stub)[created_before:]
        assert len(created) == 1
        assert created[0]["ttl"] == f"{int(plans[0].directives[0].ttl_seconds)}s"  # type: ignore[union-attr]
        calls = stub.bodies(":generateContent")[calls_before:]
        name = f"cachedContents/stub-{created_before + 1}"
        assert [c["cachedContent"] for c in calls] == [name, name]
        # system + first question went into the cache (a cache cannot end on the answer)
        assert [len(c["contents"]) for c in calls] == [2, 2]
        recorded = runs(ledger_path, "gemini", 2)
        assert sorted(r.prefix_key for r in recorded) == sorted(p.prefix_key for p in plans)
        stats = ledger_stats(ledger_path, "gemini")
        assert (stats["runs"], stats["input_tokens"], stats["cache_read_tokens"]) == (
            2,
            2 * 5000,
            2 * 4096,
        )


def _created(stub: StubServer) -> list[Any]:
    return [
        r.body for r in stub.requests if r.method == "POST" and r.path.endswith("cachedContents")
    ]

"""racs inside a LiteLLM proxy: the hook's cost per request, and what it buys.

    python bench/proxy_bench.py                 # hook overhead, in process
    python bench/proxy_bench.py --end-to-end    # plus latency through a real proxy
    python bench/proxy_bench.py --compare       # static injection points vs the hook

Overhead: ``RacsProxyHook.prepare`` (what ``async_pre_call_hook`` runs: settings, the
deployment, segments, ``engine.plan``, applying the plan) on a 50-message conversation,
timed per call; the target is under 1 ms at the median. ``--end-to-end`` times
completions through a real proxy with the hook and without it, against the local stub.

Compare: the same conversation (``--turns`` requests, ``--interval`` seconds apart on a
simulated clock) sent through one proxy to four model groups of claude-sonnet-4-5: no
caching, LiteLLM's static injection points (the system message; the system message and
the last message), and the racs hook. A stub that keeps Anthropic's cache (exact-prefix
entries at each marker, 20-block lookback, TTL refreshed on read, the 1,024-token
minimum) bills each request; racs's accounting prices the bills at the bundled database's
rates. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
# LiteLLM fetches its model cost map from GitHub unless told to use its bundled copy: a
# bench never reaches the internet.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import racs
from racs.core.accounting import Tokens, cost_of
from racs.core.prices import PriceBook
from racs.integrations.litellm import RacsProxyHook
from racs.integrations.litellm_testing import LiteLLMProxy
from racs.testing import Received, StubServer, anthropic_message

MODEL = "claude-sonnet-4-5"
SYSTEM = "You are the support agent of ACME. Answer briefly and cite the policy. " * 90
TOOLS = [
    {"type": "function", "function": {"name": f"tool_{i}", "parameters": {"type": "object"}}}
    for i in range(8)
]


def conversation(messages: int) -> list[dict[str, Any]]:
    """A system prompt then alternating questions and answers, ``messages`` in all."""
    out: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    while len(out) < messages:
        i = len(out)
        if i % 2:
            out.append({"role": "user", "content": f"question {i}: " + "detail " * 60})
        else:
            out.append({"role": "assistant", "content": f"answer {i}: " + "because " * 40})
    return out


# -- overhead ---------------------------------------------------------------------------


def overhead(messages: int, rounds: int) -> None:
    import litellm

    router = litellm.Router(
        model_list=[
            {"model_name": "claude", "litellm_params": {"model": f"anthropic/{MODEL}"}},
            {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o"}},
            {"model_name": "gemini", "litellm_params": {"model": "gemini/gemini-2.5-flash"}},
        ]
    )
    convo = conversation(messages)
    print(
        f"hook overhead per request (RacsProxyHook.prepare), {messages}-message conversation,"
        f" {rounds} requests; medians of wall / CPU time"
    )
    scenarios = {
        "same request": lambda i: convo,
        # the conversation moved on: the previous answer and a new question are new text
        "next turn": lambda i: [
            *convo[:-2],
            {"role": "assistant", "content": f"answer {i}: " + "because " * 40},
            {"role": "user", "content": f"question {i}: " + "detail " * 60},
        ],
        # a new session: even the system prompt was never seen (worst case for the lints)
        "new session": lambda i: [
            {"role": "system", "content": f"{SYSTEM} session {i}"},
            *convo[1:],
        ],
    }
    for group in ("claude", "gpt", "gemini"):
        for name, make in scenarios.items():
            hook = RacsProxyHook(racs.create_racs(), router=router, settings={})
            wall: list[float] = []
            cpu: list[float] = []
            for i in range(rounds):
                data = {"model": group, "messages": make(i), "tools": TOOLS, "metadata": {}}
                t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
                hook.prepare(data)
                cpu.append((time.thread_time_ns() - c0) / 1e6)
                wall.append((time.perf_counter_ns() - t0) / 1e6)
            print(
                f"  {group:7} {name:13} median {statistics.median(wall):.3f} /"
                f" {statistics.median(cpu):.3f} ms   p95 wall"
                f" {statistics.quantiles(wall, n=20)[18]:.3f} ms"
            )


def end_to_end(messages: int, requests: int) -> None:
    import openai

    with StubServer() as stub:
        base = {"model": f"anthropic/{MODEL}", "api_base": stub.url, "api_key": "test"}
        config = {
            "model_list": [
                {"model_name": "hook", "litellm_params": base},
                {"model_name": "plain", "litellm_params": base},
            ],
            "litellm_settings": {
                "callbacks": "racs.integrations.litellm.proxy_hook",
                "racs_settings": {"models": {"plain": {"enabled": False}}},
            },
        }
        with LiteLLMProxy(config) as proxy:
            client = openai.OpenAI(base_url=proxy.url, api_key=proxy.master_key)
            convo = conversation(messages)
            times: dict[str, list[float]] = {"hook": [], "plain": []}
            for i in range(requests):
                for group in ("hook", "plain") if i % 2 else ("plain", "hook"):
                    t0 = time.perf_counter()
                    client.chat.completions.create(model=group, messages=convo, tools=TOOLS)  # type: ignore[arg-type]
                    times[group].append((time.perf_counter() - t0) * 1000)
    print(f"through the proxy, {messages} messages, {requests} requests per group:")
    for group, samples in times.items():
        print(f"  {group:5} median {statistics.median(samples):.2f} ms")
    gap = statistics.median(times["hook"]) - statistics.median(times["plain"])
    print(f"  difference of medians {gap:+.2f} ms")


# -- compare ----------------------------------------------------------------------------


class AnthropicCacheStub(StubServer):
    """The stub, billing each Messages request as Anthropic's cache would.

    Each model group has its own cache, told apart by its api_base path
    (``/g/<group>/v1/messages``); time is simulated, ``interval`` seconds per request.
    """

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        self.caches: dict[str, dict[str, tuple[int, float, float]]] = {}
        self.clocks: dict[str, float] = {}
        self.bills: dict[str, list[Tokens]] = {}

    def _answer(self, received: Received) -> tuple[int, Any, str]:
        path = received.path
        if not path.endswith("/v1/messages") or not path.startswith("/g/"):
            return super()._answer(received)
        group = path.split("/")[2]
        now = self.clocks.get(group, 0.0)
        self.clocks[group] = now + self.interval
        usage = self._bill(self.caches.setdefault(group, {}), received.body, now)
        tokens = Tokens(
            fresh=usage["input_tokens"],
            read=usage["cache_read_input_tokens"],
            write_5m=usage["cache_creation"]["ephemeral_5m_input_tokens"],
            write_1h=usage["cache_creation"]["ephemeral_1h_input_tokens"],
            output=usage["output_tokens"],
        )
        self.bills.setdefault(group, []).append(tokens)
        return 200, anthropic_message(received.body.get("model", MODEL), usage), "json"

    @staticmethod
    def _bill(cache: dict[str, tuple[int, float, float]], body: Any, now: float) -> Any:
        blocks: list[tuple[Any, Any]] = []  # (content, cache_control) in Anthropic's order
        for tool in body.get("tools") or []:
            blocks.append(
                ({k: v for k, v in tool.items() if k != "cache_control"}, tool.get("cache_control"))
            )
        for block in body.get("system") or []:
            blocks.append((block.get("text"), block.get("cache_control")))
        for message in body["messages"]:
            for block in message["content"]:
                content = {k: v for k, v in block.items() if k != "cache_control"}
                blocks.append(((message["role"], content), block.get("cache_control")))
        digest = hashlib.blake2b(digest_size=16)
        prefix: list[int] = []
        keys: list[str] = []
        total = 0
        for content, _ in blocks:
            text = json.dumps(content, sort_keys=True)
            total += math.ceil(len(text) / 4)
            digest.update(text.encode())
            prefix.append(total)
            keys.append(digest.hexdigest())
        marks = [(i, c.get("ttl", "5m")) for i, (_, c) in enumerate(blocks) if c]
        read_at = -1
        for mark, _ in marks:  # each breakpoint looks back 20 blocks for a live entry
            for j in range(mark, max(-1, mark - 20), -1):
                entry = cache.get(keys[j])
                if entry and entry[1] >= now:
                    read_at = max(read_at, j)
                    break
        read = prefix[read_at] if read_at >= 0 else 0
        if read_at >= 0:
            tokens, _, ttl = cache[keys[read_at]]
            cache[keys[read_at]] = (tokens, now + ttl, ttl)
        written = {"5m": 0, "1h": 0}
        covered = read
        for mark, ttl in marks:
            if prefix[mark] <= covered or prefix[mark] < 1024:
                continue
            seconds = 3600.0 if ttl == "1h" else 300.0
            cache[keys[mark]] = (prefix[mark], now + seconds, seconds)
            written[ttl] += prefix[mark] - covered
            covered = prefix[mark]
        fresh = total - read - written["5m"] - written["1h"]
        return {
            "input_tokens": fresh,
            "output_tokens": 5,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written["5m"] + written["1h"],
            "cache_creation": {
                "ephemeral_5m_input_tokens": written["5m"],
                "ephemeral_1h_input_tokens": written["1h"],
            },
        }


STRATEGIES: Mapping[str, Any] = {
    "none": None,
    "static-system": [{"location": "message", "role": "system"}],
    "static-system-last": [
        {"location": "message", "role": "system"},
        {"location": "message", "index": -1},
    ],
    "racs": None,
    "racs-chat": None,
}
"""Model groups compared. ``racs-chat`` is the hook told that the final message of a chat
request is reused by the next one (``stability: {dynamic: semi}`` for that model)."""


def compare(turns: int, interval: float) -> dict[str, Any]:
    import openai

    with AnthropicCacheStub(interval) as stub:
        groups = []
        for name, points in STRATEGIES.items():
            params: dict[str, Any] = {
                "model": f"anthropic/{MODEL}",
                "api_base": f"{stub.url}/g/{name}",
                "api_key": "test",
            }
            if points:
                params["cache_control_injection_points"] = points
            groups.append({"model_name": name, "litellm_params": params})
        off = {"enabled": False}
        config = {
            "model_list": groups,
            "litellm_settings": {
                "callbacks": "racs.integrations.litellm.proxy_hook",
                "racs_settings": {
                    "models": {
                        "none": off,
                        "static-system": off,
                        "static-system-last": off,
                        "racs-chat": {"stability": {"dynamic": "semi"}},
                    },
                    "reuse": {"interval_seconds": interval},
                },
            },
        }
        with LiteLLMProxy(config) as proxy:
            client = openai.OpenAI(base_url=proxy.url, api_key=proxy.master_key)
            for name in STRATEGIES:
                messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
                for turn in range(turns):
                    text = f"question {turn}: " + "detail " * 150
                    messages.append({"role": "user", "content": text})
                    client.chat.completions.create(model=name, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
                    messages.append(
                        {"role": "assistant", "content": f"answer {turn}: " + "because " * 120}
                    )
        rates = PriceBook().rates("anthropic", MODEL)
        assert rates is not None, "no price for claude-sonnet-4-5 (install the prices extra)"
        results: dict[str, Any] = {}
        for name in STRATEGIES:
            bills = stub.bills[name]
            total = Tokens(
                fresh=sum(b.fresh for b in bills),
                read=sum(b.read for b in bills),
                write_5m=sum(b.write_5m for b in bills),
                write_1h=sum(b.write_1h for b in bills),
                output=sum(b.output for b in bills),
            )
            cost = cost_of(total, rates)
            results[name] = {"tokens": total, "usd": cost.input, "cost": cost}
    base = results["none"]["usd"]
    print(
        f"{turns} turns {interval:g} s apart through the proxy, {MODEL}, input cost "
        f"(bundled prices: ${rates.input}/MTok input, ${rates.read}/MTok read)"
    )
    heads = ("input", "read", "written", "fresh")
    print(f"  {'strategy':20} " + " ".join(f"{h:>8}" for h in heads) + "       USD  vs none")
    for name, r in results.items():
        t = r["tokens"]
        print(
            f"  {name:20} {t.input:8.0f} {t.read:8.0f} {t.writes:8.0f} {t.fresh:8.0f}"
            f" {r['usd']:9.4f} {(r['usd'] - base) / base:+8.1%}"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--interval", type=float, default=30.0)
    args = parser.parse_args()
    if args.compare:
        compare(args.turns, args.interval)
        return
    overhead(args.messages, args.rounds)
    if args.end_to_end:
        end_to_end(args.messages, args.requests)


if __name__ == "__main__":
    main()

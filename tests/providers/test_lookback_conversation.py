"""Issue 8: a 50-turn tool-using agent conversation through the real Anthropic SDK.

Every turn after the first must find the previous turn's cache entry under Anthropic's
rule that a breakpoint looks back at most 20 positions (a run of consecutive tool_use or
tool_result blocks counting as one). Positions are counted here, independently of the
adapter, on the request bodies the stub server actually received.
"""

from __future__ import annotations

import itertools
from typing import Any

import anthropic as sdk

import racs
from racs.providers import anthropic
from racs.testing import StubServer

TOOLS = [
    {"name": f"tool_{i}", "description": f"tool number {i}", "input_schema": {"type": "object"}}
    for i in range(6)
]
SYSTEM = "You are a meticulous support agent. Use the tools before answering. " * 120
LOOKBACK = 20


def turn_messages(turn: int) -> list[dict[str, Any]]:
    """A user question, tool rounds (assistant tool calls, user tool results), an answer.

    Every fifth turn is a long investigation of 14 rounds (30 positions in one turn).
    """
    rounds = 14 if turn % 5 == 4 else 2
    out: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": f"question {turn}"}]}
    ]
    for r in range(rounds):
        calls = [
            {"type": "tool_use", "id": f"tu_{turn}_{r}_{k}", "name": "tool_1", "input": {"k": k}}
            for k in range(2)
        ]
        out.append(
            {"role": "assistant", "content": [{"type": "text", "text": f"checking {r}"}, *calls]}
        )
        out.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": c["id"], "content": f"result {turn} {r}"}
                    for c in calls
                ],
            }
        )
    out.append({"role": "assistant", "content": [{"type": "text", "text": f"answer {turn}"}]})
    return out


def marker_positions(body: dict[str, Any]) -> list[int]:
    """Lookback positions of every block carrying cache_control, counted from the body."""
    positions: list[int] = []
    position = 0
    in_tool_run = False
    for tool in body.get("tools", []):
        position += 1
        in_tool_run = False
        if "cache_control" in tool:
            positions.append(position)
    blocks: list[dict[str, Any]] = list(body.get("system", []))
    for message in body["messages"]:
        content = message["content"]
        blocks.extend([{"type": "text", "text": content}] if isinstance(content, str) else content)
    for block in blocks:
        is_tool = block.get("type") in ("tool_use", "tool_result")
        if not (is_tool and in_tool_run):
            position += 1
        in_tool_run = is_tool
        if "cache_control" in block:
            positions.append(position)
    return positions


class TestFiftyTurns:
    def test_every_turn_finds_the_previous_entry(self, stub: StubServer) -> None:
        """Consecutive turns: the previous deepest entry is at most 20 positions before a
        marker of the next request, and no request carries more than 4 markers."""
        engine = racs.create_racs()
        client = sdk.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
        history: list[dict[str, Any]] = []
        for turn in range(50):
            new = turn_messages(turn)
            request = {
                "model": "claude-sonnet-4-6",
                "max_tokens": 64,
                "system": SYSTEM,
                "tools": TOOLS,
                "messages": [*history, new[0]],
            }
            plan = engine.plan(anthropic.segments_from(request, agent_id="investigator"))
            client.messages.create(**anthropic.apply(plan, request))
            history.extend(new)
        bodies = stub.bodies("/v1/messages")
        assert len(bodies) == 50
        gaps = []
        for previous, current in itertools.pairwise(bodies):
            deepest = max(marker_positions(previous))
            marks = marker_positions(current)
            assert len(marks) <= 4
            reaching = [m - deepest for m in marks if m >= deepest]
            assert reaching, (deepest, marks)
            gaps.append(min(reaching))
        assert max(gaps) <= LOOKBACK, gaps
        # the long turns really were longer than the lookback: the rule did the work
        assert max(max(marker_positions(b)) for b in bodies[1:]) > 200

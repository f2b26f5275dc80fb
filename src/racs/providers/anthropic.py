"""Anthropic Messages adapter: segments from a request, ``cache_control`` placement, usage.

Usage rule: Anthropic reports ``input_tokens`` EXCLUDING cache, so the all-in input is
``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``; the reading
itself is ``racs.providers.usage.anthropic``, shared with the importers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from racs.core.accounting import Tokens
from racs.core.model import CachePlan, CacheUsage, ExpectedReuse, PlanInput
from racs.providers import usage as wire
from racs.providers.common import (
    MAX_MARKERS,
    TOOL_BLOCK_TYPES,
    AdapterBase,
    Lookback,
    Marker,
    SegmentBuilder,
    StabilityOverride,
    breakpoints,
    budget_and_order,
    is_stream,
    message_defaults,
    message_role,
    plain,
    read_usage,
    ttl_of,
)

_AUTOMATIC: Final = (9,)
"""Position of a top-level automatic ``cache_control``: it marks the last block."""


def _blocks(content: Any, kind: str = "text") -> list[Any]:
    """Content as a block list (a string becomes one text block so it can carry a marker)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": kind, "text": content}]
    return list(content)


def _is_tool(block: Any) -> bool:
    return isinstance(block, Mapping) and block.get("type") in TOOL_BLOCK_TYPES


class AnthropicMessages(AdapterBase):
    """Adapter for the Anthropic Messages API (``client.messages.create(**request)``)."""

    def __init__(self, provider: str = "anthropic", max_markers: int = MAX_MARKERS) -> None:
        super().__init__(provider, max_markers)

    def segments_from(
        self,
        request: Any,
        *,
        stability: StabilityOverride = None,
        agent_id: str | None = None,
        reuse: ExpectedReuse | Mapping[str, float] | None = None,
    ) -> PlanInput:
        """Segments ``tools``, ``system``, ``msg-0``..``msg-n`` with default stabilities."""
        req = plain(request)
        builder = SegmentBuilder(stability)
        look = Lookback()
        tools = req.get("tools") or []
        if tools:
            builder.add("tools", "tools", "stable", tools, look.positions(tools, lambda _: False))
        system = _blocks(req.get("system"))
        if system:
            builder.add("system", "system", "stable", system, look.positions(system, _is_tool))
        messages = req.get("messages") or []
        defaults = message_defaults(len(messages))
        for i, message in enumerate(messages):
            blocks = _blocks(message.get("content"))
            builder.add(
                f"msg-{i}",
                message_role(i, len(messages)),
                defaults[i],
                {"role": message.get("role"), "content": blocks},
                look.positions(blocks, _is_tool),
            )
        return builder.plan_input(self._provider, req.get("model") or "", agent_id, reuse)

    def apply(self, plan: CachePlan, request: Any) -> dict[str, Any]:
        """A copy of ``request`` with ``cache_control`` on the last block of each marked
        segment, within the 4-marker limit counting the request's own markers."""
        req: dict[str, Any] = plain(request)
        wanted_directives = breakpoints(plan)
        if not wanted_directives:
            return req
        existing, targets = _markers_of(req)
        wanted: list[Marker] = []
        for directive in wanted_directives:
            target = targets.get(directive.segment_id)
            if target is None:
                continue
            position, block_getter = target
            if position in {m.position for m in existing}:
                continue  # the host already marked this block: it counts, nothing to add
            wanted.append(Marker(position, directive.ttl, True, block_getter))
        for marker in budget_and_order(existing, wanted, self.max_markers):
            block = marker.place(req)
            control: dict[str, Any] = {"type": "ephemeral"}
            if marker.ttl == "1h":
                control["ttl"] = "1h"
            block["cache_control"] = control
        return req

    def usage_from(
        self, response: Any, *, model: str | None = None, prefix_key: str | None = None
    ) -> CacheUsage:
        """All-in usage of a Message, its dict, or a collected stream of events (a report
        breaking ``racs.providers.usage``'s rule: zero tokens and a logged warning)."""
        return read_usage(self._provider, model, prefix_key, lambda: self.tokens_from(response))

    def tokens_from(self, response: Any, *, model: str | None = None) -> tuple[Tokens, str | None]:
        """Token classes and model of a response; raises ``UsageRefused``."""
        usage, model = _usage_and_model(response)
        return wire.anthropic(usage), model if isinstance(model, str) else None


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _usage_and_model(response: Any) -> tuple[Any, str | None]:
    """The usage mapping and model of a response or of a collected event stream."""
    if not is_stream(response):
        data = plain(response)
        if not isinstance(data, Mapping):
            return None, None
        if data.get("type") == "message_start":
            data = _object(data.get("message"))
        return data.get("usage"), data.get("model")
    merged: dict[str, Any] = {}
    model = None
    for event in response:
        ev = plain(event)
        if not isinstance(ev, Mapping):
            continue
        kind = ev.get("type")
        if kind == "message_start":
            message = _object(ev.get("message"))
            model = message.get("model") or model
            merged.update({k: v for k, v in _object(message.get("usage")).items() if v is not None})
        elif kind == "message_delta" or (kind is None and "usage" in ev):
            # newer streams repeat cumulative input/cache counts here; non-null values win
            merged.update({k: v for k, v in _object(ev.get("usage")).items() if v is not None})
            if kind is None:
                model = ev.get("model") or model
    return merged, model


def _markers_of(req: dict[str, Any]) -> tuple[list[Marker], dict[str, Any]]:
    """Existing markers, and per segment id the position and a getter of its last block.

    A string ``system`` or ``content`` counts as one block.
    """
    existing: list[Marker] = []
    targets: dict[str, Any] = {}
    tools = req.get("tools") or []
    for i, tool in enumerate(tools):
        if isinstance(tool, Mapping) and tool.get("cache_control"):
            existing.append(Marker((0, i), ttl_of(tool["cache_control"]), False))
    if tools:
        last = len(tools) - 1
        targets["tools"] = ((0, last), lambda r, i=last: r["tools"][i])
    system = req.get("system")
    if system:
        blocks = _blocks(system)
        for i, block in enumerate(blocks):
            if isinstance(block, Mapping) and block.get("cache_control"):
                existing.append(Marker((1, i), ttl_of(block["cache_control"]), False))
        targets["system"] = ((1, len(blocks) - 1), lambda r: _last_block(r, "system"))
    for m, message in enumerate(req.get("messages") or []):
        blocks = _blocks(message.get("content"))
        for b, block in enumerate(blocks):
            for depth, node in enumerate(_nested(block)):
                if node.get("cache_control"):
                    existing.append(Marker((2, m, b, depth), ttl_of(node["cache_control"]), False))
        if blocks:
            targets[f"msg-{m}"] = (
                (2, m, len(blocks) - 1, 0),
                lambda r, m=m: _last_block(r["messages"][m], "content"),
            )
    if req.get("cache_control"):
        existing.append(Marker(_AUTOMATIC, ttl_of(req["cache_control"]), False))
    return existing, targets


def _last_block(holder: dict[str, Any], key: str) -> Any:
    """The last block under ``holder[key]``, turning a string into a block list first
    (only here, when a marker must land on it, so unmarked strings stay strings)."""
    if isinstance(holder[key], str):
        holder[key] = _blocks(holder[key])
    return holder[key][-1]


def _nested(block: Any) -> list[Mapping[str, Any]]:
    """A block and the blocks nested in its ``content`` (tool_result can carry markers)."""
    if not isinstance(block, Mapping):
        return []
    out: list[Mapping[str, Any]] = [block]
    inner = block.get("content")
    if isinstance(inner, list):
        out.extend(b for b in inner if isinstance(b, Mapping))
    return out


messages: Final = AnthropicMessages()
"""The default Anthropic Messages adapter."""
segments_from = messages.segments_from
apply = messages.apply
usage_from = messages.usage_from

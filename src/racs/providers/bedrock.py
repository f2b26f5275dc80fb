"""Amazon Bedrock Converse adapter: segments, ``cachePoint`` blocks, usage.

Usage rule: Bedrock reports ``inputTokens`` EXCLUDING cache, so the all-in input is
``inputTokens + cacheReadInputTokens + cacheWriteInputTokens``; ``cacheDetails`` splits
the write by TTL (the reading is ``racs.providers.usage.bedrock``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from racs.core.accounting import Tokens
from racs.core.model import CachePlan, CacheUsage, ExpectedReuse, PlanInput
from racs.providers import usage as wire
from racs.providers.common import (
    MAX_MARKERS,
    AdapterBase,
    Lookback,
    Marker,
    SegmentBuilder,
    StabilityOverride,
    breakpoints,
    budget_and_order,
    field,
    is_stream,
    message_defaults,
    message_role,
    plain,
    read_usage,
    ttl_of,
)


def _is_tool(block: Any) -> bool:
    return isinstance(block, Mapping) and ("toolUse" in block or "toolResult" in block)


def _is_point(block: Any) -> bool:
    return isinstance(block, Mapping) and "cachePoint" in block


class BedrockConverse(AdapterBase):
    """Adapter for Bedrock ``client.converse(**request)`` / ``converse_stream``."""

    def __init__(self, provider: str = "bedrock", max_markers: int = MAX_MARKERS) -> None:
        super().__init__(provider, max_markers)

    def segments_from(
        self,
        request: Any,
        *,
        stability: StabilityOverride = None,
        agent_id: str | None = None,
        reuse: ExpectedReuse | Mapping[str, float] | None = None,
    ) -> PlanInput:
        """Segments ``tools``, ``system``, ``msg-0``..``msg-n`` (cachePoints left out)."""
        req = plain(request)
        builder = SegmentBuilder(stability)
        look = Lookback()
        tool_config = req.get("toolConfig") or {}
        tools = [t for t in tool_config.get("tools") or [] if not _is_point(t)]
        if tools:
            rest = {k: v for k, v in tool_config.items() if k != "tools"}
            builder.add(
                "tools", "tools", "stable", {"tools": tools, **rest}, look.positions(tools, _no)
            )
        system = [b for b in req.get("system") or [] if not _is_point(b)]
        if system:
            builder.add("system", "system", "stable", system, look.positions(system, _is_tool))
        messages = req.get("messages") or []
        defaults = message_defaults(len(messages))
        for i, message in enumerate(messages):
            blocks = [b for b in message.get("content") or [] if not _is_point(b)]
            builder.add(
                f"msg-{i}",
                message_role(i, len(messages)),
                defaults[i],
                {"role": message.get("role"), "content": blocks},
                look.positions(blocks, _is_tool),
            )
        return builder.plan_input(self._provider, req.get("modelId") or "", agent_id, reuse)

    def apply(self, plan: CachePlan, request: Any) -> dict[str, Any]:
        """A copy of ``request`` with a ``cachePoint`` after each marked segment, at most
        four in total counting the request's own."""
        req: dict[str, Any] = plain(request)
        wanted_directives = breakpoints(plan)
        if not wanted_directives:
            return req
        lists: dict[str, list[Any]] = {}
        tool_config = req.get("toolConfig")
        if isinstance(tool_config, dict) and tool_config.get("tools"):
            lists["tools"] = tool_config["tools"]
        if req.get("system"):
            lists["system"] = req["system"]
        for i, message in enumerate(req.get("messages") or []):
            if message.get("content"):
                lists[f"msg-{i}"] = message["content"]
        order = {sid: n for n, sid in enumerate(lists)}
        existing = [
            Marker((order[sid], j), ttl_of(block["cachePoint"]), False)
            for sid, blocks in lists.items()
            for j, block in enumerate(blocks)
            if _is_point(block)
        ]
        wanted: list[Marker] = []
        for directive in wanted_directives:
            blocks = lists.get(directive.segment_id)
            if blocks is None or _is_point(blocks[-1]):
                continue  # unknown segment, or the host already placed a point there
            position = (order[directive.segment_id], len(blocks))
            wanted.append(Marker(position, directive.ttl, True, blocks))
        for marker in budget_and_order(existing, wanted, self.max_markers):
            point: dict[str, Any] = {"type": "default"}
            if marker.ttl == "1h":
                point["ttl"] = "1h"
            marker.place.append({"cachePoint": point})
        return req

    def usage_from(
        self, response: Any, *, model: str | None = None, prefix_key: str | None = None
    ) -> CacheUsage:
        """All-in usage of a Converse response or a ConverseStream (``metadata`` event); a
        report breaking ``racs.providers.usage``'s rule: zero tokens and a warning."""
        return read_usage(self._provider, model, prefix_key, lambda: self.tokens_from(response))

    def tokens_from(self, response: Any, *, model: str | None = None) -> tuple[Tokens, str | None]:
        """Token classes and model id of a response; raises ``UsageRefused``."""
        named = field(response, "modelId") if isinstance(response, Mapping) else None
        return wire.bedrock(_usage_of(response)), named if isinstance(named, str) else None


def _no(_: Any) -> bool:
    return False


def _usage_of(response: Any) -> Any:
    if isinstance(response, Mapping):
        if "usage" in response:
            return response.get("usage")
        if "metadata" in response:
            return field(response.get("metadata"), "usage")
        stream = response.get("stream")
        if stream is None:
            return None
        response = stream
    if is_stream(response):
        usage = None
        for event in response:
            found = _usage_of(event) if isinstance(event, Mapping) else None
            if found is not None:
                usage = found
        return usage
    return None


converse: Final = BedrockConverse()
"""The default Bedrock Converse adapter."""
segments_from = converse.segments_from
apply = converse.apply
usage_from = converse.usage_from

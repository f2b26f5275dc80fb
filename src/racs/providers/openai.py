"""OpenAI adapters (Chat Completions and Responses): segments, cache fields, usage.

Directives: a routing-key directive becomes ``prompt_cache_key`` (plus
``prompt_cache_retention`` when asked and no ``prompt_cache_options`` is sent: OpenAI
rejects both together); breakpoint directives (GPT-5.6 and newer) become
``prompt_cache_breakpoint: {"mode": "explicit"}`` on the last content block of the
marked segment plus ``prompt_cache_options: {"mode": "explicit", "ttl": "30m"}``.

Usage rule: ``prompt_tokens`` / ``input_tokens`` INCLUDE the cached tokens (the same holds
for xAI, DeepSeek, Moonshot and OpenRouter), so nothing is added; the reading itself is
``racs.providers.usage.openai``, shared with the importers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from racs.core.accounting import Tokens
from racs.core.catalog import reported_write_tier
from racs.core.model import CachePlan, CacheUsage, ExpectedReuse, PlanInput, RoutingKeyDirective
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
    is_stream,
    message_defaults,
    plain,
    read_usage,
)

_BREAKPOINT: Final = "prompt_cache_breakpoint"
_TOOL_ITEMS: Final = frozenset({"function_call", "function_call_output"})


def _is_tool_message(message: Any) -> bool:
    if not isinstance(message, Mapping):
        return False
    return (
        message.get("role") == "tool"
        or bool(message.get("tool_calls"))
        or message.get("type") in _TOOL_ITEMS
    )


def _role_of(message: Any, index: int, total: int) -> str:
    if index == total - 1:
        return "dynamic"
    if isinstance(message, Mapping) and message.get("role") in ("system", "developer"):
        return "system"
    return "history"


class _OpenAIBase(AdapterBase):
    """Shared logic; subclasses say where messages, text parts and usage live."""

    _messages_field: str = "messages"
    _api: str = "chat"

    def __init__(self, provider: str = "openai", max_markers: int = MAX_MARKERS) -> None:
        super().__init__(provider, max_markers)

    def _items(self, req: Mapping[str, Any]) -> list[Any]:
        raw = req.get(self._messages_field)
        if isinstance(raw, str):
            return [{"role": "user", "content": raw}]
        return list(raw or [])

    def _lead(self, req: Mapping[str, Any], builder: SegmentBuilder, look: Lookback) -> None:
        tools = req.get("tools") or []
        if tools:
            builder.add("tools", "tools", "stable", tools, look.positions(tools, lambda _: False))

    def segments_from(
        self,
        request: Any,
        *,
        stability: StabilityOverride = None,
        agent_id: str | None = None,
        reuse: ExpectedReuse | Mapping[str, float] | None = None,
    ) -> PlanInput:
        """Segments ``tools`` (and ``system`` for Responses ``instructions``), then
        ``msg-0``..``msg-n``: tools and system stable, earlier turns semi, the last volatile."""
        req = plain(request)
        builder = SegmentBuilder(stability)
        look = Lookback()
        self._lead(req, builder, look)
        items = self._items(req)
        defaults = message_defaults(len(items))
        for i, item in enumerate(items):
            default = defaults[i]
            role = _role_of(item, i, len(items))
            if role == "system" and default == "semi":
                default = "stable"
            builder.add(f"msg-{i}", role, default, item, look.positions([item], _is_tool_message))
        return builder.plan_input(self._provider, req.get("model") or "", agent_id, reuse)

    def _text_part(self, item: Mapping[str, Any]) -> str:
        return "text"

    def _content_blocks(self, req: dict[str, Any], index: int) -> list[Any] | None:
        """The content list of item ``index`` (strings become one text part)."""
        items = req.get(self._messages_field)
        if isinstance(items, str):
            req[self._messages_field] = items = [{"role": "user", "content": items}]
        if not isinstance(items, list) or index >= len(items):
            return None
        item = items[index]
        if not isinstance(item, dict):
            return None
        content = item.get("content")
        if isinstance(content, str):
            item["content"] = content = [{"type": self._text_part(item), "text": content}]
        if isinstance(content, list) and content and isinstance(content[-1], dict):
            return content
        return None  # tool calls and outputs carry no content block to mark

    def apply(self, plan: CachePlan, request: Any) -> dict[str, Any]:
        """A copy of ``request`` with the plan's routing key and explicit breakpoints."""
        req: dict[str, Any] = plain(request)
        wanted_directives = breakpoints(plan)
        if wanted_directives:
            self._apply_breakpoints(req, wanted_directives)
        for directive in plan.directives:
            if isinstance(directive, RoutingKeyDirective):
                # a key the host set itself wins: it may route per user on purpose
                req.setdefault("prompt_cache_key", directive.key)
                if directive.retention and "prompt_cache_options" not in req:
                    req.setdefault("prompt_cache_retention", directive.retention)
        if "prompt_cache_options" in req:
            req.pop("prompt_cache_retention", None)  # both together are a 400
        return req

    def _apply_breakpoints(self, req: dict[str, Any], directives: list[Any]) -> None:
        items = req.get(self._messages_field)
        existing: list[Marker] = []
        if isinstance(items, list):
            for i, item in enumerate(items):
                content = item.get("content") if isinstance(item, Mapping) else None
                for j, block in enumerate(content if isinstance(content, list) else []):
                    if isinstance(block, Mapping) and block.get(_BREAKPOINT):
                        existing.append(Marker((i, j), "30m", False))
        wanted: list[Marker] = []
        taken = {m.position for m in existing}
        for directive in directives:
            sid = directive.segment_id
            if not sid.startswith("msg-"):
                continue  # tools carry no content block; the next marker covers them
            index = int(sid[4:])
            blocks = self._content_blocks(req, index)
            if blocks is None or (index, len(blocks) - 1) in taken:
                continue
            wanted.append(Marker((index, len(blocks) - 1), directive.ttl, True, blocks[-1]))
        placed = budget_and_order(existing, wanted, self.max_markers)
        for marker in placed:
            marker.place[_BREAKPOINT] = {"mode": "explicit"}
        if placed or existing:
            options = dict(req.get("prompt_cache_options") or {})
            options.setdefault("mode", "explicit")
            options.setdefault("ttl", "30m")
            req["prompt_cache_options"] = options

    def _usage_and_model(self, response: Any) -> tuple[Any, str | None]:
        streamed = is_stream(response)
        data = None if streamed else plain(response)
        if isinstance(data, Mapping):
            if isinstance(data.get("response"), Mapping):  # response.completed event
                data = data["response"]
            return data.get("usage"), data.get("model")
        usage = model = None
        if streamed:
            for event in response:
                ev = plain(event)
                if not isinstance(ev, Mapping):
                    continue
                if isinstance(ev.get("response"), Mapping):
                    ev = ev["response"]
                model = ev.get("model") or model
                if ev.get("usage"):
                    usage = ev["usage"]  # the last chunk with usage holds the totals
        return usage, model

    def usage_from(
        self, response: Any, *, model: str | None = None, prefix_key: str | None = None
    ) -> CacheUsage:
        """All-in usage of a response, its dict, or a collected stream of chunks/events (a
        report breaking ``racs.providers.usage``'s rule: zero tokens and a warning)."""
        return read_usage(
            self._provider, model, prefix_key, lambda: self.tokens_from(response, model=model)
        )

    def tokens_from(self, response: Any, *, model: str | None = None) -> tuple[Tokens, str | None]:
        """Token classes and model of a response; raises ``UsageRefused``. Writes land in
        the tier ``model`` (else the response's model) reports them in."""
        usage, resp_model = self._usage_and_model(response)
        named = resp_model if isinstance(resp_model, str) else None
        tier = reported_write_tier(self._provider, str(model or named))
        return wire.openai(usage, write_tier=tier, api=self._api), named


class OpenAIChat(_OpenAIBase):
    """Adapter for Chat Completions (``client.chat.completions.create(**request)``)."""


class OpenAIResponses(_OpenAIBase):
    """Adapter for the Responses API (``client.responses.create(**request)``)."""

    _messages_field = "input"
    _api = "responses"

    def _lead(self, req: Mapping[str, Any], builder: SegmentBuilder, look: Lookback) -> None:
        super()._lead(req, builder, look)
        instructions = req.get("instructions")
        if instructions:
            builder.add("system", "system", "stable", instructions, look.positions([1], _no))

    def _text_part(self, item: Mapping[str, Any]) -> str:
        return "output_text" if item.get("role") == "assistant" else "input_text"


def _no(_: Any) -> bool:
    return False


chat: Final = OpenAIChat()
"""The default Chat Completions adapter."""
responses: Final = OpenAIResponses()
"""The default Responses adapter."""

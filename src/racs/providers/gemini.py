"""Google Gemini ``generateContent`` adapter: segments, ``cachedContent`` references, usage.

Gemini caches are resources the host creates (``client.caches.create``); racs never
calls the API, so :func:`cache_create_body` gives the body to create one and ``apply``
takes the resulting name. A request using a cache must not resend
``system_instruction``, ``tools`` or ``tool_config``, nor the cached leading contents,
so ``apply`` moves them out of the request.

Two request shapes are understood: the SDK's keyword form
``{"model", "contents", "config": {...}}`` (``client.models.generate_content(**req)``) and
the REST body (``contents``, ``systemInstruction``, ``tools``, ``toolConfig``, camelCase or
snake_case). Output keeps the caller's shape and spelling.

Usage rule: ``prompt_token_count`` INCLUDES ``cached_content_token_count``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

from racs.core.accounting import Tokens
from racs.core.model import CachePlan, CacheUsage, ExpectedReuse, PlanInput, ResourceDirective
from racs.providers import usage as wire
from racs.providers.common import (
    AdapterBase,
    Lookback,
    SegmentBuilder,
    StabilityOverride,
    field,
    is_stream,
    message_defaults,
    message_role,
    plain,
    read_usage,
)

CacheName: TypeAlias = str | Mapping[str, str] | Callable[[ResourceDirective], str | None] | None
"""A cache resource name, a ``{resource_key: name}`` map, or a callable returning it."""

_SNAKE_HINTS: Final = ("system_instruction", "tool_config", "generation_config", "cached_content")


class _Shape:
    """Where system/tools/cache fields live in one request, and how they are spelled."""

    def __init__(self, req: dict[str, Any]) -> None:
        self.sdk = "config" in req
        if self.sdk:
            config = req.get("config")
            req["config"] = config = dict(config) if isinstance(config, Mapping) else {}
            self.holder: dict[str, Any] = config
            self.snake = True
        else:
            self.holder = req
            self.snake = any(k in req for k in _SNAKE_HINTS)

    def key(self, snake: str) -> str:
        if self.snake:
            return snake
        head, *rest = snake.split("_")
        return head + "".join(p.capitalize() for p in rest)

    def get(self, snake: str) -> Any:
        value = self.holder.get(self.key(snake))
        if value is None:  # tolerate the other spelling on input
            other = _Shape.__new__(_Shape)
            other.snake = not self.snake
            value = self.holder.get(other.key(snake))
        return value

    def pop(self, snake: str) -> Any:
        value = self.get(snake)
        for spelled in (snake, _camel(snake)):
            self.holder.pop(spelled, None)
        return value


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _contents(raw: Any) -> list[Any]:
    """Contents as a list of ``{role, parts}`` dicts (strings become user turns)."""
    if raw is None:
        return []
    if isinstance(raw, (str, Mapping)):
        raw = [raw]
    out: list[Any] = []
    for item in raw:
        if isinstance(item, str):
            out.append({"role": "user", "parts": [{"text": item}]})
        elif isinstance(item, Mapping) and "parts" not in item and "role" not in item:
            out.append({"role": "user", "parts": [item]})  # a bare part
        else:
            out.append(item)
    return out


def _system(raw: Any) -> Any:
    if isinstance(raw, str):
        return {"parts": [{"text": raw}]}
    return raw


_TOOL_PARTS: Final = ("function_call", "functionCall", "function_response", "functionResponse")


def _is_tool(content: Any) -> bool:
    parts = content.get("parts") if isinstance(content, Mapping) else None
    return bool(parts) and all(
        isinstance(p, Mapping) and any(k in p for k in _TOOL_PARTS) for p in parts or []
    )


def _no(_: Any) -> bool:
    return False


class GeminiGenerateContent(AdapterBase):
    """Adapter for Gemini ``generateContent`` (SDK keyword form or REST body)."""

    def __init__(self, provider: str = "google") -> None:
        super().__init__(provider)

    def segments_from(
        self,
        request: Any,
        *,
        stability: StabilityOverride = None,
        agent_id: str | None = None,
        reuse: ExpectedReuse | Mapping[str, float] | None = None,
        model: str | None = None,
    ) -> PlanInput:
        """Segments ``tools`` (with tool_config), ``system``, ``msg-0``..``msg-n``."""
        req: dict[str, Any] = plain(request)
        shape = _Shape(req)
        builder = SegmentBuilder(stability)
        look = Lookback()
        tools = shape.get("tools") or []
        tool_config = shape.get("tool_config")
        if tools or tool_config:
            builder.add(
                "tools",
                "tools",
                "stable",
                {"tools": tools, "tool_config": tool_config},
                look.positions(tools or [tool_config], _no),
            )
        system = _system(shape.get("system_instruction"))
        if system:
            builder.add("system", "system", "stable", system, look.positions([system], _no))
        contents = _contents(req.get("contents"))
        defaults = message_defaults(len(contents))
        for i, content in enumerate(contents):
            builder.add(
                f"msg-{i}",
                message_role(i, len(contents)),
                defaults[i],
                content,
                look.positions([content], _is_tool),
            )
        name = model or req.get("model") or ""
        return builder.plan_input(self._provider, _bare(name), agent_id, reuse)

    def _cached_count(self, request: Any, stability: StabilityOverride) -> int:
        """How many leading contents sit before the first volatile segment."""
        segments = self.segments_from(request, stability=stability).segments
        cached = 0
        for segment in segments:
            if segment.stability == "volatile":
                break
            if segment.id.startswith("msg-"):
                cached += 1
        return cached

    def apply(
        self,
        plan: CachePlan,
        request: Any,
        *,
        cached_content_name: CacheName = None,
        stability: StabilityOverride = None,
    ) -> dict[str, Any]:
        """A copy of ``request`` using the cache named by ``cached_content_name``:
        system_instruction, tools, tool_config and the cached leading contents removed.

        Without a name for the plan's resource the copy is returned unchanged (create the
        cache first with :func:`cache_create_body`). Pass the same ``stability`` override
        as to ``segments_from`` so the same contents are treated as cached.
        """
        req: dict[str, Any] = plain(request)
        directive = _resource(plan)
        if directive is None or directive.action == "delete":
            return req
        name = _name_for(cached_content_name, directive)
        if not name:
            return req
        cached = self._cached_count(request, stability)
        shape = _Shape(req)
        for snake in ("system_instruction", "tools", "tool_config", "cached_content"):
            shape.pop(snake)
        shape.holder[shape.key("cached_content")] = name
        req["contents"] = _contents(req.get("contents"))[cached:]
        return req

    def cache_create_body(
        self,
        plan: CachePlan,
        request: Any,
        *,
        stability: StabilityOverride = None,
        display_name: str | None = None,
    ) -> dict[str, Any]:
        """The body creating the plan's cache: ``client.caches.create(**body)`` for SDK
        requests, else the REST ``cachedContents`` body (ttl as ``"<seconds>s"``)."""
        directive = _resource(plan)
        if directive is None:
            raise ValueError("the plan carries no resource directive: nothing to create")
        req: dict[str, Any] = plain(request)
        shape = _Shape(req)
        cached = self._cached_count(request, stability)
        config: dict[str, Any] = {}
        contents = _contents(req.get("contents"))[:cached]
        if contents:
            config["contents"] = contents
        for snake in ("system_instruction", "tools", "tool_config"):
            value = shape.get(snake)
            if value:
                config[snake] = _system(value) if snake == "system_instruction" else value
        config["ttl"] = f"{int(directive.ttl_seconds)}s"
        config["display_name"] = display_name or f"racs-{directive.resource_key}"
        model = req.get("model") or plan.model
        if shape.sdk:
            return {"model": model, "config": config}
        body = {_camel(k): v for k, v in config.items()}
        body["model"] = model if model.startswith("models/") else f"models/{model}"
        return body

    def usage_from(
        self, response: Any, *, model: str | None = None, prefix_key: str | None = None
    ) -> CacheUsage:
        """All-in usage of a GenerateContentResponse, its dict, or a collected stream (a
        report breaking ``racs.providers.usage``'s rule: zero tokens and a warning)."""
        return read_usage(
            self._provider,
            _bare(model) if model else None,
            prefix_key,
            lambda: self.tokens_from(response),
        )

    def tokens_from(self, response: Any, *, model: str | None = None) -> tuple[Tokens, str | None]:
        """Token classes and model of a response or stream; raises ``UsageRefused``."""
        usage = resp_model = None
        chunks = list(response) if is_stream(response) else [response]
        for chunk in chunks:
            data = plain(chunk)
            if not isinstance(data, Mapping):
                continue
            found = field(data, "usage_metadata", "usageMetadata")
            if found:
                usage = found  # later chunks carry the running totals
            resp_model = field(data, "model_version", "modelVersion") or resp_model
        named = _bare(resp_model) if isinstance(resp_model, str) and resp_model else None
        return wire.gemini(usage), named


def _bare(model: str) -> str:
    return model.removeprefix("models/")


def _resource(plan: CachePlan) -> ResourceDirective | None:
    for directive in plan.directives:
        if isinstance(directive, ResourceDirective):
            return directive
    return None


def _name_for(source: CacheName, directive: ResourceDirective) -> str | None:
    if source is None or isinstance(source, str):
        return source
    if isinstance(source, Mapping):
        return source.get(directive.resource_key)
    return source(directive)


generate_content: Final = GeminiGenerateContent()
"""The default Gemini adapter."""
segments_from = generate_content.segments_from
apply = generate_content.apply
cache_create_body = generate_content.cache_create_body
usage_from = generate_content.usage_from

"""A chat request as the LiteLLM proxy holds it before routing, planned and marked.

The proxy receives OpenAI-format chat requests and translates them per provider after
its pre-call hooks ran. So racs writes its plan in the OpenAI-format fields LiteLLM
itself translates (standard library only; LiteLLM is not imported here):

- ``cache_control`` (Anthropic, Bedrock, Claude on Vertex and other breakpoint
  providers): on the last content block of each marked message (a string content carries
  it at message level, as LiteLLM's own injection does) and on the last tool. At most 4
  markers in the request counting the caller's; the caller's are never removed.
- OpenAI: ``prompt_cache_key`` / ``prompt_cache_retention`` for the routing-key family,
  ``prompt_cache_breakpoint`` blocks plus ``prompt_cache_options`` for GPT-5.6 and newer
  (racs's OpenAI Chat adapter places them).
- Gemini (AI Studio and Vertex): LiteLLM creates or finds a ``cachedContents`` resource
  itself from the leading run of messages marked with ``cache_control``, so racs marks
  that run when the plan says create, reuse or refresh, with the plan's TTL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from racs.core.facts import PROVIDER
from racs.core.model import (
    BreakpointDirective,
    CachePlan,
    ExpectedReuse,
    PlanInput,
    ResourceDirective,
    RoutingKeyDirective,
)
from racs.providers.common import (
    MAX_MARKERS,
    Lookback,
    Marker,
    SegmentBuilder,
    StabilityOverride,
    budget_and_order,
    message_defaults,
    ttl_of,
)
from racs.providers.litellm_usage import LITELLM_PROVIDERS
from racs.providers.openai import OpenAIChat

Dialect = Literal["cache_control", "openai", "routing", "resource", "none"]
"""How a plan reaches the provider through LiteLLM."""

RESOURCE_PROVIDERS: Final = frozenset(PROVIDER["google"].litellm_names)
"""LiteLLM providers whose context caching turns marked messages into a cachedContent."""
OPENAI_PROVIDERS: Final = frozenset(PROVIDER["openai"].litellm_names)
"""LiteLLM providers that speak OpenAI's own dialect (``prompt_cache_breakpoint``)."""
_MODEL_TURNS: Final = frozenset({"assistant", "tool", "function"})
_ROUTES: Final = ("converse/", "invoke/", "converse_like/")


@dataclass(frozen=True, slots=True)
class Target:
    """The deployment a request goes to, as racs plans for it."""

    provider: str
    """racs provider id (``anthropic`` for Claude on Vertex AI)."""
    model: str
    """The provider's model id, which prices and the model catalog are keyed by."""
    litellm_provider: str
    """LiteLLM's ``custom_llm_provider``."""


def target_of(litellm_provider: str, model: str) -> Target:
    """racs's view of a deployment LiteLLM resolved to ``(model, custom_llm_provider)``."""
    name = litellm_provider.lower()
    provider = LITELLM_PROVIDERS.get(name, "custom")
    bare = model.split("/", 1)[1] if model.startswith(f"{name}/") else model
    for route in _ROUTES:
        bare = bare.removeprefix(route)
    if provider == "google" and "claude" in bare:
        provider = "anthropic"  # Claude on Vertex caches as Anthropic does
    return Target(provider, bare, name)


def plan_input(
    request: Mapping[str, Any],
    target: Target,
    *,
    stability: StabilityOverride = None,
    agent_id: str | None = None,
    reuse: ExpectedReuse | Mapping[str, float] | None = None,
) -> PlanInput:
    """Segments ``tools``, ``msg-0``..``msg-n`` of an OpenAI-format chat request: exactly
    racs's Chat Completions adapter's, without its defensive deep copy (the proxy's
    request is parsed JSON that racs only reads here)."""
    messages = request.get("messages") or []
    tools = request.get("tools") or []
    if not (type(messages) is list and type(tools) is list):
        chat = {"model": target.model, "messages": messages, "tools": tools}
        return OpenAIChat(target.provider).segments_from(
            chat, stability=stability, agent_id=agent_id, reuse=reuse
        )
    builder = SegmentBuilder(stability)
    look = Lookback()
    if tools:
        builder.add("tools", "tools", "stable", tools, look.positions(tools, _never))
    defaults = message_defaults(len(messages))
    last = len(messages) - 1
    for i, item in enumerate(messages):
        role = _chat_role(item, i, last)
        default = "stable" if role == "system" and defaults[i] == "semi" else defaults[i]
        builder.add(f"msg-{i}", role, default, item, look.positions([item], _tool_turn))
    return builder.plan_input(target.provider, target.model, agent_id, reuse)


def _never(_: Any) -> bool:
    return False


def _chat_role(message: Any, index: int, last: int) -> str:
    if index == last:
        return "dynamic"
    if type(message) is dict and message.get("role") in ("system", "developer"):
        return "system"
    return "history"


def _tool_turn(message: Any) -> bool:
    if type(message) is not dict:
        return False
    return (
        message.get("role") == "tool"
        or bool(message.get("tool_calls"))
        or message.get("type") in ("function_call", "function_call_output")
    )


def dialect_of(plan: CachePlan, target: Target) -> Dialect:
    """Which request fields carry ``plan`` to ``target``."""
    if plan.family == "breakpoint":
        return "openai" if target.litellm_provider in OPENAI_PROVIDERS else "cache_control"
    if plan.family == "routing-key":
        return "routing"
    if plan.family == "resource" and target.litellm_provider in RESOURCE_PROVIDERS:
        return "resource"
    return "none"


@dataclass(frozen=True, slots=True)
class Applied:
    """What racs changed in one request."""

    request: dict[str, Any]
    dialect: Dialect
    markers: int
    """Markers racs added (cache_control, prompt_cache_breakpoint, or Gemini messages)."""
    routing_key: bool
    """Whether racs set ``prompt_cache_key``."""


def apply_plan(
    plan: CachePlan,
    plan_in: PlanInput,
    request: Mapping[str, Any],
    target: Target,
    *,
    markers: bool = True,
    routing: bool = True,
) -> Applied:
    """A copy of ``request`` (only the changed messages and tools copied) carrying ``plan``.

    ``markers=False`` leaves markers to someone else (LiteLLM's own injection points);
    ``routing=False`` when LiteLLM does not forward ``prompt_cache_key`` to the provider.
    """
    req = dict(request)
    dialect = dialect_of(plan, target)
    placed = 0
    if markers and dialect == "cache_control":
        placed = _cache_control(plan, req)
    elif markers and dialect == "resource":
        placed = _cached_run(plan, plan_in, req)
    elif dialect in ("openai", "routing"):
        placed = _openai(plan, req, target, markers=markers, routing=routing)
    keyed = "prompt_cache_key" in req and "prompt_cache_key" not in request
    return Applied(req, dialect, placed, keyed)


def count_markers(request: Mapping[str, Any]) -> int:
    """Cache markers the request already carries (the caller's), LiteLLM's way of counting:
    message level, content blocks, tool calls, tools (top level or under ``function``) and
    a top-level ``cache_control``."""
    return len(_existing(request))


def _existing(request: Mapping[str, Any]) -> list[Marker]:
    # The proxy's requests are parsed JSON: plain dicts and lists (dict checks are much
    # cheaper than Mapping ones, and this runs over every message of every request).
    found: list[Marker] = []
    for i, tool in enumerate(_list(request.get("tools"))):
        control = _tool_control(tool)
        if control is not None:
            found.append(Marker((0, i), ttl_of(control), False))
    for m, message in enumerate(_list(request.get("messages"))):
        if type(message) is not dict:
            continue
        nodes = _marked_nodes(message)
        if nodes:
            level = 1 if message.get("role") in ("system", "developer") else 2
            for b, node in enumerate(nodes):
                found.append(Marker((level, m, b), ttl_of(node.get("cache_control")), False))
    if isinstance(request.get("cache_control"), dict):
        found.append(Marker((9,), ttl_of(request["cache_control"]), False))
    return found


def _marked_nodes(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    nodes: list[Mapping[str, Any]] = []
    if message.get("cache_control") is not None:
        nodes.append(message)
    for key in ("content", "tool_calls"):
        blocks = message.get(key)
        if type(blocks) is list:
            for block in blocks:
                if type(block) is dict and block.get("cache_control") is not None:
                    nodes.append(block)
    return nodes


def _tool_control(tool: Any) -> Any:
    if type(tool) is not dict:
        return None
    control = tool.get("cache_control")
    if control is None and type(tool.get("function")) is dict:
        control = tool["function"].get("cache_control")
    return control


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else ()


def _control(ttl: str) -> dict[str, str]:
    return {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}


def _cache_control(plan: CachePlan, req: dict[str, Any]) -> int:
    existing = _existing(req)
    messages = _list(req.get("messages"))
    tools = _list(req.get("tools"))
    wanted: list[Marker] = []
    for directive in plan.directives:
        if not isinstance(directive, BreakpointDirective):
            continue
        sid = directive.segment_id
        if sid == "tools" and tools:
            last = len(tools) - 1
            if _tool_control(tools[last]) is None and isinstance(tools[last], Mapping):
                wanted.append(Marker((0, last), directive.ttl, True, ("tools", last)))
        elif sid.startswith("msg-"):
            m = int(sid[4:])
            message = messages[m] if m < len(messages) else None
            if not isinstance(message, Mapping) or _marked_nodes(message):
                continue  # the caller marked this message already: theirs stands
            if _markable(message):
                level = 1 if message.get("role") in ("system", "developer") else 2
                wanted.append(Marker((level, m, 99), directive.ttl, True, ("messages", m)))
    chosen = budget_and_order(existing, wanted, MAX_MARKERS)
    if not chosen:
        return 0
    new_messages = list(messages)
    new_tools = list(tools)
    for marker in chosen:
        where, index = marker.place
        control = _control(marker.ttl)
        if where == "tools":
            new_tools[index] = {**new_tools[index], "cache_control": control}
        else:
            new_messages[index] = _with_control(new_messages[index], control, block=False)
    if any(m.place[0] == "tools" for m in chosen):
        req["tools"] = new_tools
    req["messages"] = new_messages
    return len(chosen)


def _markable(message: Mapping[str, Any]) -> bool:
    content = message.get("content")
    if isinstance(content, str):
        return bool(content)
    return bool(content) and isinstance(content, list) and isinstance(content[-1], Mapping)


def _with_control(message: Mapping[str, Any], control: dict[str, str], *, block: bool) -> Any:
    """A copy of ``message`` marked on its last content block. A string content is marked
    at message level (``block=False``, as LiteLLM's injection does) or turned into one text
    block (``block=True``: Gemini context caching reads the TTL from content blocks)."""
    content = message.get("content")
    if isinstance(content, str):
        if not block:
            return {**message, "cache_control": control}
        return {**message, "content": [{"type": "text", "text": content, "cache_control": control}]}
    blocks: list[Any] = list(content or ())
    blocks[-1] = {**blocks[-1], "cache_control": control}
    return {**message, "content": blocks}


def _cached_run(plan: CachePlan, plan_in: PlanInput, req: dict[str, Any]) -> int:
    """Mark the leading messages a Gemini cached content should hold."""
    directive = next((d for d in plan.directives if isinstance(d, ResourceDirective)), None)
    if directive is None or directive.action == "delete":
        return 0
    messages = _list(req.get("messages"))
    if any(isinstance(m, Mapping) and _marked_nodes(m) for m in messages):
        return 0  # the caller chose what to cache: LiteLLM caches their run
    cached = 0
    for segment in plan_in.segments:
        if segment.stability == "volatile":
            break
        if segment.id.startswith("msg-"):
            cached += 1
    # cachedContents refuses contents ending on a model turn (LiteLLM then skips caching)
    while cached and _role(messages[cached - 1]) in _MODEL_TURNS:
        cached -= 1
    if not cached or not all(_markable(m) for m in messages[:cached]):
        return 0
    control = {"type": "ephemeral", "ttl": f"{int(directive.ttl_seconds)}s"}
    req["messages"] = [
        _with_control(m, control, block=True) if i < cached else m for i, m in enumerate(messages)
    ]
    return cached


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, Mapping) else None


_OPENAI_FIELDS: Final = (
    "messages",
    "prompt_cache_key",
    "prompt_cache_retention",
    "prompt_cache_options",
)


def _openai(
    plan: CachePlan, req: dict[str, Any], target: Target, *, markers: bool, routing: bool
) -> int:
    kept = tuple(
        d
        for d in plan.directives
        if (markers and isinstance(d, BreakpointDirective))
        or (routing and isinstance(d, RoutingKeyDirective))
    )
    if not kept:
        return 0
    before = _count_breakpoints(req)
    part = {k: req[k] for k in _OPENAI_FIELDS if k in req}
    applied = OpenAIChat(target.provider).apply(_with_directives(plan, kept), part)
    req.update(applied)
    return _count_breakpoints(req) - before


def _with_directives(plan: CachePlan, directives: tuple[Any, ...]) -> CachePlan:
    return replace(plan, directives=directives)


def _count_breakpoints(req: Mapping[str, Any]) -> int:
    total = 0
    for message in _list(req.get("messages")):
        for block in _list(message.get("content") if isinstance(message, Mapping) else None):
            if isinstance(block, Mapping) and block.get("prompt_cache_breakpoint") is not None:
                total += 1
    return total

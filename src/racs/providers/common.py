"""Helpers every provider adapter shares: plain copies, canonical JSON, segment building.

Adapters accept plain dicts and official SDK objects alike; everything is first turned
into plain Python data (never touching the caller's object), then read and rewritten.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeAlias

from racs.core.accounting import Tokens
from racs.core.errors import invalid
from racs.core.model import (
    STABILITIES,
    BreakpointDirective,
    CachePlan,
    CacheUsage,
    ExpectedReuse,
    PlanInput,
    PromptSegment,
)
from racs.core.tiers import TTL_SECONDS, seconds_of
from racs.providers.usage import UsageRefused
from racs.providers.usage import count as usage_count

StabilityOverride: TypeAlias = Mapping[str, str] | Callable[[str, str, str], str | None] | None
"""Host override of default stabilities: ``{segment_id: stability}`` or
``callable(segment_id, role, default) -> stability | None`` (``None`` keeps the default)."""

MAX_MARKERS: Final = 4
"""Anthropic, Bedrock and OpenAI (GPT-5.6+) all cap one request at four cache markers."""
MAX_REQUEST_DEPTH: Final = 200
"""How deeply a request or response may nest before it is refused (``ERR_INVALID_INPUT``)
rather than overflowing Python's stack: far beyond any real prompt or tool schema."""

_log = logging.getLogger("racs.providers")


class Adapter(Protocol):
    """What the planning loop needs from a provider adapter."""

    @property
    def provider(self) -> str:
        """The racs provider id this adapter plans for."""
        ...

    def segments_from(
        self,
        request: Any,
        *,
        stability: StabilityOverride = None,
        agent_id: str | None = None,
        reuse: ExpectedReuse | Mapping[str, float] | None = None,
    ) -> PlanInput:
        """The PlanInput of a request."""
        ...

    def apply(self, plan: CachePlan, request: Any) -> dict[str, Any]:
        """A copy of the request with the plan's directives in place."""
        ...

    def usage_from(
        self, response: Any, *, model: str | None = None, prefix_key: str | None = None
    ) -> CacheUsage:
        """The all-in CacheUsage of a response."""
        ...


class UsageReader(Adapter, Protocol):
    """An adapter that also reads a response's usage strictly (for importers)."""

    def tokens_from(self, response: Any, *, model: str | None = None) -> tuple[Tokens, str | None]:
        """(token classes, the model the response names); raises ``UsageRefused``."""
        ...


def plain(obj: Any, _depth: int = 0) -> Any:
    """Deep plain-data copy of a dict, list or SDK object; the input is never mutated.

    Nesting deeper than ``MAX_REQUEST_DEPTH`` is refused with ``ERR_INVALID_INPUT``.
    """
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if _depth >= MAX_REQUEST_DEPTH:
        raise invalid(f"nested more than {MAX_REQUEST_DEPTH} levels deep")
    deeper = _depth + 1
    if isinstance(obj, Mapping):
        return {str(k): plain(v, deeper) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, deeper) for v in obj]
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        # pydantic SDK objects (anthropic, openai, google-genai): drop unset optionals so
        # the copy sends exactly what the caller's object would have sent.
        try:
            return plain(dump(exclude_none=True), deeper)
        except TypeError:
            return plain(dump(), deeper)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return plain(to_dict(), deeper)
    if hasattr(obj, "__dict__"):
        return {k: plain(v, deeper) for k, v in vars(obj).items() if not k.startswith("_")}
    return copy.deepcopy(obj)


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys, compact) of plain data: the text a segment hashes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    )


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def field(obj: Any, *names: str) -> Any:
    """The first present, non-null attribute or key among ``names`` (``None`` if none)."""
    if obj is None:
        return None
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def cache_usage(
    provider: str, model: str | None, t: Tokens, prefix_key: str | None = None
) -> CacheUsage:
    """The all-in CacheUsage of one call's token classes."""
    return CacheUsage(
        provider=provider,
        model=model or "unknown",
        input_tokens=t.input,
        cache_read_tokens=t.read,
        cache_write_tokens_5m=t.write_5m,
        cache_write_tokens_1h=t.write_1h,
        cache_write_tokens_30m=t.write_30m,
        prefix_key=prefix_key,
    )


def refused_usage(
    provider: str, model: str | None, refused: UsageRefused, prefix_key: str | None = None
) -> CacheUsage:
    """What a live adapter returns for a refused usage report: zero tokens (nothing is
    priced), after a warning on the ``racs.providers`` logger naming the field; never an
    exception into the host's call path."""
    _log.warning("racs: %s usage refused (%s); recorded as zero tokens", provider, refused.message)
    return CacheUsage(
        provider=provider,
        model=model or "unknown",
        input_tokens=0,
        cache_read_tokens=0,
        prefix_key=prefix_key,
    )


def read_usage(
    provider: str,
    model: str | None,
    prefix_key: str | None,
    reading: Callable[[], tuple[Tokens, str | None]],
) -> CacheUsage:
    """``usage_from`` of every adapter: ``reading()`` gives (token classes, the model the
    response names) or raises ``UsageRefused``, which is logged and zeroed, never raised."""
    try:
        t, named = reading()
    except UsageRefused as refused:
        return refused_usage(provider, model, refused, prefix_key)
    return cache_usage(provider, model or named, t, prefix_key)


def output_tokens_of(response: Any) -> int | None:
    """Output tokens of a non-streamed response of any supported API, if reported (and
    within the rule of ``racs.providers.usage``)."""
    if is_stream(response):
        return None
    usage = field(response, "usage", "usage_metadata", "usageMetadata")
    value = field(
        usage,
        "output_tokens",
        "completion_tokens",
        "outputTokens",
        "candidates_token_count",
        "candidatesTokenCount",
    )
    try:
        return usage_count(value, "output_tokens") if value is not None else None
    except UsageRefused:
        return None


def is_stream(response: Any) -> bool:
    """True for a collected stream (a list/tuple/iterator of events), not a response."""
    if isinstance(response, (Mapping, str, bytes)):
        return False
    if isinstance(response, (list, tuple)):
        return True
    # pydantic SDK objects iterate over their fields: a response, not a stream
    return isinstance(response, Iterable) and not any(
        hasattr(response, name) for name in ("usage", "usage_metadata", "model_dump")
    )


def resolve_stability(override: StabilityOverride, segment_id: str, role: str, default: str) -> str:
    """Apply the host's stability override to one segment's default."""
    chosen: str | None
    if override is None:
        chosen = None
    elif isinstance(override, Mapping):
        chosen = override.get(segment_id)
    else:
        chosen = override(segment_id, role, default)
    if chosen is None:
        return default
    if chosen not in STABILITIES:
        raise ValueError(f"stability for {segment_id!r} must be one of {STABILITIES}")
    return chosen


class AdapterBase:
    """What every adapter holds: the racs provider id it plans for, its marker budget."""

    def __init__(self, provider: str, max_markers: int = MAX_MARKERS) -> None:
        self._provider = provider
        self.max_markers = max_markers

    @property
    def provider(self) -> str:
        """The racs provider id this adapter plans for."""
        return self._provider


class SegmentBuilder:
    """Collects segments in request order with default stabilities and host overrides."""

    def __init__(self, override: StabilityOverride) -> None:
        self._override = override
        self.segments: list[PromptSegment] = []

    def add(self, segment_id: str, role: str, default: str, content: Any, blocks: int) -> None:
        """Add one segment whose hashed content is the canonical JSON of ``content``."""
        stability = resolve_stability(self._override, segment_id, role, default)
        self.segments.append(
            PromptSegment(
                id=segment_id,
                role=role,  # type: ignore[arg-type]
                stability=stability,  # type: ignore[arg-type]
                content=canonical(content),
                blocks=blocks,
            )
        )

    def plan_input(
        self,
        provider: str,
        model: str,
        agent_id: str | None,
        reuse: ExpectedReuse | Mapping[str, float] | None,
    ) -> PlanInput:
        """The PlanInput of the collected segments."""
        if not self.segments:
            raise ValueError("the request has no tools, system prompt or messages to plan")
        return PlanInput(
            provider=provider,
            model=model or "unknown",
            segments=tuple(self.segments),
            agent_id=agent_id,
            reuse=reuse_of(reuse),
        )


def reuse_of(reuse: ExpectedReuse | Mapping[str, float] | None) -> ExpectedReuse | None:
    """Accept ExpectedReuse or a mapping in either spelling."""
    if reuse is None or isinstance(reuse, ExpectedReuse):
        return reuse
    return ExpectedReuse(
        interval_seconds=reuse.get("interval_seconds", reuse.get("intervalSeconds")),
        calls_per_hour=reuse.get("calls_per_hour", reuse.get("callsPerHour")),
    )


def message_defaults(count_: int) -> list[str]:
    """Default stabilities of ``count_`` turns: earlier ones semi, the final one volatile."""
    return ["semi"] * (count_ - 1) + ["volatile"] if count_ else []


def message_role(index: int, total: int) -> str:
    """Segment role of turn ``index``: history, or dynamic for the live (final) turn."""
    return "dynamic" if index == total - 1 else "history"


TOOL_BLOCK_TYPES: Final = frozenset(
    {"tool_use", "tool_result", "server_tool_use", "function_call", "function_call_output"}
)


class Lookback:
    """Counts lookback positions across the request; a run of tool blocks counts once."""

    def __init__(self) -> None:
        self._in_tool_run = False

    def positions(self, blocks: Sequence[Any], is_tool: Callable[[Any], bool]) -> int:
        """Positions these blocks add, continuing any tool run from earlier blocks."""
        added = 0
        for block in blocks:
            if is_tool(block):
                if not self._in_tool_run:
                    added += 1
                self._in_tool_run = True
            else:
                added += 1
                self._in_tool_run = False
        return added


def breakpoints(plan: CachePlan) -> list[BreakpointDirective]:
    """The plan's breakpoint directives."""
    return [d for d in plan.directives if isinstance(d, BreakpointDirective)]


class Marker:
    """One cache marker of a request: where it sits, its TTL, whether racs adds it."""

    __slots__ = ("new", "place", "position", "ttl")

    def __init__(self, position: tuple[int, ...], ttl: str, new: bool, place: Any = None) -> None:
        self.position = position
        self.ttl = ttl
        self.new = new
        self.place = place


def budget_and_order(existing: list[Marker], wanted: list[Marker], limit: int) -> list[Marker]:
    """Pick the new markers to place and settle their TTLs.

    Budget: ``limit`` minus the markers already in the request; when over, the plan's
    shallowest markers are dropped first (the deepest covers the most). TTL order: a
    longer TTL must never follow a shorter one, so a new marker is downgraded to the
    shortest TTL before it and upgraded to the longest existing TTL after it (the
    downgrade wins if the host's own markers already conflict).
    """
    room = max(0, limit - len(existing))
    chosen = sorted(wanted, key=lambda m: m.position)
    chosen = chosen[len(chosen) - room :] if room < len(chosen) else chosen
    everything = sorted([*existing, *chosen], key=lambda m: m.position)
    for i, marker in enumerate(everything):
        if not marker.new:
            continue
        before = [seconds_of(m.ttl) for m in everything[:i]]
        after = [seconds_of(m.ttl) for m in everything[i + 1 :] if not m.new]
        seconds = seconds_of(marker.ttl)
        if after and max(after) > seconds:
            seconds = max(after)
        if before and min(before) < seconds:
            seconds = min(before)
        marker.ttl = _ttl_name(seconds, marker.ttl)
    return chosen


def _ttl_name(seconds: int, fallback: str) -> str:
    for name, value in TTL_SECONDS.items():
        if value == seconds:
            return name
    return fallback


def ttl_of(marker: Any) -> str:
    """The TTL a cache_control / cachePoint mapping asks for (default 5m)."""
    ttl = marker.get("ttl") if isinstance(marker, Mapping) else None
    return ttl if isinstance(ttl, str) and ttl in TTL_SECONDS else "5m"

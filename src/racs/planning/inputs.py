"""Validation and normalisation of everything a caller hands to the engine.

Plan inputs arrive as dataclasses or mappings in either spelling (snake_case or the seed's
camelCase); they leave as a ``Prompt``, the compact internal form the analyzer and the
planner read. Every problem raises ``RacsError(ERR_INVALID_INPUT)`` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from racs.core.errors import invalid
from racs.core.facts import PROVIDERS
from racs.core.limits import MAX_INSTANT_MS, MAX_TOKENS, number
from racs.core.model import (
    ROLES,
    STABILITIES,
    CacheUsage,
    PlanInput,
    PromptSegment,
)

_ROLE_SET: Final = frozenset(ROLES)
_STABILITY_SET: Final = frozenset(STABILITIES)
_PROVIDER_SET: Final = frozenset(PROVIDERS)
_MISSING: Final = object()


class Seg:
    """One validated segment as given; the engine's ``resolve`` settles its tokens and
    digest into a ``ResolvedSeg`` (this one is never changed)."""

    __slots__ = ("blocks", "content", "content_hash", "digest", "id", "role", "stability", "tokens")

    def __init__(
        self,
        id: str,
        role: str,
        stability: str,
        content: str | None,
        content_hash: str | None,
        tokens: float | None,
        blocks: int | None,
    ) -> None:
        self.id = id
        self.role = role
        self.stability = stability
        self.content = content
        self.content_hash = content_hash
        # None: not given (the engine resolves it by tokenizer or estimate).
        self.tokens = tokens
        self.blocks = blocks
        self.digest: str | None = content_hash


class Prompt:
    """A validated plan input; ``resolve`` turns it into the ``ResolvedPrompt`` the
    analyzer and planner read."""

    __slots__ = (
        "agent_id",
        "boundary",
        "calls_per_hour",
        "interval",
        "model",
        "provider",
        "reuse_declared",
        "segments",
    )

    def __init__(
        self,
        provider: str,
        model: str,
        agent_id: str | None,
        segments: list[Seg],
        interval_seconds: float | None,
        calls_per_hour: float | None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.agent_id = agent_id
        self.segments = segments
        # engine.md section 5: interval_seconds wins; each is derived from the other.
        if interval_seconds is not None:
            self.interval: float | None = interval_seconds
        elif calls_per_hour is not None and calls_per_hour > 0:
            self.interval = 3600 / calls_per_hour
        else:
            self.interval = None
        if interval_seconds is not None and interval_seconds > 0:
            self.calls_per_hour: float | None = 3600 / interval_seconds
        else:
            self.calls_per_hour = calls_per_hour
        self.reuse_declared = self.interval is not None
        boundary = len(segments)
        for i, seg in enumerate(segments):
            if seg.stability == "volatile":
                boundary = i
                break
        self.boundary = boundary


class ResolvedSeg:
    """A segment with its token count and (unless volatile) its digest settled (the
    digest is the caller's ``contentHash`` when given).

    Immutable: every attribute is ``Final`` (``mypy --strict`` refuses an assignment). Not
    a NamedTuple or frozen dataclass: the planner reads these attributes in its inner
    loops, and slots read about five times faster than tuple fields (bench/plan_bench.py).
    """

    __slots__ = ("blocks", "content", "digest", "id", "role", "stability", "tokens")

    def __init__(
        self,
        id: str,
        role: str,
        stability: str,
        content: str | None,
        tokens: float,
        blocks: int | None,
        digest: str | None,
    ) -> None:
        self.id: Final = id
        self.role: Final = role
        self.stability: Final = stability
        self.content: Final = content
        self.tokens: Final = tokens
        self.blocks: Final = blocks
        self.digest: Final = digest


class ResolvedPrompt:
    """A validated prompt with every count settled: what the analyzer and planner read.

    Built whole by the engine's ``resolve`` and never changed afterwards (``Final``
    attributes, as ``ResolvedSeg``).
    """

    __slots__ = (
        "agent_id",
        "boundary",
        "calls_per_hour",
        "interval",
        "model",
        "provider",
        "reuse_declared",
        "segments",
        "stable_tokens",
        "total_tokens",
    )

    def __init__(
        self,
        provider: str,
        model: str,
        agent_id: str | None,
        segments: tuple[ResolvedSeg, ...],
        interval: float | None,
        calls_per_hour: float | None,
        reuse_declared: bool,
        boundary: int,
        stable_tokens: float,
        total_tokens: float,
    ) -> None:
        self.provider: Final = provider
        self.model: Final = model
        self.agent_id: Final = agent_id
        self.segments: Final = segments
        self.interval: Final = interval
        self.calls_per_hour: Final = calls_per_hour
        self.reuse_declared: Final = reuse_declared
        self.boundary: Final = boundary
        self.stable_tokens: Final = stable_tokens
        self.total_tokens: Final = total_tokens


def _field(obj: Any, snake: str, camel_name: str | None = None) -> Any:
    """Read ``snake`` (or its camelCase spelling) from a mapping or an object."""
    if isinstance(obj, Mapping):
        value = obj.get(snake, _MISSING)
        if value is _MISSING and camel_name is not None:
            value = obj.get(camel_name, _MISSING)
        return None if value is _MISSING else value
    return getattr(obj, snake, None)


def text(value: Any, name: str, *, optional: bool = False) -> str | None:
    """A non-empty string, or ``None`` when optional and absent."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise invalid(f"{name} must be a non-empty string")
    return value


def _segment(raw: Any, index: int, seen: set[str]) -> Seg:
    where = f"segments[{index}]"
    if isinstance(raw, Mapping):
        get = raw.get
        sid = get("id")
        role = get("role")
        stability = get("stability")
        content = get("content")
        content_hash = get("contentHash", _MISSING)
        if content_hash is _MISSING:
            content_hash = get("content_hash")
        tokens = get("tokens")
        blocks = get("blocks")
    elif isinstance(raw, PromptSegment):
        sid, role, stability = raw.id, raw.role, raw.stability
        content, content_hash, tokens, blocks = (
            raw.content,
            raw.content_hash,
            raw.tokens,
            raw.blocks,
        )
    else:
        raise invalid(f"{where} must be an object, got {type(raw).__name__}")
    if not isinstance(sid, str) or not sid:
        raise invalid(f"{where}.id must be a non-empty string")
    if sid in seen:
        raise invalid(f"{where}.id {sid!r} is a duplicate: segment ids must be unique")
    seen.add(sid)
    if not isinstance(role, str) or role not in _ROLE_SET:
        raise invalid(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
    if not isinstance(stability, str) or stability not in _STABILITY_SET:
        raise invalid(
            f"{where}.stability must be one of {', '.join(STABILITIES)}, got {stability!r}"
        )
    if content is not None and not isinstance(content, str):
        raise invalid(f"{where}.content must be a string")
    if content_hash is not None and not isinstance(content_hash, str):
        raise invalid(f"{where}.contentHash must be a string")
    if content_hash == "":
        content_hash = None
    if content is None and content_hash is None:
        raise invalid(f"{where} needs content (a string) or a non-empty contentHash")
    if tokens is not None:
        number(tokens, f"{where}.tokens")
    if blocks is not None and (
        isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0
    ):
        raise invalid(f"{where}.blocks must be an integer >= 0")
    return Seg(sid, role, stability, content, content_hash, tokens, blocks)


def parse_prompt(raw: Any) -> Prompt:
    """Validate a PlanInput (dataclass or mapping, either spelling) into a ``Prompt``."""
    provider: Any
    model: Any
    agent_id: Any
    if isinstance(raw, PlanInput):
        provider, model, agent_id = raw.provider, raw.model, raw.agent_id
        raw_segments: Any = raw.segments
        reuse: Any = raw.reuse
    elif isinstance(raw, Mapping):
        provider = raw.get("provider")
        model = raw.get("model")
        agent_id = _field(raw, "agent_id", "agentId")
        raw_segments = raw.get("segments")
        reuse = raw.get("reuse")
    else:
        raise invalid(f"input must be an object (PlanInput or mapping), got {type(raw).__name__}")
    if not isinstance(provider, str) or provider not in _PROVIDER_SET:
        raise invalid(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    text(model, "model")
    if agent_id is not None and not isinstance(agent_id, str):
        raise invalid("agentId must be a string")
    if agent_id == "":
        agent_id = None
    if (
        not isinstance(raw_segments, Sequence)
        or isinstance(raw_segments, (str, bytes))
        or not raw_segments
    ):
        raise invalid("segments must be a non-empty array of segments")
    seen: set[str] = set()
    segments = [_segment(s, i, seen) for i, s in enumerate(raw_segments)]
    interval = cph = None
    if reuse is not None:
        if not isinstance(reuse, Mapping) and not hasattr(reuse, "interval_seconds"):
            raise invalid("reuse must be an object with intervalSeconds and/or callsPerHour")
        interval = number(
            _field(reuse, "interval_seconds", "intervalSeconds"),
            "reuse.intervalSeconds",
            optional=True,
        )
        cph = number(
            _field(reuse, "calls_per_hour", "callsPerHour"), "reuse.callsPerHour", optional=True
        )
    return Prompt(provider, model, agent_id, segments, interval, cph)


def parse_usage(raw: Any) -> CacheUsage:
    """Validate a CacheUsage (dataclass or mapping, either spelling)."""
    if isinstance(raw, CacheUsage):
        src: Any = raw
    elif isinstance(raw, Mapping):
        src = raw
    else:
        raise invalid(f"usage must be an object, got {type(raw).__name__}")
    provider = text(_field(src, "provider"), "usage.provider")
    model = text(_field(src, "model"), "usage.model")
    prefix_key = _field(src, "prefix_key", "prefixKey")
    if prefix_key is not None and not isinstance(prefix_key, str):
        raise invalid("usage.prefixKey must be a string")
    agent_id = _field(src, "agent_id", "agentId")
    if agent_id is not None and not isinstance(agent_id, str):
        raise invalid("usage.agentId must be a string")
    run_id = _field(src, "run_id", "runId")
    if run_id is not None and not isinstance(run_id, str):
        raise invalid("usage.runId must be a string")
    return CacheUsage(
        provider=provider or "",
        model=model or "",
        input_tokens=_tokens(_field(src, "input_tokens", "inputTokens"), "usage.inputTokens") or 0,
        cache_read_tokens=_tokens(
            _field(src, "cache_read_tokens", "cacheReadTokens"), "usage.cacheReadTokens"
        )
        or 0,
        cache_write_tokens_5m=_tokens(
            _field(src, "cache_write_tokens_5m", "cacheWriteTokens5m"),
            "usage.cacheWriteTokens5m",
            optional=True,
        )
        or 0,
        cache_write_tokens_1h=_tokens(
            _field(src, "cache_write_tokens_1h", "cacheWriteTokens1h"),
            "usage.cacheWriteTokens1h",
            optional=True,
        )
        or 0,
        cache_write_tokens_30m=_tokens(
            _field(src, "cache_write_tokens_30m", "cacheWriteTokens30m"),
            "usage.cacheWriteTokens30m",
            optional=True,
        )
        or 0,
        prefix_key=prefix_key or None,
        timestamp=_timestamp(_field(src, "timestamp")),
        agent_id=agent_id or None,
        run_id=run_id or None,
    )


def _tokens(value: Any, name: str, *, optional: bool = False) -> int | None:
    # The ledger's bound for token counts, so a usage record the engine takes is one a
    # ledger behind it takes too.
    tokens = number(value, name, optional=optional)
    if tokens is not None and tokens > MAX_TOKENS:
        raise invalid(f"{name} must be a token count from 0 to {MAX_TOKENS} (2**32 - 1)")
    # Whole tokens from here on (JSON integers everywhere): @takk/racs takes any number, so
    # a fractional count is rounded (half to even) rather than refused.
    return None if tokens is None else round(tokens)


def _timestamp(value: Any) -> float | None:
    ms = number(value, "usage.timestamp", optional=True)
    if ms is not None and ms > MAX_INSTANT_MS:
        raise invalid(f"usage.timestamp must be ms since the epoch up to {MAX_INSTANT_MS}")
    return ms

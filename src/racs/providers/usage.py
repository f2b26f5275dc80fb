"""One reader per wire format of token usage, and the one rule they all follow.

Every surface that reads usage (the live adapters, the traffic importers, the
OpenTelemetry and LiteLLM integrations) goes through these readers, so a usage object
means the same thing wherever it is met. Each returns ``Tokens`` (the token classes of
one call, output included) or raises ``UsageRefused``.

The rule, for every wire format:

- A count is a whole number from 0 to ``MAX_TOKENS`` (2**32 - 1, ``racs.core.limits``);
  an absent or null count is 0. A count that is anything else (text where the format has
  numbers, a fraction, a negative number, NaN, an infinity, a number above the bound),
  or an all-in input above the bound, refuses the whole record: ``UsageRefused`` names
  the field and why. A refused record is never priced and never clamped.
- A TTL split of the cache writes (Anthropic ``cache_creation``, Bedrock ``cacheDetails``)
  must add up to the write total. An absent split, or one of zeros (as some proxies
  write it), means every write is 5m, the providers' default TTL; any other split that
  does not add up refuses the record.

Where the record is refused depends on the caller: importers count and name it as a
problem; the live adapters (``usage_from``) must never raise into the host, so they log
a warning on the ``racs.providers`` logger naming the field and return a usage of zero
tokens (nothing is priced); the ``parse`` functions here raise, for hosts that want to
handle it themselves.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from racs.core.accounting import Tokens
from racs.core.errors import ERR_INVALID_INPUT, RacsError
from racs.core.limits import MAX_TOKENS

_DECIMAL: Final = re.compile(r"[0-9]+(?:\.0*)?")
"""A count written as text (OpenTelemetry exporters, CSV exports): plain digits only,
never ``1e3`` or ``-5``; a ``.0`` tail is tolerated."""


class UsageRefused(RacsError):
    """A usage record that breaks the rule: ``field`` names the count, ``reason`` why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(ERR_INVALID_INPUT, f"{field} {reason}")
        self.field = field
        self.reason = reason

    def __reduce__(self) -> Any:
        return (type(self), (self.field, self.reason))


def count(value: Any, name: str, *, text: bool = False) -> int:
    """One count under the rule: ``None`` is 0; ``text`` also accepts digit strings."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise UsageRefused(name, "is not an integer")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UsageRefused(name, "is not finite")
        if not value.is_integer():
            raise UsageRefused(name, "is not an integer")
        n = int(value)
    elif text and isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        n = int(value.strip().split(".", 1)[0])
    else:
        raise UsageRefused(name, "is not an integer")
    if n < 0:
        raise UsageRefused(name, "is negative")
    if n > MAX_TOKENS:
        raise UsageRefused(name, f"is out of bounds (over {MAX_TOKENS:,})")
    return n


def get(obj: Any, *names: str) -> Any:
    """The first present, non-null key (or attribute) among ``names``, else ``None``."""
    if obj is None:
        return None
    for name in names:
        value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _first(obj: Any, prefix: str, *names: str, text: bool = False) -> int:
    """The count of the first present name (refused if it breaks the rule), else 0."""
    for name in names:
        value = get(obj, name)
        if value is not None:
            return count(value, f"{prefix}{name}", text=text)
    return 0


def _mapping(obj: Any, name: str) -> Any:
    if obj is not None and not isinstance(obj, Mapping):
        raise UsageRefused(name, "is not an object")
    return obj


def tokens(
    fresh: int,
    read: int = 0,
    *,
    write_5m: int = 0,
    write_30m: int = 0,
    write_1h: int = 0,
    output: int = 0,
    name: str = "usage",
) -> Tokens:
    """Token classes under the rule: the all-in input must stay within the bound too."""
    if fresh + read + write_5m + write_30m + write_1h > MAX_TOKENS:
        raise UsageRefused(f"{name} input", f"is out of bounds (over {MAX_TOKENS:,})")
    return Tokens(
        fresh=fresh,
        read=read,
        write_5m=write_5m,
        write_30m=write_30m,
        write_1h=write_1h,
        output=output,
    )


def split_writes(total: int, five: int, hour: int, name: str) -> tuple[int, int]:
    """(5m, 1h) writes from a write total and its TTL split (see the module's rule)."""
    if five == 0 and hour == 0:
        return total, 0
    if five + hour != total:
        raise UsageRefused(name, f"does not add up to its total ({five + hour:,} of {total:,})")
    return five, hour


def inclusive(total: int | None, read: int, written: int, name: str) -> int:
    """The uncached part of an input count that INCLUDES the cache reads and writes.

    The parts must fit in the count (else refused, naming ``name``); an absent count
    means the input was all cache (as @takk/racs reads an OpenTelemetry span).
    """
    if total is None:
        return 0
    if read + written > total:
        raise UsageRefused(name, f"is less than its cache reads and writes ({read + written:,})")
    return total - read - written


# --- the wire formats ---------------------------------------------------------------


def anthropic(usage: Any, prefix: str = "usage.") -> Tokens:
    """An Anthropic Messages ``usage`` object: ``input_tokens`` EXCLUDES the cache;
    ``cache_creation`` splits the writes by TTL."""
    if not isinstance(usage, Mapping):
        raise UsageRefused(prefix.rstrip("."), "is not an object")
    fresh = count(usage.get("input_tokens"), f"{prefix}input_tokens")
    read = count(usage.get("cache_read_input_tokens"), f"{prefix}cache_read_input_tokens")
    written = count(
        usage.get("cache_creation_input_tokens"), f"{prefix}cache_creation_input_tokens"
    )
    output = count(usage.get("output_tokens"), f"{prefix}output_tokens")
    split = _mapping(usage.get("cache_creation"), f"{prefix}cache_creation")
    five = count(get(split, "ephemeral_5m_input_tokens"), f"{prefix}cache_creation.5m")
    hour = count(get(split, "ephemeral_1h_input_tokens"), f"{prefix}cache_creation.1h")
    w5m, w1h = split_writes(written, five, hour, f"{prefix}cache_creation")
    return tokens(fresh, read, write_5m=w5m, write_1h=w1h, output=output, name=prefix[:-1])


def openai(usage: Any, *, write_tier: str = "5m", api: str = "chat") -> Tokens:
    """An OpenAI Chat Completions (``api="chat"``) or Responses usage object, and the
    look-alikes (xAI, DeepSeek, Moonshot, OpenRouter): the input count INCLUDES the cached
    tokens. DeepSeek's hit + miss stand in for a missing input count; GPT-5.6+ writes
    (``cache_write_tokens``) land in ``write_tier``."""
    if not isinstance(usage, Mapping):
        raise UsageRefused("usage", "is not an object")
    prompt, out_name, details_name = (
        ("input_tokens", "output_tokens", "input_tokens_details")
        if api == "responses"
        else ("prompt_tokens", "completion_tokens", "prompt_tokens_details")
    )
    details = _mapping(usage.get(details_name), f"usage.{details_name}")
    read = _first(details, f"usage.{details_name}.", "cached_tokens") or _first(
        usage, "usage.", "prompt_cache_hit_tokens", "cache_read_input_tokens"
    )
    written = _first(details, f"usage.{details_name}.", "cache_write_tokens") or _first(
        usage, "usage.", "cache_write_tokens", "cache_creation_input_tokens"
    )
    total: int | None = count(usage.get(prompt), f"usage.{prompt}")
    if not total:
        miss = usage.get("prompt_cache_miss_tokens")  # DeepSeek: hit + miss = prompt
        total = read + count(miss, "usage.prompt_cache_miss_tokens") if miss is not None else total
    output = _first(usage, "usage.", out_name, "output_tokens", "completion_tokens")
    fresh = inclusive(total, read, written, f"usage.{prompt}")
    short = write_tier != "30m"
    return tokens(
        fresh,
        read,
        write_5m=written if short else 0,
        write_30m=0 if short else written,
        output=output,
    )


def gemini(usage: Any) -> Tokens:
    """Gemini ``usage_metadata``: ``prompt_token_count`` INCLUDES the cached content;
    output is the candidates' tokens plus thinking tokens (both billed as output)."""
    if not isinstance(usage, Mapping):
        raise UsageRefused("usage_metadata", "is not an object")
    p = "usage_metadata."
    total = _first(usage, p, "prompt_token_count", "promptTokenCount")
    read = _first(usage, p, "cached_content_token_count", "cachedContentTokenCount")
    output = _first(usage, p, "candidates_token_count", "candidatesTokenCount") + _first(
        usage, p, "thoughts_token_count", "thoughtsTokenCount"
    )
    return tokens(inclusive(total, read, 0, f"{p}prompt_token_count"), read, output=output)


def bedrock(usage: Any) -> Tokens:
    """Bedrock Converse ``usage``: ``inputTokens`` EXCLUDES the cache; ``cacheDetails``
    (``[{ttl, inputTokens}]``) splits the writes by TTL."""
    if not isinstance(usage, Mapping):
        raise UsageRefused("usage", "is not an object")
    fresh = count(usage.get("inputTokens"), "usage.inputTokens")
    read = count(usage.get("cacheReadInputTokens"), "usage.cacheReadInputTokens")
    written = count(usage.get("cacheWriteInputTokens"), "usage.cacheWriteInputTokens")
    output = count(usage.get("outputTokens"), "usage.outputTokens")
    details = usage.get("cacheDetails")
    if details is not None and not isinstance(details, list):
        raise UsageRefused("usage.cacheDetails", "is not a list")
    five = hour = 0
    for i, detail in enumerate(details or ()):
        _mapping(detail, f"usage.cacheDetails[{i}]")
        n = count(get(detail, "inputTokens"), f"usage.cacheDetails[{i}].inputTokens")
        if get(detail, "ttl") == "1h":
            hour += n
        else:
            five += n
    w5m, w1h = split_writes(written, five, hour, "usage.cacheDetails")
    return tokens(fresh, read, write_5m=w5m, write_1h=w1h, output=output)


def codex(usage: Any, prefix: str = "last_token_usage.", write_tier: str = "5m") -> Tokens:
    """A Codex CLI ``token_count`` usage (``info.last_token_usage``): ``input_tokens``
    INCLUDES ``cached_input_tokens``; reasoning is part of ``output_tokens``; newer
    versions add ``cache_write_input_tokens`` (GPT-5.6+ writes: ``write_tier``)."""
    if not isinstance(usage, Mapping):
        raise UsageRefused(prefix.rstrip("."), "is not an object")
    total = count(usage.get("input_tokens"), f"{prefix}input_tokens")
    read = count(usage.get("cached_input_tokens"), f"{prefix}cached_input_tokens")
    written = count(usage.get("cache_write_input_tokens"), f"{prefix}cache_write_input_tokens")
    output = count(usage.get("output_tokens"), f"{prefix}output_tokens")
    fresh = inclusive(total, read, written, f"{prefix}input_tokens")
    short = write_tier != "30m"
    return tokens(
        fresh,
        read,
        write_5m=written if short else 0,
        write_30m=0 if short else written,
        output=output,
    )

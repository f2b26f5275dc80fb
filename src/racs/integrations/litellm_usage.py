"""Reading LiteLLM's usage without importing LiteLLM: shared by the live callback
(``racs.integrations.litellm``) and the log importer (``racs.traffic.litellm``).

LiteLLM normalises every provider to OpenAI-style usage whose ``prompt_tokens`` INCLUDES
the cached tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from racs.core.catalog import reported_write_tier
from racs.core.facts import LITELLM_NAMES, provider_named
from racs.core.model import CacheUsage
from racs.providers.common import count, field, plain

LITELLM_PROVIDERS: Final[Mapping[str, str]] = LITELLM_NAMES
"""LiteLLM ``custom_llm_provider`` values -> racs provider ids (unknown: ``custom``)."""


def provider_of(kwargs: Mapping[str, Any]) -> str:
    """The racs provider id of one LiteLLM call."""
    params = kwargs.get("litellm_params") or {}
    name = kwargs.get("custom_llm_provider") or field(params, "custom_llm_provider")
    return provider_named(name, LITELLM_NAMES)


def is_litellm_cache_hit(kwargs: Mapping[str, Any]) -> bool:
    """True when LiteLLM served the response from its own cache (no provider call)."""
    if kwargs.get("cache_hit"):
        return True
    standard = kwargs.get("standard_logging_object")
    return isinstance(standard, Mapping) and bool(standard.get("cache_hit"))


def usage_from_litellm(
    kwargs: Mapping[str, Any],
    response_obj: Any,
    *,
    prefix_key: str | None = None,
) -> CacheUsage | None:
    """The provider's all-in cache usage of one LiteLLM completion, ``None`` if unknown."""
    usage = plain(field(response_obj, "usage"))
    if not isinstance(usage, Mapping) or field(usage, "prompt_tokens") is None:
        standard = kwargs.get("standard_logging_object")
        metadata = standard.get("metadata") if isinstance(standard, Mapping) else None
        usage = plain(field(metadata, "usage_object"))
    if not isinstance(usage, Mapping) or field(usage, "prompt_tokens") is None:
        return None
    details = field(usage, "prompt_tokens_details")
    read = count(field(details, "cached_tokens")) or count(field(usage, "cache_read_input_tokens"))
    write = count(field(usage, "cache_creation_input_tokens")) or count(
        field(details, "cache_creation_tokens", "cache_write_tokens")
    )
    provider = provider_of(kwargs)
    model = field(response_obj, "model") or kwargs.get("model") or "unknown"
    tier_30m = reported_write_tier(provider, str(model)) == "30m"
    total = count(field(usage, "prompt_tokens"))
    return CacheUsage(
        provider=provider,
        model=str(model),
        input_tokens=max(total, read + write),
        cache_read_tokens=read,
        cache_write_tokens_5m=0 if tier_30m else write,
        cache_write_tokens_30m=write if tier_30m else 0,
        prefix_key=prefix_key,
    )

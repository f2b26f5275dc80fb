"""LiteLLM's usage as a wire format, read without importing LiteLLM: the live callback
(``racs.integrations.litellm``) and the log importer (``racs.traffic.litellm``) share it.

LiteLLM normalises every provider to OpenAI-style usage whose ``prompt_tokens`` INCLUDES
the cached tokens (``prompt_tokens_details.cached_tokens`` or ``cache_read_input_tokens``
read, ``cache_creation_input_tokens`` written). Its logs carry the same object as
``metadata.usage_object`` of the standard logging payload, or only ``prompt_tokens`` and
``metadata.additional_usage_values`` in spend-logs rows (whose CSV export makes every
count text). Counts follow the rule of ``racs.providers.usage``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from racs.core.accounting import Tokens
from racs.core.catalog import reported_write_tier
from racs.core.facts import LITELLM_NAMES, provider_named
from racs.providers.common import field, plain
from racs.providers.usage import UsageRefused, count, get, inclusive, tokens

LITELLM_PROVIDERS: Final[Mapping[str, str]] = LITELLM_NAMES
"""LiteLLM ``custom_llm_provider`` values -> racs provider ids (unknown: ``custom``)."""


@dataclass(frozen=True, slots=True)
class LiteLLMUsage:
    """One LiteLLM call as racs reads it."""

    provider: str
    model: str
    tokens: Tokens


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


def usage_tokens(usage: Mapping[str, Any], *, write_tier: str = "5m", text: bool = False) -> Tokens:
    """Token classes of one LiteLLM usage object (``prompt_tokens`` must be present);
    raises ``UsageRefused``. ``text`` accepts digit strings (CSV exports)."""
    details = get(usage, "prompt_tokens_details")
    if details is not None and not isinstance(details, Mapping):
        raise UsageRefused("usage.prompt_tokens_details", "is not an object")

    def first(obj: Any, prefix: str, *names: str) -> int:
        for name in names:
            value = get(obj, name)
            if value is not None:
                return count(value, prefix + name, text=text)
        return 0

    total = count(get(usage, "prompt_tokens"), "prompt_tokens", text=text)
    read = first(details, "usage.prompt_tokens_details.", "cached_tokens") or first(
        usage, "usage.", "cache_read_input_tokens"
    )
    written = first(usage, "usage.", "cache_creation_input_tokens") or first(
        details, "usage.prompt_tokens_details.", "cache_creation_tokens", "cache_write_tokens"
    )
    output = first(usage, "", "completion_tokens")
    fresh = inclusive(total, read, written, "prompt_tokens")
    short = write_tier != "30m"
    return tokens(
        fresh,
        read,
        write_5m=written if short else 0,
        write_30m=0 if short else written,
        output=output,
    )


def litellm_usage(kwargs: Mapping[str, Any], response_obj: Any) -> LiteLLMUsage | None:
    """One completion's usage from a callback's ``kwargs`` and response (``None`` when it
    reports none); raises ``UsageRefused``."""
    usage = plain(field(response_obj, "usage"))
    if not isinstance(usage, Mapping) or field(usage, "prompt_tokens") is None:
        standard = kwargs.get("standard_logging_object")
        metadata = standard.get("metadata") if isinstance(standard, Mapping) else None
        usage = plain(field(metadata, "usage_object"))
    if not isinstance(usage, Mapping) or field(usage, "prompt_tokens") is None:
        return None
    provider = provider_of(kwargs)
    model = str(field(response_obj, "model") or kwargs.get("model") or "unknown")
    tier = reported_write_tier(provider, model)
    return LiteLLMUsage(provider, model, usage_tokens(usage, write_tier=tier))


def mapping(value: Any) -> Mapping[str, Any]:
    """A mapping, or one written as JSON text (spend-logs exports), else empty."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return {}
        return parsed if isinstance(parsed, Mapping) else {}
    return {}


def logged_usage(row: Mapping[str, Any]) -> LiteLLMUsage:
    """The usage of one logged call: a standard logging payload or a spend-logs row
    (JSON or CSV); raises ``UsageRefused`` (naming ``prompt_tokens`` when it is missing)."""
    metadata = mapping(row.get("metadata"))
    usage = mapping(metadata.get("usage_object"))
    if (not usage or get(usage, "prompt_tokens") is None) and row.get("prompt_tokens") in (
        None,
        "",
    ):
        raise UsageRefused("prompt_tokens", "is missing")
    model = row.get("model")
    if not isinstance(model, str) or not model:
        raise UsageRefused("model", "is missing")
    provider = provider_of({"custom_llm_provider": row.get("custom_llm_provider")})
    tier = reported_write_tier(provider, model)
    if not usage or get(usage, "prompt_tokens") is None:
        usage = {
            **mapping(metadata.get("additional_usage_values")),
            "prompt_tokens": row.get("prompt_tokens"),
        }
    completion = row.get("completion_tokens")
    if completion not in (None, ""):
        usage = {**usage, "completion_tokens": completion}
    return LiteLLMUsage(provider, model, usage_tokens(usage, write_tier=tier, text=True))

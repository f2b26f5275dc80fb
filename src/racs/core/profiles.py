"""The shipped provider profiles: 16 providers over the 4 adapter families.

Numbers are research snapshots (engine.md section 3), overridable per engine. Per-model
refinements live in the model catalog (``racs.core.catalog``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass, replace
from typing import Any, Final

from racs.core.errors import invalid
from racs.core.limits import number
from racs.core.model import FAMILIES, ProviderProfile, camel
from racs.core.tiers import known as known_tier

_BREAKPOINT: Final[dict[str, Any]] = {
    "family": "breakpoint",
    "min_cacheable_tokens": 1024,
    "max_breakpoints": 4,
    "ttls": ("5m", "1h"),
    "write_multiplier_5m": 1.25,
    "write_multiplier_1h": 2.0,
    "read_multiplier": 0.1,
}

_SHIPPED: Final[dict[str, dict[str, Any]]] = {
    "anthropic": {
        **_BREAKPOINT,
        "lookback_positions": 20,
        "notes": "Anthropic cache_control: at most 4 breakpoints; 5m TTL refreshed free on "
        "every hit, 1h for 2x; each breakpoint looks back at most 20 blocks.",
    },
    "bedrock": {
        **_BREAKPOINT,
        "lookback_positions": 20,
        "notes": "Bedrock Converse cachePoint blocks in system, messages and tools; at most 4.",
    },
    "microsoft-foundry": {
        **_BREAKPOINT,
        "notes": "Claude on Microsoft Foundry follows Anthropic's cache_control semantics.",
    },
    "hermes": {
        **_BREAKPOINT,
        "notes": "Hermes serves Anthropic-style cache_control breakpoints.",
    },
    "openai": {
        "family": "routing-key",
        "min_cacheable_tokens": 1024,
        "read_multiplier": 0.25,
        "supports_retention": True,
        "retention_options": ("in_memory", "24h"),
        "notes": "OpenAI caches automatically above 1024 tokens in 128-token steps; "
        "prompt_cache_key steers routing, prompt_cache_retention='24h' extends retention.",
    },
    "xai": {
        "family": "routing-key",
        "min_cacheable_tokens": 1024,
        "read_multiplier": 0.16,
        "notes": "xAI caches automatically with no write fee; route with prompt_cache_key "
        "or the x-grok-conv-id header.",
    },
    "mistral": {
        "family": "routing-key",
        "min_cacheable_tokens": 64,
        "read_multiplier": 0.1,
        "notes": "Mistral caching is opt-in through prompt_cache_key.",
    },
    "openrouter": {
        "family": "routing-key",
        "min_cacheable_tokens": 1024,
        "read_multiplier": 0.25,
        "notes": "OpenRouter routes to the upstream provider's cache; usage reports "
        "cached_tokens, cache_write_tokens and a cache_discount.",
    },
    "moonshot": {
        "family": "routing-key",
        "min_cacheable_tokens": 1024,
        "read_multiplier": 0.25,
        "notes": "Moonshot/Kimi caches automatically on K2 and newer.",
    },
    "google": {
        "family": "resource",
        "min_cacheable_tokens": 2048,
        "read_multiplier": 0.1,
        "storage_per_mtok_hour": 1.0,
        "notes": "Gemini cachedContents: create, reuse, refresh (update ttl), delete; "
        "storage is billed per token-hour; a request using a cache must not resend "
        "system_instruction, tools or tool_config.",
    },
    "groq": {
        "family": "passive",
        "min_cacheable_tokens": 128,
        "read_multiplier": 0.5,
        "notes": "Groq caches automatically on a few models; entries expire after 2h idle.",
    },
    "deepseek": {
        "family": "passive",
        "read_multiplier": 0.1,
        "notes": "DeepSeek caches automatically; prompt_cache_hit_tokens + "
        "prompt_cache_miss_tokens = prompt_tokens.",
    },
    "ollama": {"family": "passive", "notes": "Ollama reuses its KV cache locally."},
    "lmstudio": {"family": "passive", "notes": "LM Studio reuses its KV cache locally."},
    "huggingface": {
        "family": "passive",
        "notes": "Hugging Face inference endpoints expose no cache control.",
    },
    "custom": {
        "family": "passive",
        "notes": "Custom provider: describe it with the profiles option.",
    },
}

SHIPPED_PROFILES: Final[Mapping[str, ProviderProfile]] = {
    pid: ProviderProfile(id=pid, **values) for pid, values in _SHIPPED.items()
}


def merge_profile(base: ProviderProfile, overrides: Mapping[str, Any]) -> ProviderProfile:
    """Shallow-merge validated snake_case overrides over a profile (``id`` is kept)."""
    if not overrides:
        return base
    values = {k: v for k, v in overrides.items() if k not in ("id",)}
    try:
        return replace(base, **values)
    except TypeError as exc:  # an unknown field slipped past validation
        raise invalid(f"profile override for {base.id}: {exc}") from None


def profile_overrides(raw: Any, name: str) -> dict[str, Any]:
    """Validate a partial profile (either spelling) into snake_case field overrides."""
    if raw is None:
        return {}
    if is_dataclass(raw) and not isinstance(raw, type):
        raw = {
            f.name: getattr(raw, f.name) for f in fields(raw) if getattr(raw, f.name) is not None
        }
    if not isinstance(raw, Mapping):
        raise invalid(f"{name} must be an object of profile fields")
    known = {f.name: f.name for f in fields(ProviderProfile)}
    known.update({camel(f.name): f.name for f in fields(ProviderProfile)})
    out: dict[str, Any] = {}
    for key, value in raw.items():
        field_name = known.get(key)
        if field_name is None:
            raise invalid(f"{name}.{key} is not a profile field")
        if field_name == "id":
            continue  # a profile's identity is not overridable
        where = f"{name}.{key}"
        if value is None:
            continue  # an explicit null leaves the value below it, as @takk/racs merges
        if field_name == "family":
            if value not in FAMILIES:
                raise invalid(f"{where} must be one of {', '.join(FAMILIES)}, got {value!r}")
            out[field_name] = value
        elif field_name in ("ttls", "retention_options"):
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise invalid(f"{where} must be an array of strings")
            for ttl in value:
                if field_name == "ttls" and not known_tier(ttl):
                    raise invalid(f"{where} has unknown TTL tier {ttl!r}")
            out[field_name] = tuple(str(v) for v in value)
        elif field_name in ("supports_retention", "bills_writes", "routing_key"):
            if not isinstance(value, bool):
                raise invalid(f"{where} must be a boolean")
            out[field_name] = value
        elif field_name == "notes":
            if not isinstance(value, str):
                raise invalid(f"{where} must be a string")
            out[field_name] = value
        elif field_name in ("min_cacheable_tokens", "max_breakpoints", "lookback_positions"):
            number(value, where)
            out[field_name] = int(value)
        else:
            out[field_name] = number(value, where)
    return out

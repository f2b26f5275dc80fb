"""Every provider racs knows, one record each: its cache terms and how others name it.

A record holds what any surface needs about a provider and nothing else does: the shipped
cache profile (family, tiers, minimum, multipliers, retention, step, storage; research
snapshots of engine.md section 3 and providers.md, overridable per engine and refined per
model by the catalog), the provider id of the bundled price database, the names
OpenTelemetry GenAI spans and LiteLLM give it, the model ``racs simulate`` plans for it and
the wire format of its API. Adding a provider is one record here (plus, only when its API
is new, one adapter module under ``racs.providers``); ``tests/architecture`` checks that
no other module writes a provider fact as a literal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from racs.core.model import ProviderProfile

MINUTE: Final = 60
HOUR: Final = 3600


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider: its shipped cache profile and its names elsewhere."""

    id: str
    profile: ProviderProfile
    """The shipped cache terms (the catalog refines them per model)."""
    price_db: str | None
    """Provider id in the bundled ``genai-prices`` database (``None``: never priced by a
    model name, as for local runtimes and custom providers)."""
    telemetry_names: tuple[str, ...]
    """``gen_ai.provider.name`` / ``gen_ai.system`` / OpenInference values naming it."""
    litellm_names: tuple[str, ...]
    """LiteLLM ``custom_llm_provider`` values naming it."""
    demo_model: str
    """The model ``racs simulate --provider`` plans for it."""
    wire: str
    """Its API's wire format: ``anthropic``, ``openai``, ``gemini``, ``bedrock`` or
    ``none`` (local runtimes and custom providers: no usage format of their own)."""
    demo_card: Mapping[str, float] | None = None
    """Illustrative list prices (USD per MTok) ``racs simulate`` passes as its host's card
    when this provider represents its family (not a quote; the price book has the real
    ones)."""


_BREAKPOINT: Final[dict[str, Any]] = {
    "family": "breakpoint",
    "min_cacheable_tokens": 1024,
    "max_breakpoints": 4,
    "ttls": ("5m", "1h"),
    "write_multiplier_5m": 1.25,
    "write_multiplier_1h": 2.0,
    "read_multiplier": 0.1,
    "step_tokens": 1,
}


def _record(
    pid: str,
    profile: Mapping[str, Any],
    *,
    price_db: str | None,
    telemetry: tuple[str, ...] = (),
    litellm: tuple[str, ...] = (),
    demo_model: str,
    wire: str,
    demo_card: Mapping[str, float] | None = None,
) -> Provider:
    names = tuple(dict.fromkeys((pid, *telemetry)))
    return Provider(
        pid,
        ProviderProfile(id=pid, **profile),
        price_db,
        names,
        tuple(dict.fromkeys(litellm)),
        demo_model,
        wire,
        demo_card,
    )


RECORDS: Final[tuple[Provider, ...]] = (
    _record(
        "anthropic",
        {
            **_BREAKPOINT,
            "lookback_positions": 20,
            "notes": "Anthropic cache_control: at most 4 breakpoints; 5m TTL refreshed free on "
            "every hit, 1h for 2x; each breakpoint looks back at most 20 blocks.",
        },
        price_db="anthropic",
        litellm=("anthropic",),
        demo_model="claude-sonnet-4-5",
        wire="anthropic",
        demo_card={
            "inputPerMTok": 3.0,
            "cacheReadPerMTok": 0.3,
            "cacheWrite5mPerMTok": 3.75,
            "cacheWrite1hPerMTok": 6.0,
            "outputPerMTok": 15.0,
        },
    ),
    _record(
        "openai",
        {
            "family": "routing-key",
            "min_cacheable_tokens": 1024,
            "read_multiplier": 0.25,
            "supports_retention": True,
            "retention_options": ("in_memory", "24h"),
            "step_tokens": 128,
            # providers.md: in-memory retention is 5-10 minutes idle and at most an hour.
            "idle_retention_seconds": 10 * MINUTE,
            "idle_retention_min_seconds": 5 * MINUTE,
            "max_retention_seconds": HOUR,
            "extended_retention_seconds": 24 * HOUR,
            "notes": "OpenAI caches automatically above 1024 tokens in 128-token steps; "
            "prompt_cache_key steers routing, prompt_cache_retention='24h' extends retention.",
        },
        price_db="openai",
        telemetry=("azure.ai.openai", "az.ai.openai", "azure"),
        litellm=("openai", "azure", "text-completion-openai"),
        demo_model="gpt-4.1",
        wire="openai",
        demo_card={"inputPerMTok": 2.0, "cacheReadPerMTok": 0.5, "outputPerMTok": 8.0},
    ),
    _record(
        "google",
        {
            "family": "resource",
            "min_cacheable_tokens": 2048,
            "read_multiplier": 0.1,
            "storage_per_mtok_hour": 1.0,
            "step_tokens": 1,
            # Implicit caching (2.5 and newer) keeps an entry about 5 minutes idle
            # (undocumented; racs's reading), explicit cachedContents live their TTL.
            "idle_retention_seconds": 5 * MINUTE,
            "resource_ttls": (
                5 * MINUTE,
                10 * MINUTE,
                20 * MINUTE,
                30 * MINUTE,
                HOUR,
                2 * HOUR,
                6 * HOUR,
                24 * HOUR,
            ),
            "notes": "Gemini cachedContents: create, reuse, refresh (update ttl), delete; "
            "storage is billed per token-hour; a request using a cache must not resend "
            "system_instruction, tools or tool_config.",
        },
        price_db="google",
        telemetry=("gcp.gemini", "gcp.vertex_ai", "gcp.gen_ai", "vertex_ai", "gemini"),
        litellm=("gemini", "vertex_ai", "vertex_ai_beta"),
        demo_model="gemini-2.5-pro",
        wire="gemini",
        demo_card={
            "inputPerMTok": 1.25,
            "cacheReadPerMTok": 0.125,
            "storagePerMTokHour": 4.5,
            "outputPerMTok": 10.0,
        },
    ),
    _record(
        "bedrock",
        {
            **_BREAKPOINT,
            "lookback_positions": 20,
            "notes": "Bedrock Converse cachePoint blocks in system, messages and tools; at most 4.",
        },
        price_db="aws",
        telemetry=("aws.bedrock", "aws"),
        litellm=("bedrock", "bedrock_converse"),
        demo_model="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        wire="bedrock",
    ),
    _record(
        "xai",
        {
            "family": "routing-key",
            "min_cacheable_tokens": 1024,
            "read_multiplier": 0.16,
            "step_tokens": 128,
            "idle_retention_seconds": 10 * MINUTE,
            "idle_retention_min_seconds": 5 * MINUTE,
            "max_retention_seconds": HOUR,
            "notes": "xAI caches automatically with no write fee; route with prompt_cache_key "
            "or the x-grok-conv-id header.",
        },
        price_db="x-ai",
        telemetry=("x_ai",),
        litellm=("xai",),
        demo_model="grok-4",
        wire="openai",
    ),
    _record(
        "groq",
        {
            "family": "passive",
            "min_cacheable_tokens": 128,
            "read_multiplier": 0.5,
            "step_tokens": 1,
            "idle_retention_seconds": 2 * HOUR,  # providers.md: entries expire after 2 h idle
            "notes": "Groq caches automatically on a few models; entries expire after 2h idle.",
        },
        price_db="groq",
        litellm=("groq",),
        demo_model="llama-3.3-70b-versatile",
        wire="openai",
    ),
    _record(
        "deepseek",
        {
            "family": "passive",
            "read_multiplier": 0.1,
            "step_tokens": 64,
            "idle_retention_seconds": HOUR,
            "notes": "DeepSeek caches automatically; prompt_cache_hit_tokens + "
            "prompt_cache_miss_tokens = prompt_tokens.",
        },
        price_db="deepseek",
        litellm=("deepseek",),
        demo_model="deepseek-chat",
        wire="openai",
        demo_card={"inputPerMTok": 0.28, "cacheReadPerMTok": 0.028, "outputPerMTok": 0.42},
    ),
    _record(
        "mistral",
        {
            "family": "routing-key",
            "min_cacheable_tokens": 64,
            "read_multiplier": 0.1,
            "step_tokens": 128,
            "idle_retention_seconds": 10 * MINUTE,
            "idle_retention_min_seconds": 5 * MINUTE,
            "max_retention_seconds": HOUR,
            "notes": "Mistral caching is opt-in through prompt_cache_key.",
        },
        price_db="mistral",
        telemetry=("mistral_ai", "mistralai"),
        litellm=("mistral",),
        demo_model="mistral-large-latest",
        wire="openai",
    ),
    _record(
        "openrouter",
        {
            "family": "routing-key",
            "min_cacheable_tokens": 1024,
            "read_multiplier": 0.25,
            "step_tokens": 128,
            "idle_retention_seconds": 10 * MINUTE,
            "idle_retention_min_seconds": 5 * MINUTE,
            "max_retention_seconds": HOUR,
            "notes": "OpenRouter routes to the upstream provider's cache; usage reports "
            "cached_tokens, cache_write_tokens and a cache_discount.",
        },
        price_db="openrouter",
        litellm=("openrouter",),
        demo_model="openai/gpt-4.1",
        wire="openai",
    ),
    _record(
        "moonshot",
        {
            "family": "routing-key",
            "min_cacheable_tokens": 1024,
            "read_multiplier": 0.25,
            "step_tokens": 128,
            "idle_retention_seconds": 10 * MINUTE,
            "idle_retention_min_seconds": 5 * MINUTE,
            "max_retention_seconds": HOUR,
            "notes": "Moonshot/Kimi caches automatically on K2 and newer.",
        },
        price_db="moonshotai",
        litellm=("moonshot",),
        demo_model="kimi-k2",
        wire="openai",
    ),
    _record(
        "ollama",
        {
            "family": "passive",
            "step_tokens": 1,
            "idle_retention_seconds": HOUR,
            "notes": "Ollama reuses its KV cache locally.",
        },
        price_db=None,
        litellm=("ollama", "ollama_chat"),
        demo_model="llama3.1:8b",
        wire="none",
    ),
    _record(
        "lmstudio",
        {
            "family": "passive",
            "step_tokens": 1,
            "idle_retention_seconds": HOUR,
            "notes": "LM Studio reuses its KV cache locally.",
        },
        price_db=None,
        litellm=("lm_studio",),
        demo_model="qwen2.5-7b-instruct",
        wire="none",
    ),
    _record(
        "huggingface",
        {
            "family": "passive",
            "step_tokens": 1,
            "idle_retention_seconds": HOUR,
            "notes": "Hugging Face inference endpoints expose no cache control.",
        },
        price_db=None,
        litellm=("huggingface",),
        demo_model="meta-llama/Llama-3.1-8B-Instruct",
        wire="none",
    ),
    _record(
        "microsoft-foundry",
        {
            **_BREAKPOINT,
            "notes": "Claude on Microsoft Foundry follows Anthropic's cache_control semantics.",
        },
        price_db="azure",
        telemetry=("azure.ai.inference",),
        demo_model="claude-sonnet-4-5",
        wire="anthropic",
    ),
    _record(
        "hermes",
        {**_BREAKPOINT, "notes": "Hermes serves Anthropic-style cache_control breakpoints."},
        price_db=None,
        demo_model="hermes-4-405b",
        wire="anthropic",
    ),
    _record(
        "custom",
        {
            "family": "passive",
            "step_tokens": 1,
            "idle_retention_seconds": HOUR,
            "notes": "Custom provider: describe it with the profiles option.",
        },
        price_db=None,
        demo_model="custom-model",
        wire="none",
    ),
)
"""The sixteen providers, in the order racs has always listed them."""

PROVIDER: Final[Mapping[str, Provider]] = {r.id: r for r in RECORDS}
PROVIDERS: Final[tuple[str, ...]] = tuple(PROVIDER)
"""Every provider id racs accepts."""


def _names(field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for record in RECORDS:
        for name in getattr(record, field):
            out.setdefault(name.lower(), record.id)
    return out


TELEMETRY_NAMES: Final[Mapping[str, str]] = _names("telemetry_names")
"""Telemetry provider values -> racs provider ids."""
LITELLM_NAMES: Final[Mapping[str, str]] = _names("litellm_names")
"""LiteLLM ``custom_llm_provider`` values -> racs provider ids."""


def provider_named(name: object, names: Mapping[str, str]) -> str:
    """The racs id of a provider named ``name`` in some vocabulary (``custom`` if unknown)."""
    if not isinstance(name, str) or not name:
        return "custom"
    key = name.strip().lower()
    return names.get(key) or (key if key in PROVIDER else "custom")

"""racs: prompt-cache planning for LLM agents, and an immutable run ledger.

The public surface. Names load on first use (``import racs`` costs almost nothing, so a
command pays only for what it touches); the table below says where each one lives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from racs import _aliases

if TYPE_CHECKING:
    from racs.core.errors import RacsError
    from racs.core.keys import blake2b64, combine, fnv1a64
    from racs.core.model import (
        BreakEven,
        BreakpointDirective,
        CacheDirective,
        CachePlan,
        CacheStats,
        CacheUsage,
        DriftReport,
        ExpectedReuse,
        LedgerStats,
        LimitReached,
        LintFinding,
        NoneDirective,
        PlanCreated,
        PlanInput,
        PrefixDrifted,
        PrefixStats,
        Pricing,
        PromptSegment,
        ProviderProfile,
        RefreshDue,
        RefreshEntry,
        ResourceAction,
        ResourceDirective,
        RoutingKeyDirective,
        StateDegraded,
        StateRestored,
        TelemetryEvent,
        UsageRecorded,
    )
    from racs.core.reference import PROVIDER_PROFILES, estimate_tokens, resolve_profile
    from racs.engine import Racs, create_racs, create_racs_async
    from racs.state import file_state, kv_state, memory_state, redis_state

__version__ = "0.1.0"

_HOME: Final[dict[str, str]] = {
    "BreakEven": "racs.core.model",
    "BreakpointDirective": "racs.core.model",
    "CacheDirective": "racs.core.model",
    "CachePlan": "racs.core.model",
    "CacheStats": "racs.core.model",
    "CacheUsage": "racs.core.model",
    "DriftReport": "racs.core.model",
    "ExpectedReuse": "racs.core.model",
    "LedgerStats": "racs.core.model",
    "LimitReached": "racs.core.model",
    "LintFinding": "racs.core.model",
    "NoneDirective": "racs.core.model",
    "PROVIDER_PROFILES": "racs.core.reference",
    "PlanCreated": "racs.core.model",
    "PlanInput": "racs.core.model",
    "PrefixDrifted": "racs.core.model",
    "PrefixStats": "racs.core.model",
    "Pricing": "racs.core.model",
    "PromptSegment": "racs.core.model",
    "ProviderProfile": "racs.core.model",
    "Racs": "racs.engine",
    "RacsError": "racs.core.errors",
    "RefreshDue": "racs.core.model",
    "RefreshEntry": "racs.core.model",
    "ResourceAction": "racs.core.model",
    "ResourceDirective": "racs.core.model",
    "RoutingKeyDirective": "racs.core.model",
    "StateDegraded": "racs.core.model",
    "StateRestored": "racs.core.model",
    "TelemetryEvent": "racs.core.model",
    "UsageRecorded": "racs.core.model",
    "blake2b64": "racs.core.keys",
    "combine": "racs.core.keys",
    "create_racs": "racs.engine",
    "create_racs_async": "racs.engine",
    "estimate_tokens": "racs.core.reference",
    "file_state": "racs.state",
    "fnv1a64": "racs.core.keys",
    "kv_state": "racs.state",
    "memory_state": "racs.state",
    "redis_state": "racs.state",
    "resolve_profile": "racs.core.reference",
}

__all__ = [
    "PROVIDER_PROFILES",
    "BreakEven",
    "BreakpointDirective",
    "CacheDirective",
    "CachePlan",
    "CacheStats",
    "CacheUsage",
    "DriftReport",
    "ExpectedReuse",
    "LedgerStats",
    "LimitReached",
    "LintFinding",
    "NoneDirective",
    "PlanCreated",
    "PlanInput",
    "PrefixDrifted",
    "PrefixStats",
    "Pricing",
    "PromptSegment",
    "ProviderProfile",
    "Racs",
    "RacsError",
    "RefreshDue",
    "RefreshEntry",
    "ResourceAction",
    "ResourceDirective",
    "RoutingKeyDirective",
    "StateDegraded",
    "StateRestored",
    "TelemetryEvent",
    "UsageRecorded",
    "__version__",
    "blake2b64",
    "combine",
    "create_racs",
    "create_racs_async",
    "estimate_tokens",
    "file_state",
    "fnv1a64",
    "kv_state",
    "memory_state",
    "redis_state",
    "resolve_profile",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'racs' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


_aliases.install()

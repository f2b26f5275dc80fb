"""Profile resolution: shipped profiles, the model catalog and the host's overrides."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from racs.core.errors import invalid
from racs.core.facts import PROVIDERS
from racs.core.model import ProviderProfile
from racs.core.profiles import SHIPPED_PROFILES, merge_profile, profile_overrides

_CACHE_LIMIT = 4096


class Profiles:
    """The effective profile of each (provider, model), computed once and cached."""

    def __init__(
        self,
        profiles: Mapping[str, Any] | None = None,
        model_profiles: Mapping[str, Any] | None = None,
        catalog: Any = None,
    ) -> None:
        self._provider_overrides = parse_profiles(profiles)
        self._model_overrides = parse_model_profiles(model_profiles)
        self._catalog = load_catalog(catalog)
        self._cache: dict[tuple[str, str | None], ProviderProfile] = {}
        self._lock = threading.Lock()

    def profile_of(self, provider: str, model: str | None = None) -> ProviderProfile:
        """The effective profile: shipped values, host overrides, then per-model refinements.

        Layers, later ones winning: the shipped provider profile, the model catalog
        entry, the host's ``profiles`` override, the host's ``model_profiles`` override.
        """
        cache_key = (provider, model)
        profile = self._cache.get(cache_key)
        if profile is not None:
            return profile
        base = SHIPPED_PROFILES.get(provider)
        if base is None:
            raise invalid(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
        profile = base
        if model is not None and self._catalog is not None:
            profile = self._catalog.refine(profile, model)
        profile = merge_profile(profile, self._provider_overrides.get(provider, {}))
        if model is not None:
            for pattern, overrides in self._model_overrides:
                if matches(pattern, model):
                    profile = merge_profile(profile, overrides)
        with self._lock:
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            self._cache[cache_key] = profile
        return profile

    def known(self, provider: str, model: str) -> ProviderProfile | None:
        """The effective profile, or None for a provider racs has no profile for."""
        if provider not in SHIPPED_PROFILES:
            return None
        return self.profile_of(provider, model)


def parse_profiles(profiles: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The host's per-provider overrides, validated."""
    if profiles is None:
        return {}
    if not isinstance(profiles, Mapping):
        raise invalid("profiles must map provider ids to partial profiles")
    out = {}
    for provider, raw in profiles.items():
        if provider not in PROVIDERS:
            raise invalid(f"profiles: unknown provider {provider!r}")
        out[provider] = profile_overrides(raw, f"profiles[{provider!r}]")
    return out


def parse_model_profiles(raw: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """The host's per-model overrides (ids or patterns ending in ``*``), in order."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise invalid("model_profiles must map model ids or patterns (ending in *) to profiles")
    return [
        (str(pattern), profile_overrides(v, f"model_profiles[{pattern!r}]"))
        for pattern, v in raw.items()
    ]


def load_catalog(catalog: Any) -> Any:
    """The model catalog: the shipped one, extended by the host's, or None (``False``)."""
    if catalog is False:
        return None
    try:
        from racs.core.catalog import Catalog, default_catalog
    except ImportError:  # pragma: no cover - the catalog ships with racs
        return None
    if catalog is None:
        return default_catalog()
    if isinstance(catalog, Catalog):
        return catalog
    return default_catalog().extended(catalog)


def matches(pattern: str, model: str) -> bool:
    """Whether a ``model_profiles`` key names ``model`` (``prefix*`` or the exact id)."""
    if pattern.endswith("*"):
        return model.startswith(pattern[:-1])
    return pattern == model

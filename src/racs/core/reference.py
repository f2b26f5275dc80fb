"""The reference's stateless helpers under Python names: profiles and token estimates.

``@takk/racs`` exports ``PROVIDER_PROFILES``, ``resolveProfile`` and ``estimateTokens``;
these are their equivalents, so a migrating host finds them without building an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from racs.core.catalog import default_profile_of
from racs.core.errors import invalid
from racs.core.model import ProviderProfile
from racs.core.profiles import SHIPPED_PROFILES

PROVIDER_PROFILES: Final[Mapping[str, ProviderProfile]] = MappingProxyType(dict(SHIPPED_PROFILES))
"""Every shipped provider profile by provider id (read-only)."""


def resolve_profile(provider: str, model: str | None = None) -> ProviderProfile:
    """The profile racs plans ``provider``/``model`` with by default (catalog refinements in).

    An engine's ``profile_of`` adds the host's own overrides on top of this.
    """
    if model is None:
        profile = SHIPPED_PROFILES.get(provider)
    else:
        profile = default_profile_of(provider, model)
    if profile is None:
        raise invalid(f"unknown provider {provider!r}; one of {', '.join(SHIPPED_PROFILES)}")
    return profile


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as JavaScript counts it (token estimates match @takk/racs)."""
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def estimate_tokens(text: str) -> int:
    """The default token estimate of a segment without a tokenizer: ceil(UTF-16 units / 4)."""
    return -(-utf16_length(text) // 4)

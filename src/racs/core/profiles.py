"""The shipped provider profiles: 16 providers over the 4 adapter families.

Numbers are research snapshots (engine.md section 3), overridable per engine. Per-model
refinements live in the model catalog (``racs.core.catalog``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass, replace
from typing import Any, Final

from racs.core.errors import invalid
from racs.core.facts import RECORDS
from racs.core.limits import number
from racs.core.model import FAMILIES, ProviderProfile, camel
from racs.core.tiers import known as known_tier

SHIPPED_PROFILES: Final[Mapping[str, ProviderProfile]] = {r.id: r.profile for r in RECORDS}
"""Each provider's shipped profile (``racs.core.facts`` holds them, one record each)."""


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
        elif field_name == "resource_ttls":
            if isinstance(value, str) or not isinstance(value, Sequence) or not value:
                raise invalid(f"{where} must be a non-empty array of seconds")
            out[field_name] = tuple(float(number(v, f"{where}[]") or 0) for v in value)
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
        elif field_name in (
            "min_cacheable_tokens",
            "max_breakpoints",
            "lookback_positions",
            "step_tokens",
        ):
            number(value, where)
            out[field_name] = int(value)
        else:
            out[field_name] = number(value, where)
    return out

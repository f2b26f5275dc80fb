"""The model catalog: per-model refinements of the provider profiles, as data.

Entries live in ``catalog.json`` (shipped with racs), each with the providers it applies
to, the model ids it matches, the profile fields it refines and where the facts were read.
Hosts extend or override it; an unknown model keeps the provider profile unchanged.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from racs.core.errors import invalid
from racs.core.facts import PROVIDERS
from racs.core.model import ProviderProfile
from racs.core.profiles import SHIPPED_PROFILES, merge_profile, profile_overrides
from racs.core.tiers import DEFAULT_TIER, seconds_of

# Routing prefixes ("models/", "anthropic/"), Bedrock's region and vendor prefixes, and
# version/date suffixes are not part of a model's identity for caching terms.
_ROUTE_PREFIX: Final = re.compile(r"^(?:models/|[a-z0-9_.-]+/(?=[a-z]))")
_BEDROCK_PREFIX: Final = re.compile(r"^(?:(?:us|eu|apac|global|jp|au|us-gov)\.)?anthropic\.")
_VERSION_SUFFIX: Final = re.compile(r"-v\d+(?::\d+)?$")
_DATE_SUFFIX: Final = re.compile(r"[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|latest)$")


def normalize_model(model: str) -> str:
    """The part of a model id that decides its caching terms (lowercase, no snapshot date)."""
    name = model.strip().lower()
    name = _BEDROCK_PREFIX.sub("", name)
    name = _VERSION_SUFFIX.sub("", name)
    name = _DATE_SUFFIX.sub("", name)
    return name


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One refinement: which providers and model ids it covers, what it changes, and why."""

    id: str
    providers: tuple[str, ...]
    match: tuple[str, ...]
    refine: Mapping[str, Any]
    source: str
    checked: str

    def score(self, provider: str, model: str) -> float:
        """How specifically this entry matches (0: not at all); longer patterns win."""
        if provider not in self.providers:
            return 0
        candidates = {model, normalize_model(model)}
        stripped = _ROUTE_PREFIX.sub("", normalize_model(model))
        candidates.add(stripped)
        best = 0.0
        for pattern in self.match:
            for name in candidates:
                if pattern.endswith("*"):
                    if name.startswith(pattern[:-1]):
                        best = max(best, len(pattern) - 1)
                elif name == pattern:
                    best = max(best, len(pattern) + 0.5)
        return best

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        from racs.core.model import camel

        return {
            "id": self.id,
            "providers": list(self.providers),
            "match": list(self.match),
            "refine": {
                camel(k): list(v) if isinstance(v, tuple) else v for k, v in self.refine.items()
            },
            "source": self.source,
            "checked": self.checked,
        }


class Catalog:
    """An ordered set of entries; later entries win ties, so host additions override."""

    def __init__(self, entries: Iterable[CatalogEntry], checked: str) -> None:
        self.entries: tuple[CatalogEntry, ...] = tuple(entries)
        self.checked = checked

    def lookup(self, provider: str, model: str) -> CatalogEntry | None:
        """The most specific entry for a model of a provider, if any."""
        best: CatalogEntry | None = None
        best_score = 0.0
        for entry in self.entries:
            score = entry.score(provider, model)
            if score and score >= best_score:
                best, best_score = entry, score
        return best

    def refine(self, profile: ProviderProfile, model: str) -> ProviderProfile:
        """The profile refined by the model's entry; unchanged for unknown models."""
        entry = self.lookup(profile.id, model)
        if entry is None:
            return profile
        refined = merge_profile(profile, entry.refine)
        return merge_profile(refined, {"catalog_entry": entry.id})

    def extended(self, extra: Any) -> Catalog:
        """A catalog with the host's entries added (they win over shipped ones)."""
        if isinstance(extra, Catalog):
            added: Sequence[CatalogEntry] = extra.entries
        else:
            added = parse_entries(extra, self.checked)
        return Catalog((*self.entries, *added), self.checked)


def parse_entries(raw: Any, checked: str) -> list[CatalogEntry]:
    """Validate catalog entries (a list, or a catalog document with ``entries``)."""
    if isinstance(raw, Mapping):
        checked = str(raw.get("checked", checked))
        raw = raw.get("entries")
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise invalid("catalog entries must be an array of objects")
    entries = []
    for i, item in enumerate(raw):
        where = f"catalog.entries[{i}]"
        if not isinstance(item, Mapping):
            raise invalid(f"{where} must be an object")
        entry_id = item.get("id")
        if not isinstance(entry_id, str) or not entry_id:
            raise invalid(f"{where}.id must be a non-empty string")
        providers = item.get("providers")
        if isinstance(providers, str) or not isinstance(providers, Sequence) or not providers:
            raise invalid(f"{where}.providers must be a non-empty array of provider ids")
        for p in providers:
            if p not in PROVIDERS:
                raise invalid(f"{where}.providers has unknown provider {p!r}")
        match = item.get("match")
        if isinstance(match, str) or not isinstance(match, Sequence) or not match:
            raise invalid(f"{where}.match must be a non-empty array of model ids or prefixes*")
        if not all(isinstance(m, str) and m for m in match):
            raise invalid(f"{where}.match entries must be non-empty strings")
        source = item.get("source")
        if not isinstance(source, str) or not source:
            raise invalid(f"{where}.source must say where the facts were read")
        refine = profile_overrides(item.get("refine"), f"{where}.refine")
        entries.append(
            CatalogEntry(
                entry_id,
                tuple(providers),
                tuple(m.lower() for m in match),
                refine,
                source,
                str(item.get("checked", checked)),
            )
        )
    return entries


def load_catalog(path: str | Path) -> Catalog:
    """Load a catalog document (same shape as the shipped ``catalog.json``)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise invalid(f"cannot read catalog {path}: {exc}") from None
    if not isinstance(document, Mapping):
        raise invalid(f"catalog {path} must be a JSON object with entries")
    checked = str(document.get("checked", "unknown"))
    return Catalog(parse_entries(document, checked), checked)


@cache
def default_catalog() -> Catalog:
    """The catalog shipped with racs."""
    text = resources.files("racs.core").joinpath("catalog.json").read_text(encoding="utf-8")
    document = json.loads(text)
    checked = str(document["checked"])
    return Catalog(parse_entries(document, checked), checked)


@functools.lru_cache(maxsize=4096)
def default_profile_of(provider: str, model: str) -> ProviderProfile | None:
    """The shipped profile refined by the shipped catalog; ``None`` for an unknown provider."""
    base = SHIPPED_PROFILES.get(provider)
    if base is None:
        return None
    return default_catalog().refine(base, model)


def reported_write_tier(provider: str, model: str) -> str:
    """The tier of cache writes a usage report gives no tier for: the model's shortest.

    OpenAI GPT-5.6+ reports ``cache_write_tokens`` of its 30-minute tier; Anthropic-style
    providers whose report has no split write the 5-minute tier.
    """
    profile = default_profile_of(provider, model)
    ttls = profile.ttls if profile is not None else None
    return min(ttls, key=seconds_of) if ttls else DEFAULT_TIER

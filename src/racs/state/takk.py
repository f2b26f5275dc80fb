"""Snapshots written by @takk/racs 1.0.0, read into racs's own section layout.

The reference keeps usage under ``ledger``, keep-warm under ``keeper`` and fingerprints as
``{capacity, entries}`` with one stable-token total per lineage. Each section converts on
its own, lazily, so a corrupt one degrades to empty inside the engine's restore loop while
the others still load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from racs.core.facts import PROVIDERS
from racs.core.tiers import TTL_SECONDS

Pricer = Callable[[str, str, float, dict[str, float]], tuple[float, float] | None]
"""(provider, model, read tokens, write tokens per tier) -> (saved USD, write spend USD)."""

_OWN_SECTIONS = ("usage", "keepWarm", "planCounter", "prefixes")


def is_takk_layout(data: Mapping[str, Any]) -> bool:
    """Whether a snapshot's ``data`` has the reference's layout rather than racs's."""
    if any(name in data for name in _OWN_SECTIONS):
        return False
    return "ledger" in data or "keeper" in data or isinstance(data.get("fingerprints"), Mapping)


def sections(data: Mapping[str, Any], price: Pricer) -> dict[str, Callable[[], Any]]:
    """racs section name -> a thunk building that section's racs data from the reference's."""
    out: dict[str, Callable[[], Any]] = {}
    if "ledger" in data:
        out["usage"] = lambda: _usage(data["ledger"], price)
    if "fingerprints" in data:
        out["fingerprints"] = lambda: _fingerprints(data["fingerprints"], data)
    if "keeper" in data:
        out["keepWarm"] = lambda: _keep_warm(data["keeper"])
    if "resources" in data:
        out["resources"] = lambda: _resources(data["resources"])
    if "drifts" in data:
        out["drifts"] = lambda: data["drifts"]  # the same wire form in both
    return out


def _entries(section: Any) -> list[Mapping[str, Any]]:
    entries = section.get("entries") if isinstance(section, Mapping) else section
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise ValueError("expected a list of entries")
    return entries


def _count(entry: Mapping[str, Any], name: str) -> float:
    value = entry.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"bad {name}")
    return value


def _usage(section: Any, price: Pricer) -> list[dict[str, Any]]:
    out = []
    for e in _entries(section):
        provider, model = str(e["provider"]), str(e["model"])
        calls = int(_count(e, "calls"))
        read = _count(e, "readTokens")
        writes = {"5m": _count(e, "write5mTokens"), "1h": _count(e, "write1hTokens")}
        usd = price(provider, model, read, writes)
        out.append(
            {
                "key": str(e["key"]),
                "provider": provider,
                "model": model,
                "agentId": None,
                "priced": usd is not None,
                "calls": calls,
                # The reference does not count hits; a prefix that read anything is taken
                # to have hit on every call (see the README's Differences).
                "hits": calls if read > 0 else 0,
                "read": read,
                "write_5m": writes["5m"],
                "write_1h": writes["1h"],
                "write_30m": 0,
                "uncached": _count(e, "uncachedTokens"),
                "saved_usd": usd[0] if usd else 0.0,
                "write_spend_usd": usd[1] if usd else 0.0,
                "storage_spend_usd": 0.0,
            }
        )
    return out


def _fingerprints(section: Any, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    owners = _owners(data)
    out = []
    for e in _entries(section):
        lineage, prefix_key = str(e["key"]), str(e["prefixKey"])
        agent_id: str | None = lineage
        provider, model = owners.get(prefix_key, ("custom", ""))
        head, sep, tail = lineage.partition(":")
        if sep and head in PROVIDERS:  # a lineage without an agent is provider:model
            agent_id, provider, model = None, head, tail
        segments = [
            [str(s["id"]), str(s["hash"]), str(s["stability"])]
            for s in e["segments"]
            if isinstance(s, Mapping)
        ]
        boundary = next(
            (i for i, s in enumerate(segments) if s[2] == "volatile"),
            len(segments),
        )
        # Only the stable-token total is kept, so it sits on the last stable segment: any
        # change inside the stable run then invalidates all of it, as the reference counts.
        stable_tokens = _count(e, "tokens")
        rows = [[*s, stable_tokens if i == boundary - 1 else 0] for i, s in enumerate(segments)]
        out.append(
            {
                "lineage": lineage,
                "prefixKey": prefix_key,
                "provider": provider,
                "model": model,
                "agentId": agent_id,
                "boundary": boundary,
                "segments": rows,
                "marked": [],
            }
        )
    return out


def _owners(data: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Provider and model of each prefix key the other sections name (best effort)."""
    owners: dict[str, tuple[str, str]] = {}
    for name, key_field in (("ledger", "key"), ("keeper", "prefixKey")):
        try:
            entries = _entries(data.get(name))
        except ValueError:
            continue
        for e in entries:
            key, provider, model = e.get(key_field), e.get("provider"), e.get("model")
            if isinstance(key, str) and isinstance(provider, str) and isinstance(model, str):
                owners[key] = (provider, model)
    return owners


def _ttl_seconds(ttl: Any) -> float:
    if isinstance(ttl, str) and ttl in TTL_SECONDS:
        return float(TTL_SECONDS[ttl])
    if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl > 0:
        return float(ttl)
    raise ValueError(f"bad ttl {ttl!r}")


def _keep_warm(section: Any) -> list[dict[str, Any]]:
    return [
        {
            "prefixKey": str(e["prefixKey"]),
            "provider": str(e["provider"]),
            "model": str(e["model"]),
            "ttl": e["ttl"],
            "ttlSeconds": _ttl_seconds(e["ttl"]),
            "lastWriteAt": _count(e, "lastWriteAt"),
        }
        for e in _entries(section)
    ]


def _resources(section: Any) -> list[dict[str, Any]]:
    return [
        {
            "resourceKey": str(e["resourceKey"] if "resourceKey" in e else e["key"]),
            "provider": str(e["provider"]),
            "model": str(e["model"]),
            "ttlSeconds": _ttl_seconds(e.get("ttlSeconds", e.get("ttl"))),
            "lastWriteAt": _count(e, "lastWriteAt"),
            "tokens": _count(e, "tokens"),
        }
        for e in _entries(section)
    ]

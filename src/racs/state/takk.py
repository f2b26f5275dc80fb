"""Snapshots in the layout of @takk/racs 1.0.0: read into racs's sections, and written.

The reference keeps usage under ``ledger``, keep-warm under ``keeper`` and fingerprints as
``{capacity, entries}`` with one stable-token total per lineage. On the way in each section
converts on its own, lazily, so a corrupt one degrades to empty inside the engine's restore
loop while the others still load. On the way out (``snapshot_format="takk-v1"``) ``layout``
writes what the reference reads; what it has no place for is listed in the README.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from racs.core.facts import PROVIDERS
from racs.core.tiers import TTL_SECONDS
from racs.planning.keepwarm import REFRESH_FRACTION

TAKK_FORMAT = "takk-v1"
"""The ``snapshot_format`` writing the reference's layout."""

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
        out["resources"] = lambda: _resources(data["resources"], data)
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


def _resources(section: Any, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    # The reference keeps no model on a resource: its keep-warm entry (same prefix key)
    # names it; without one the model stays unknown ("").
    owners = _owners(data)
    out = []
    for e in _entries(section):
        key = str(e["resourceKey"] if "resourceKey" in e else e["key"])
        model = e.get("model")
        out.append(
            {
                "resourceKey": key,
                "provider": str(e["provider"]),
                "model": str(model) if model is not None else owners.get(key, ("", ""))[1],
                "ttlSeconds": _ttl_seconds(e.get("ttlSeconds", e.get("ttl"))),
                "lastWriteAt": _count(e, "lastWriteAt"),
                "tokens": _count(e, "tokens"),
            }
        )
    return out


def layout(sections: Mapping[str, Any], capacity: int) -> dict[str, Any]:
    """racs's snapshot sections in the reference's ``data`` layout (integers as integers).

    ``capacity`` is the engine's ``max_prefixes``: the reference writes its caps beside
    the entries. Sections racs keeps and the reference does not are left out.
    """
    return {
        "ledger": {
            "maxPrefixes": capacity,
            "entries": [
                {
                    "key": a["key"],
                    "provider": a["provider"],
                    "model": a["model"],
                    "calls": _int(a["calls"]),
                    "readTokens": _int(a["read"]),
                    "write5mTokens": _int(a["write_5m"]),
                    "write1hTokens": _int(a["write_1h"]),
                    "uncachedTokens": _int(a["uncached"]),
                }
                for a in sections.get("usage", ())
                if a["calls"]  # storage-only aggregates: the reference counts no storage
            ],
        },
        "fingerprints": {
            "capacity": capacity,
            "entries": [_takk_fingerprint(fp) for fp in sections.get("fingerprints", ())],
        },
        "keeper": {
            "capacity": capacity,
            "entries": [
                {
                    "prefixKey": e["prefixKey"],
                    "provider": e["provider"],
                    "model": e["model"],
                    "ttl": _int(e["ttl"]) if not isinstance(e["ttl"], str) else e["ttl"],
                    "lastWriteAt": _int(e["lastWriteAt"]),
                    "refreshAt": _int(e["lastWriteAt"] + REFRESH_FRACTION * e["ttlSeconds"] * 1000),
                }
                for e in sections.get("keepWarm", ())
            ],
        },
        "resources": [
            {
                "key": r["resourceKey"],
                "provider": r["provider"],
                "ttlSeconds": _int(r["ttlSeconds"]),
                "lastWriteAt": _int(r["lastWriteAt"]),
            }
            for r in sections.get("resources", ())
        ],
        "drifts": [
            {k: _int(v) if k in _DRIFT_NUMBERS else v for k, v in d.items() if k in _DRIFT_KEYS}
            for d in sections.get("drifts", ())
        ],
    }


_DRIFT_KEYS = frozenset(
    {"agentId", "prefixKey", "previousKey", "changedSegmentIds", "invalidatedTokens", "timestamp"}
)
_DRIFT_NUMBERS = frozenset({"invalidatedTokens", "timestamp"})


def _takk_fingerprint(fp: Mapping[str, Any]) -> dict[str, Any]:
    segments = fp["segments"]
    boundary = fp["boundary"]
    return {
        "key": fp["lineage"],
        "prefixKey": fp["prefixKey"],
        # The reference keeps the stable run's total only.
        "tokens": _int(sum(s[3] for s in segments[:boundary])),
        "segments": [
            {"id": s[0], "hash": "" if s[1] is None else s[1], "stability": s[2]} for s in segments
        ],
    }


def _int(value: Any) -> Any:
    """A whole number as an int (JSON integers, as the reference writes them)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value

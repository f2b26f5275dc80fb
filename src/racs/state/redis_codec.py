"""How the Redis shared state writes values as text and reads them back.

Every value read from Redis passes through a decoder here. Anyone with access to the
server can leave bytes that are not UTF-8, a non-number in a count or JSON of the wrong
shape in a key: a decoder answers None for such an entry, the caller treats the entry as
absent (the next write of that entry replaces it), and nothing raises into the host.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from racs.core.model import DriftReport
from racs.planning.drift import Fingerprint, SegPrint
from racs.planning.keepwarm import WarmEntry
from racs.state.shared import ResourceAction

MAX_SUM: Final = 1e300
"""The largest usage sum the usage book loads; beyond it a total is garbage."""


def encode_fingerprint(fp: Fingerprint) -> str:
    """A lineage fingerprint as compact JSON (hashes, ids and counts only)."""
    segs = [[s.id, s.digest, s.stability, s.tokens] for s in fp.segments]
    data = [fp.prefix_key, fp.provider, fp.model, fp.agent_id, fp.boundary, segs, list(fp.marked)]
    return json.dumps(data, separators=(",", ":"))


def decode_fingerprint(value: Any) -> Fingerprint | None:
    """The fingerprint ``encode_fingerprint`` wrote; None when unreadable."""
    data = json_or_none(value)
    try:
        key, provider, model, agent, boundary, segs, marked = data
        return Fingerprint(
            str(key),
            str(provider),
            str(model),
            None if agent is None else str(agent),
            int(_finite(boundary)),
            tuple(
                SegPrint(str(s[0]), None if s[1] is None else str(s[1]), str(s[2]), _finite(s[3]))
                for s in segs
            ),
            tuple(str(m) for m in marked),
        )
    except (ValueError, TypeError, IndexError, KeyError):
        return None


def _finite(value: Any) -> float:
    """A JSON number of a fingerprint (``ValueError`` for anything else: unreadable)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    x = number_or_none(value)
    if x is None:
        raise ValueError("not a finite number")
    return float(x)


_ACTIONS: dict[str, ResourceAction] = {"create": "create", "reuse": "reuse", "refresh": "refresh"}


def action(value: Any) -> ResourceAction | None:
    """The resource action a script answered, None for none (or an unreadable one)."""
    return _ACTIONS.get(text_or_none(value) or "")


def text_or_none(value: Any) -> str | None:
    """A stored value as text; None when absent or not UTF-8."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return None
    return str(value)


def number_or_none(value: Any, limit: float = MAX_SUM) -> float | None:
    """A stored number (an int when integral); None when absent, not a number, NaN,
    infinite or beyond ``limit`` in size."""
    raw = text_or_none(value)
    if raw is None:
        return None
    try:
        x = float(raw)
    except ValueError:
        return None
    if not math.isfinite(x) or abs(x) > limit:
        return None
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def json_or_none(value: Any) -> Any:
    """A stored JSON value; None when absent, not UTF-8, not JSON or nested too deep."""
    raw = text_or_none(value)
    if raw is None:
        return None
    try:
        return json.loads(raw, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return None


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not a number racs stores")


def decode_hash(raw: Any) -> dict[str, str]:
    """A stored hash as text; fields or values that are not UTF-8 are left out."""
    out: dict[str, str] = {}
    for k, v in dict(raw or {}).items():
        field, value = text_or_none(k), text_or_none(v)
        if field is not None and value is not None:
            out[field] = value
    return out


def decode_report(value: Any) -> DriftReport | None:
    """A drift report of the shared ring; None when unreadable."""
    d = json_or_none(value)
    if not isinstance(d, dict):
        return None
    try:
        changed = d["changedSegmentIds"]
        agent, lineage = d.get("agentId"), d.get("lineage")
        tokens = number_or_none(d["invalidatedTokens"])
        at = number_or_none(d["timestamp"])
        if not isinstance(changed, list) or tokens is None or at is None:
            return None
        return DriftReport(
            prefix_key=_str(d["prefixKey"]),
            previous_key=_str(d["previousKey"]),
            changed_segment_ids=tuple(_str(x) for x in changed),
            invalidated_tokens=float(tokens),
            timestamp=float(at),
            agent_id=None if agent is None else _str(agent),
            lineage=None if lineage is None else _str(lineage),
        )
    except (KeyError, TypeError):
        return None


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def decode_usage(key: Any, raw: Any, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """A usage aggregate as the usage book loads it; None when its key is unreadable.

    A count that is not a number reads as 0 (the next increment restarts it), an
    unreadable provider or model as ''."""
    name, h = text_or_none(key), decode_hash(raw)
    if name is None:
        return None
    row: dict[str, Any] = {
        "key": name,
        "provider": h.get("provider", ""),
        "model": h.get("model", ""),
        "agentId": h.get("agentId"),
        "priced": h.get("priced") == "1",
    }
    for f in fields:
        row[f] = number_or_none(h.get(f)) or 0
    return row


def decode_due(row: Any) -> WarmEntry | None:
    """A due keep-warm entry the schedule script answered; None when unreadable."""
    try:
        key, provider, model, label, seconds, write = row
    except (TypeError, ValueError):
        return None
    texts = [text_or_none(x) for x in (key, provider, model)]
    ttl = json_or_none(label)
    s, w = number_or_none(seconds), number_or_none(write)
    if isinstance(ttl, (int, float)):  # bool included: it is no TTL
        ttl = None if isinstance(ttl, bool) else number_or_none(ttl)
    if None in texts or not isinstance(ttl, (str, int, float)) or s is None or w is None:
        return None
    return WarmEntry(str(texts[0]), str(texts[1]), str(texts[2]), ttl, s, w)


def decode_invalidation(value: Any) -> tuple[int, str | None, str | None] | None:
    """An entry of the invalidation log (generation, prefix key, provider); None when
    unreadable."""
    parts = (text_or_none(value) or "").split("\x1f")
    if len(parts) != 3:
        return None
    gen = number_or_none(parts[0])
    if not isinstance(gen, int):
        return None
    return gen, parts[1] or None, parts[2] or None


def num(x: float) -> str:
    """Exact decimal text of a count, time or amount (repr round-trips a float)."""
    if isinstance(x, int) or float(x).is_integer():
        return str(int(x))
    return repr(float(x))

"""How the Redis shared state writes values as text and reads them back."""

from __future__ import annotations

import json
import logging
from typing import Any

from racs.planning.drift import Fingerprint, SegPrint
from racs.state.shared import ResourceAction

log = logging.getLogger("racs")


def encode_fingerprint(fp: Fingerprint) -> str:
    """A lineage fingerprint as compact JSON (hashes, ids and counts only)."""
    segs = [[s.id, s.digest, s.stability, s.tokens] for s in fp.segments]
    data = [fp.prefix_key, fp.provider, fp.model, fp.agent_id, fp.boundary, segs, list(fp.marked)]
    return json.dumps(data, separators=(",", ":"))


def decode_fingerprint(text: str) -> Fingerprint | None:
    """The fingerprint ``encode_fingerprint`` wrote; None (with a warning) when unreadable."""
    try:
        key, provider, model, agent, boundary, segs, marked = json.loads(text)
        return Fingerprint(
            str(key),
            str(provider),
            str(model),
            None if agent is None else str(agent),
            int(boundary),
            tuple(
                SegPrint(str(s[0]), None if s[1] is None else str(s[1]), str(s[2]), float(s[3]))
                for s in segs
            ),
            tuple(str(m) for m in marked),
        )
    except (ValueError, TypeError, IndexError):
        log.warning("racs: a shared lineage fingerprint is unreadable; treated as absent")
        return None


_ACTIONS: dict[str, ResourceAction] = {"create": "create", "reuse": "reuse", "refresh": "refresh"}


def action(text: str) -> ResourceAction | None:
    """The resource action a script answered, None for none."""
    return _ACTIONS.get(text)


def text(value: Any) -> str:
    """A reply value as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def num(x: float) -> str:
    """Exact decimal text of a count, time or amount (repr round-trips a float)."""
    if isinstance(x, int) or float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def number(value: str) -> float:
    """A number Redis kept as text: an int when integral, as the local memories keep it."""
    x = float(value)
    return int(x) if x.is_integer() and abs(x) < 2**53 else x

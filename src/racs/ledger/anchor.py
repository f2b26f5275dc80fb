"""Anchors: the chain head written down elsewhere, so a shortened or rewritten ledger shows.

A hash chain proves the events agree with each other, not that they are the events that
were there: whoever can write the file can truncate its tail, or rewrite a payload and
recompute every later hash. An anchor is a small JSON document holding the head at some
moment (position, hash, time), kept where the ledger's host cannot change it. A ledger
still *extends* an anchor when its chain verifies and its event at the anchor's position
has the anchor's hash; a ledger that lost that event, or whose history before it changed,
does not.

With a key (bytes the ledger's host does not hold), the anchor carries an HMAC-SHA256
over its canonical JSON, so an anchor forged or edited by someone without the key is
refused rather than trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from racs.core.errors import invalid
from racs.ledger import validate as v
from racs.ledger.backend import Tx
from racs.ledger.hashing import canonical_json
from racs.ledger.model import VerifyResult

FORMAT: Final = "racs.ledger.anchor"
VERSION: Final = 1
_MAC_TAG: Final = "hmac-sha256:"
_FIELDS: Final = frozenset({"format", "version", "position", "hash", "time", "at", "mac"})


@dataclass(frozen=True, slots=True)
class Anchor:
    """The ledger head at one moment: ``position`` and its ``hash``, at ``time`` (ms)."""

    position: int
    hash: str
    time: int
    mac: str | None = None

    def body(self) -> dict[str, Any]:
        """The authenticated fields (everything but the MAC), JSON-ready."""
        at = datetime.fromtimestamp(self.time / 1000, tz=UTC).isoformat(timespec="milliseconds")
        return {
            "format": FORMAT,
            "version": VERSION,
            "position": self.position,
            "hash": self.hash,
            "time": self.time,
            "at": at.replace("+00:00", "Z"),
        }

    def to_dict(self) -> dict[str, Any]:
        """The anchor document."""
        body = self.body()
        if self.mac is not None:
            body["mac"] = self.mac
        return body

    def to_json(self) -> str:
        """The anchor document as indented JSON text, ready to store."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


def _mac(body: Mapping[str, Any], key: bytes) -> str:
    digest = hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()
    return _MAC_TAG + digest


def make_anchor(position: int, head_hash: str, time_ms: int, key: bytes | None = None) -> Anchor:
    """An anchor of the head ``(position, head_hash)``, authenticated when ``key`` is given."""
    anchor = Anchor(position, head_hash, time_ms)
    if key is None:
        return anchor
    return Anchor(position, head_hash, time_ms, _mac(anchor.body(), _key(key)))


def _key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or not key.strip():
        raise invalid("an anchor key must be non-empty bytes")
    return key.strip()


def parse_anchor(document: object, key: bytes | None = None, *, name: str = "anchor") -> Anchor:
    """Validate an anchor document; with ``key`` its MAC must be present and correct.

    ERR_INVALID_INPUT names what is wrong, never quoting the document.
    """
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            raise invalid(f"{name} is not JSON") from None
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise invalid(f"{name} is not a racs ledger anchor")
    if document.get("version") != VERSION:
        raise invalid(f"{name} has an unknown anchor version")
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise invalid(f"{name} has unknown field {unknown[0]!r}")
    position = v.count(f"{name} position", document.get("position"))
    if position < 1:
        raise invalid(f"{name} position must be at least 1")
    digest = document.get("hash")
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
        raise invalid(f"{name} hash is not a sha256 hash")
    time_ms = v.in_time_range(f"{name} time", v.count(f"{name} time", document.get("time")))
    mac = document.get("mac")
    if mac is not None and not isinstance(mac, str):
        raise invalid(f"{name} mac must be a string")
    anchor = Anchor(position, digest, time_ms, mac)
    if key is not None:
        if mac is None:
            raise invalid(f"{name} carries no MAC, but a key was given to check one")
        if not hmac.compare_digest(mac, _mac(anchor.body(), _key(key))):
            raise invalid(
                f"{name} MAC does not match: the anchor was altered or another key made it"
            )
    return anchor


def check_anchors(
    tx: Tx, anchors: tuple[Anchor, ...], head: tuple[int, str], checked: int
) -> VerifyResult | None:
    """None when the ledger extends every anchor, else the first anchor it fails.

    Call only after the chain verified up to ``head``: every stored hash then matches its
    event, so comparing the stored hash at the anchor's position is comparing history.
    """
    last, _ = head
    for anchor in sorted(anchors, key=lambda a: a.position):
        if anchor.position > last:
            return VerifyResult(
                False,
                checked,
                last + 1,
                f"the ledger ends at position {last}, before the anchor of position "
                f"{anchor.position}: events were removed from its end",
            )
        rows = tx.rows("SELECT hash FROM events WHERE position = ?", (anchor.position,))
        if not rows or rows[0][0] != anchor.hash:
            return VerifyResult(
                False,
                checked,
                anchor.position,
                f"the event at position {anchor.position} no longer has the anchored hash: "
                "history up to it was rewritten",
            )
    return None

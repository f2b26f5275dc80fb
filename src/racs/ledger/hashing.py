"""Canonical JSON and the hash chain that makes tampering with stored events evident.

Canonical JSON: keys sorted, compact separators, UTF-8 text kept as is
(``ensure_ascii=False``), NaN and infinities refused. An event's canonical form is the
canonical JSON of ``{payload, position, run_id, seq, timestamp, type}``; its hash is
``"sha256:" + hex(sha256(previous hash + "\n" + canonical form))``, tagged with the
algorithm, the first event chaining to the empty string.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any, Final

from racs.core.errors import invalid

HASH_ALGORITHM: Final = "sha256"
GENESIS: Final = ""
_TAG: Final = HASH_ALGORITHM + ":"

_encode_str: Callable[[str], str] = json.encoder.encode_basestring


def _refuse(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _make_encoder() -> Callable[[Any], str]:
    # The C encoder built once is a third faster than json.dumps, which rebuilds it per
    # call; every appended payload goes through here, so it is worth the private hook.
    factory = getattr(json.encoder, "c_make_encoder", None)
    if factory is None:
        slow = json.JSONEncoder(
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_refuse,
        )
        return slow.encode
    # No circular-reference markers: a cycle ends in RecursionError, refused like the rest.
    fast = factory(None, _refuse, _encode_str, None, ":", ",", True, False, False)

    def encode(value: Any) -> str:
        return "".join(fast(value, 0))

    return encode


_encode: Final = _make_encoder()


def canonical_json(value: Any, field: str = "payload") -> str:
    """Encode ``value`` canonically, raising ERR_INVALID_INPUT naming ``field`` if it can't be."""
    try:
        text = _encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise invalid(f"{field} is not JSON-serialisable: {exc}") from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(f"{field} contains text that is not valid Unicode") from None
    return text


def event_json(
    position: int, run_id: str | None, seq: int | None, type_: str, timestamp: int, payload: str
) -> str:
    """The canonical JSON of a stored event whose payload is already canonical JSON."""
    rid = "null" if run_id is None else _encode_str(run_id)
    sq = "null" if seq is None else seq
    return (
        f'{{"payload":{payload},"position":{position},"run_id":{rid},"seq":{sq},'
        f'"timestamp":{timestamp},"type":{_encode_str(type_)}}}'
    )


def chain(previous: str, canonical_event: str) -> str:
    """The tagged hash of an event given the hash before it."""
    digest = hashlib.sha256(f"{previous}\n{canonical_event}".encode()).hexdigest()
    return _TAG + digest


def seal(
    previous: str,
    events: Iterable[tuple[int, str | None, int | None, str, int, str, int | None]],
) -> list[tuple[int, str | None, int | None, str, int, str, int | None, str]]:
    """Chain ``(position, run_id, seq, type, timestamp, payload, link)`` rows after ``previous``.

    Each row comes back with its hash appended; ``link`` (the position of the run's
    previous event) is passed through unhashed: it is derived from the hashed run id and
    sequence, and ``verify`` checks it against them. The same hashes as ``chain`` over
    ``event_json``, in one loop: the append path seals every event, so the per-event
    function calls and the JSON encoding of run ids and types (repeated within a run) are
    worth saving.
    """
    sha256 = hashlib.sha256
    names: dict[str, str] = {}
    sealed = []
    for position, run_id, seq, type_, timestamp, payload, link in events:
        if run_id is None:
            rid = "null"
        elif (known := names.get(run_id)) is not None:
            rid = known
        else:
            rid = names[run_id] = _encode_str(run_id)
        kind = names.get(type_)
        if kind is None:
            kind = names[type_] = _encode_str(type_)
        sq = "null" if seq is None else seq
        text = (
            f'{previous}\n{{"payload":{payload},"position":{position},"run_id":{rid},'
            f'"seq":{sq},"timestamp":{timestamp},"type":{kind}}}'
        )
        previous = _TAG + sha256(text.encode()).hexdigest()
        sealed.append((position, run_id, seq, type_, timestamp, payload, link, previous))
    return sealed

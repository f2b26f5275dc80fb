"""Hashing schemes, prefix keys and plan ids.

Two schemes: ``blake2b`` (default, C speed) and ``fnv1a64`` (byte-for-byte what
``@takk/racs`` produces, for users who must keep their existing keys).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import blake2b
from typing import Final

KEY_SCHEMES: Final = ("blake2b", "fnv1a64")

_FNV_OFFSET: Final = 0xCBF29CE484222325
_FNV_PRIME: Final = 0x100000001B3
_MASK64: Final = 0xFFFFFFFFFFFFFFFF
_SEP: Final = "\x1f"
_B36: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


def fnv1a64_int(text: str) -> int:
    """FNV-1a 64 over UTF-16 code units, each fed low byte then high byte."""
    h = _FNV_OFFSET
    # UTF-16-LE is exactly "each code unit, low byte first"; surrogatepass keeps lone
    # surrogates, which JavaScript strings may carry, hashable.
    for byte in text.encode("utf-16-le", "surrogatepass"):
        h = ((h ^ byte) * _FNV_PRIME) & _MASK64
    return h


def fnv1a64(text: str) -> str:
    """FNV-1a 64 digest of ``text`` as 16 lowercase hex characters."""
    return f"{fnv1a64_int(text):016x}"


def blake2b64(text: str) -> str:
    """BLAKE2b with an 8-byte digest of the UTF-8 bytes, 16 lowercase hex characters."""
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def digest_function(scheme: str) -> Callable[[str], str]:
    """The digest function of a key scheme."""
    if scheme == "blake2b":
        return blake2b64
    if scheme == "fnv1a64":
        return fnv1a64
    raise ValueError(f"unknown key scheme {scheme!r}")


def combine(parts: Sequence[str], digest: Callable[[str], str] = blake2b64) -> str:
    """Digest of the parts joined by U+001F."""
    return digest(_SEP.join(parts))


def base36(value: int) -> str:
    """Lowercase base-36 rendering of a non-negative integer."""
    if value == 0:
        return "0"
    out: list[str] = []
    while value:
        value, rem = divmod(value, 36)
        out.append(_B36[rem])
    return "".join(reversed(out))


def plan_id(seed: int, n: int) -> str:
    """Deterministic id of the ``n``-th plan of an engine seeded with ``seed``."""
    return f"rx-{n}-{base36(fnv1a64_int(f'{seed}{_SEP}{n}'))}"

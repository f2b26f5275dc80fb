"""The analyzer: the nine lints and the content facts they read.

Pattern scans are the expensive part of planning, so each distinct segment content is
scanned once and its facts kept in a bounded LRU (``FactsCache``).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from racs.core.keys import fnv1a64
from racs.core.model import LintFinding, ProviderProfile
from racs.planning.inputs import ResolvedPrompt

# engine.md section 4; all linear-time (no nested unbounded quantifiers). Every pattern is
# ASCII like the reference's JavaScript regexes: `\b`, `\d` and `\w` see ASCII only, and
# IGNORECASE folds ASCII letters only (so a CJK letter next to digits is a word boundary).
_A: Final = re.ASCII
_ISO_DATETIME: Final = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?\b", _A
)
_EPOCH: Final = re.compile(r"\b(?:\d{13}|\d{10})\b", _A)
_TODAY: Final = re.compile(
    r"\b(?:today|current time)\b[^\d\n]{0,32}\d|\d[^\d\n]{0,32}\b(?:today|current time)\b",
    re.IGNORECASE | _A,
)
_UUID4: Final = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b", re.IGNORECASE | _A
)
_HEX_RUN: Final = re.compile(r"\b[0-9a-f]{24,}\b", re.IGNORECASE | _A)
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}", _A)
_HAS_DIGIT: Final = re.compile(r"\d", _A)
_HAS_LETTER: Final = re.compile(r"[A-Za-z]", _A)

TIMESTAMP_KINDS: Final = (
    ("ISO-8601 datetime", _ISO_DATETIME),
    ("unix epoch", _EPOCH),
    ("'today'/'current time' next to a number", _TODAY),
)


_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")


def timestamp_kinds(content: str) -> tuple[str, ...]:
    """Every kind of timestamp found in ``content``, in a fixed order."""
    if not content.isascii():
        # JavaScript counts UTF-16 units: a character outside the BMP is two of them in
        # the 32-character window of the 'today' pattern (and matches no lint class).
        content = _ASTRAL.sub("\x00\x00", content)
    return tuple(kind for kind, pattern in TIMESTAMP_KINDS if pattern.search(content))


def identifier(content: str) -> tuple[str, str] | None:
    """The first per-request identifier kind found (UUID v4, hex run, base64-like run).

    Returns the kind and the first 8 hex characters of the match's fnv1a64 digest: a
    finding never echoes prompt content.
    """
    match = _UUID4.search(content)
    if match:
        return "UUID v4", fnv1a64(match.group())[:8]
    match = _HEX_RUN.search(content)
    if match:
        return "hex run", fnv1a64(match.group())[:8]
    for match in _BASE64.finditer(content):
        run = match.group()
        if _HAS_DIGIT.search(run) and _HAS_LETTER.search(run):
            return "base64-like run", fnv1a64(run)[:8]
    return None


_UNSET: Final = object()


class Facts:
    """What the engine learned about one distinct content string."""

    __slots__ = ("digest", "ident", "stamps", "tokens")

    def __init__(self) -> None:
        self.digest: str | None = None
        self.tokens: float | None = None
        self.stamps: tuple[str, ...] | None = None
        self.ident: object = _UNSET


class FactsCache:
    """Bounded LRU of content -> Facts, capped by entries and by total characters."""

    def __init__(self, max_entries: int = 4096, max_chars: int = 64_000_000) -> None:
        self._items: OrderedDict[str, Facts] = OrderedDict()
        self._chars = 0
        self.max_entries = max_entries
        self.max_chars = max_chars

    def __len__(self) -> int:
        return len(self._items)

    @property
    def chars(self) -> int:
        """Characters of content currently held."""
        return self._chars

    def get(self, content: str) -> Facts:
        """The facts of ``content``, created (and older entries evicted) on first sight."""
        items = self._items
        facts = items.get(content)
        if facts is not None:
            items.move_to_end(content)
            return facts
        facts = Facts()
        size = len(content)
        if size > self.max_chars:
            return facts  # too big to keep: computed afresh each time, never retained
        items[content] = facts
        self._chars += size
        while len(items) > self.max_entries or self._chars > self.max_chars:
            old, _ = items.popitem(last=False)
            self._chars -= len(old)
        return facts

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
        self._chars = 0


def scan_stamps(facts: Facts, content: str) -> tuple[str, ...]:
    """Timestamp kinds of ``content``, scanned once per distinct content."""
    if facts.stamps is None:
        facts.stamps = timestamp_kinds(content)
    return facts.stamps


def scan_ident(facts: Facts, content: str) -> tuple[str, str] | None:
    """Identifier kind of ``content``, scanned once per distinct content."""
    if facts.ident is _UNSET:
        facts.ident = identifier(content)
    return facts.ident  # type: ignore[return-value]


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def analyze(
    prompt: ResolvedPrompt,
    profile: ProviderProfile,
    facts_of: Callable[[str], Facts],
) -> list[LintFinding]:
    """The lint findings of a prompt, in the fixed order of engine.md section 4."""
    findings: list[LintFinding] = []
    segments = prompt.segments
    boundary = prompt.boundary
    stable = prompt.stable_tokens
    total = prompt.total_tokens
    min_tokens = profile.min_cacheable_tokens or 0
    if boundary < len(segments):
        first = segments[boundary]
        late = [s.id for s in segments[boundary + 1 :] if s.stability != "volatile"]
        if late:
            findings.append(
                LintFinding(
                    "warning",
                    "segment-order",
                    f"volatile segment {first.id!r} comes before {len(late)} non-volatile "
                    f"segment(s) ({', '.join(repr(i) for i in late)}); move stable and semi "
                    "segments ahead of it to lengthen the cacheable prefix",
                    first.id,
                )
            )
        if total > 0 and 2 * stable < total and stable < max(min_tokens, 1):
            findings.append(
                LintFinding(
                    "error",
                    "volatile-early",
                    f"volatile segment {first.id!r} starts the prompt too early: only "
                    f"{_fmt(stable)} of {_fmt(total)} tokens precede it, so nothing "
                    "cacheable remains; put the volatile turn last",
                    first.id,
                )
            )
    for seg in segments:
        stability = seg.stability
        if seg.role == "tools" and stability == "volatile":
            findings.append(
                LintFinding(
                    "error",
                    "unstable-tools",
                    f"tools segment {seg.id!r} is declared volatile; tool definitions "
                    "should be byte-stable (serialize them with sorted keys, no timestamps)",
                    seg.id,
                )
            )
        if seg.role == "dynamic" and stability == "stable":
            findings.append(
                LintFinding(
                    "info",
                    "missing-stability",
                    f"dynamic segment {seg.id!r} is declared stable; declare the live turn "
                    "volatile (or give the segment another role)",
                    seg.id,
                )
            )
        content = seg.content
        if content is None or stability == "volatile":
            continue
        facts = facts_of(content)
        stamps = scan_stamps(facts, content)
        if stamps:
            findings.append(
                LintFinding(
                    "warning",
                    "timestamp-in-stable",
                    f"{stability} segment {seg.id!r} embeds a timestamp ({', '.join(stamps)}); "
                    "it changes the prefix on every call, move it into the volatile tail",
                    seg.id,
                )
            )
        if stability == "stable":
            ident = scan_ident(facts, content)
            if ident is not None:
                findings.append(
                    LintFinding(
                        "warning",
                        "identifier-in-stable",
                        f"stable segment {seg.id!r} embeds what looks like a per-request "
                        f"identifier ({ident[0]}, match fnv1a64 {ident[1]}); move it into "
                        "the volatile tail",
                        seg.id,
                    )
                )
    if min_tokens > 0 and stable < min_tokens:
        findings.append(
            LintFinding(
                "info",
                "below-minimum",
                f"stable prefix is {_fmt(stable)} tokens, below the {profile.id} minimum of "
                f"{_fmt(min_tokens)}: the provider will not cache it",
            )
        )
    return findings

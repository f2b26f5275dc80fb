"""What an importer could not read: counted by reason, the first few named ``file:line``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

# Examples kept in memory: a broken multi-gigabyte log must not fill it with its own errors.
MAX_EXAMPLES: Final = 50


@dataclass(frozen=True, slots=True)
class Problem:
    """One unreadable line, file or record: where (``file:line``) and why."""

    where: str
    reason: str


@dataclass(slots=True)
class Duplicates:
    """Responses read again in another file and dropped (Claude Code sessions copied by a
    resume or a fork keep their message and request ids): counted per file, the first few
    files named with the file that kept the response."""

    total: int = 0
    by_file: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, where: str, kept_in: str, n: int = 1) -> None:
        """Count ``n`` responses of file ``where`` already read from ``kept_in``."""
        self.total += n
        key = (where, kept_in)
        if key in self.by_file or len(self.by_file) < MAX_EXAMPLES:
            self.by_file[key] = self.by_file.get(key, 0) + n

    def __bool__(self) -> bool:
        return self.total > 0

    def to_dict(self) -> dict[str, Any]:
        """Wire form: the total and, per file, how many of its responses another kept."""
        return {
            "total": self.total,
            "examples": [
                {"where": where, "keptIn": kept, "count": n}
                for (where, kept), n in self.by_file.items()
            ],
        }


@dataclass(slots=True)
class Problems:
    """A bounded collector every importer reports to; nothing it holds is prompt text.

    ``duplicates`` counts the responses dropped because another file already held them
    (not a problem with the input, but the report says where they went).
    """

    by_reason: Counter[str] = field(default_factory=Counter)
    examples: list[Problem] = field(default_factory=list)
    duplicates: Duplicates = field(default_factory=Duplicates)

    def add(self, where: str, reason: str) -> None:
        """Count one problem at ``where`` (``file:line`` or ``file``)."""
        self.by_reason[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(Problem(where, reason))

    @property
    def total(self) -> int:
        """Problems counted, all reasons."""
        return sum(self.by_reason.values())

    def __bool__(self) -> bool:
        return bool(self.by_reason)

    def lines(self, limit: int = 10) -> list[str]:
        """The problems as text: the total, counts per reason, the first ``limit`` named."""
        if not self:
            return []
        out = [f"Unreadable input: {self.total:,} (the rest stands)"]
        for reason, n in sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  {n:>6,}  {reason}")
        out.extend(f"  e.g. {e.where}: {e.reason}" for e in self.examples[:limit])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Wire form: the total, counts per reason, and the first examples."""
        return {
            "total": self.total,
            "byReason": dict(sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
            "examples": [{"where": p.where, "reason": p.reason} for p in self.examples],
        }

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
class Problems:
    """A bounded collector every importer reports to; nothing it holds is prompt text."""

    by_reason: Counter[str] = field(default_factory=Counter)
    examples: list[Problem] = field(default_factory=list)

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

    def to_dict(self) -> dict[str, Any]:
        """Wire form: the total, counts per reason, and the first examples."""
        return {
            "total": self.total,
            "byReason": dict(sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
            "examples": [{"where": p.where, "reason": p.reason} for p in self.examples],
        }

"""Prefix drift: per lineage, which stable segments changed and what it cost."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from racs.core.model import DriftReport

_COMPARED = ("stable", "semi")


class SegPrint(NamedTuple):
    """What drift remembers of a segment: never its content."""

    id: str
    digest: str | None
    stability: str
    tokens: float


class Fingerprint(NamedTuple):
    """The last plan of a lineage."""

    prefix_key: str
    provider: str
    model: str
    agent_id: str | None
    boundary: int
    segments: tuple[SegPrint, ...]
    marked: tuple[str, ...] = ()


def compare(prev: Fingerprint, cur: Fingerprint) -> tuple[list[str], float] | None:
    """Changed segment ids (sorted) and invalidated tokens, or ``None`` when not drift.

    Pure extension (the previous stable run intact and in place, new segments appended)
    is growth, not drift (improvement (a) of engine.md section 6).
    """
    if prev.prefix_key == cur.prefix_key:
        return None
    prev_run = prev.segments[: prev.boundary]
    cur_run = cur.segments[: cur.boundary]
    first_break = -1
    for i, old in enumerate(prev_run):
        if i >= len(cur_run) or cur_run[i].id != old.id or cur_run[i].digest != old.digest:
            first_break = i
            break
    if first_break < 0:
        return None  # growth: everything cached before is still a prefix
    prev_by_id = {s.id: s for s in prev.segments}
    cur_ids = set()
    changed: set[str] = set()
    for seg in cur.segments:
        cur_ids.add(seg.id)
        if seg.stability not in _COMPARED:
            continue
        old_seg = prev_by_id.get(seg.id)
        if old_seg is None or old_seg.digest != seg.digest:
            changed.add(seg.id)
    for old_seg in prev.segments:
        if old_seg.id not in cur_ids and old_seg.stability in _COMPARED:
            changed.add(old_seg.id)
    if not changed:
        return None
    # improvement (b): only what follows the first changed position is lost
    invalidated = sum(s.tokens for s in prev_run[first_break:])
    return sorted(changed), invalidated


class DriftTracker:
    """Fingerprints per lineage (bounded LRU) and a ring of the latest reports."""

    def __init__(self, max_lineages: int = 1000, ring: int = 200) -> None:
        self.max_lineages = max_lineages
        self.lineages: OrderedDict[str, Fingerprint] = OrderedDict()
        self.reports: deque[DriftReport] = deque(maxlen=ring)

    def observe(
        self, lineage: str, cur: Fingerprint, now: float
    ) -> tuple[DriftReport | None, Fingerprint | None]:
        """Remember the lineage's new fingerprint; return a report on drift, and the oldest
        lineage's last fingerprint when it had to be evicted to make room."""
        lineages = self.lineages
        prev = lineages.get(lineage)
        if prev is None:
            lineages[lineage] = cur
            evicted = None
            if len(lineages) > self.max_lineages:
                evicted = lineages.popitem(last=False)[1]
            return None, evicted
        lineages[lineage] = cur
        lineages.move_to_end(lineage)
        result = compare(prev, cur)
        if result is None:
            return None, None
        changed, invalidated = result
        report = DriftReport(
            prefix_key=cur.prefix_key,
            previous_key=prev.prefix_key,
            changed_segment_ids=tuple(changed),
            invalidated_tokens=invalidated,
            timestamp=now,
            agent_id=cur.agent_id,
            lineage=lineage,
        )
        self.reports.append(report)
        return report, None

    def adopt(self, lineage: str, fp: Fingerprint | None) -> None:
        """Take another host's last fingerprint of the lineage as this one's (None: none)."""
        if fp is None:
            self.lineages.pop(lineage, None)
            return
        self.lineages[lineage] = fp
        self.lineages.move_to_end(lineage)
        if len(self.lineages) > self.max_lineages:
            self.lineages.popitem(last=False)

    def latest(self, limit: int | None = None) -> tuple[DriftReport, ...]:
        """Reports oldest first, newest last; the last ``limit`` when given."""
        items = tuple(self.reports)
        if limit is not None:
            items = items[-limit:] if limit > 0 else ()
        return items

    def anchor(self, lineage: str, segments: Sequence[Any]) -> int | None:
        """Index of the lineage's previous deepest marked segment, when every segment up to
        it is unchanged (same ids and digests, same positions); else None."""
        prev = self.lineages.get(lineage)
        if prev is None or not prev.marked:
            return None
        last = prev.marked[-1]
        for i, old in enumerate(prev.segments):
            if i >= len(segments):
                return None
            cur = segments[i]
            if cur.id != old.id or cur.digest != old.digest or cur.digest is None:
                return None
            if old.id == last:
                return i
        return None

    def owners(self) -> Iterator[tuple[str, str]]:
        """(current prefix key, provider) of every remembered lineage."""
        return ((fp.prefix_key, fp.provider) for fp in self.lineages.values())

    def forget(self, prefix_keys: Iterable[str]) -> None:
        """Drop the fingerprints whose current prefix is in ``prefix_keys``."""
        keys = set(prefix_keys)
        for lineage in [k for k, fp in self.lineages.items() if fp.prefix_key in keys]:
            del self.lineages[lineage]

    # --- snapshots ---
    def fingerprints_state(self) -> list[dict[str, Any]]:
        """Fingerprints as JSON-ready data (hashes and counts only)."""
        return [
            {
                "lineage": lineage,
                "prefixKey": fp.prefix_key,
                "provider": fp.provider,
                "model": fp.model,
                "agentId": fp.agent_id,
                "boundary": fp.boundary,
                "segments": [[s.id, s.digest, s.stability, s.tokens] for s in fp.segments],
                "marked": list(fp.marked),
            }
            for lineage, fp in self.lineages.items()
        ]

    def load_fingerprints(self, data: list[dict[str, Any]]) -> None:
        """Restore fingerprints saved by ``fingerprints_state``."""
        restored: OrderedDict[str, Fingerprint] = OrderedDict()
        for item in data:
            segs = tuple(
                SegPrint(str(s[0]), None if s[1] is None else str(s[1]), str(s[2]), float(s[3]))
                for s in item["segments"]
            )
            restored[str(item["lineage"])] = Fingerprint(
                str(item["prefixKey"]),
                str(item["provider"]),
                str(item["model"]),
                None if item.get("agentId") is None else str(item["agentId"]),
                int(item["boundary"]),
                segs,
                tuple(str(m) for m in item.get("marked", ())),
            )
        self.lineages = restored

    def reports_state(self) -> list[dict[str, Any]]:
        """Drift reports as JSON-ready data."""
        return [r.to_dict() for r in self.reports]

    def load_reports(self, data: list[dict[str, Any]]) -> None:
        """Restore reports saved by ``reports_state``."""
        restored = [
            DriftReport(
                prefix_key=str(d["prefixKey"]),
                previous_key=str(d["previousKey"]),
                changed_segment_ids=tuple(str(x) for x in d["changedSegmentIds"]),
                invalidated_tokens=float(d["invalidatedTokens"]),
                timestamp=float(d["timestamp"]),
                agent_id=None if d.get("agentId") is None else str(d["agentId"]),
                lineage=None if d.get("lineage") is None else str(d["lineage"]),
            )
            for d in data
        ]
        self.reports.clear()
        self.reports.extend(restored)

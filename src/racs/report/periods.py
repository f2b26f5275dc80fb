"""Calendar periods in a time zone: the day, week and month a request falls in.

Days start at local midnight, weeks on Monday (ISO 8601), months on the first; a period's
key is its first day (``2026-02-09``; a month ``2026-02``). The zone is an IANA name read
through ``zoneinfo`` (default: the machine's local zone, UTC with ``--utc``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from racs.core.limits import MAX_INSTANT_MS
from racs.report.buckets import Bucket

PERIODS: Final = ("day", "week", "month")
"""The calendar periods a report can be cut into."""
_QUARTER_MS: Final = 900_000


def zone_named(name: str) -> tzinfo:
    """The IANA zone ``name`` (``UTC`` too); ``ValueError`` naming it when unknown."""
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Europe/Berlin or UTC)"
        ) from None


def local_zone() -> tzinfo:
    """The machine's zone: ``$TZ``, else what ``/etc/localtime`` links to, else its
    current UTC offset (without daylight-saving changes), else UTC."""
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return zone_named(env)
        except ValueError:
            pass
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        try:
            return zone_named(target.split("zoneinfo/", 1)[1])
        except ValueError:
            pass
    return datetime.now().astimezone().tzinfo or UTC


def zone_name(zone: tzinfo) -> str:
    """How a zone is printed: its IANA key, ``UTC``, or its offset."""
    if zone is UTC:
        return "UTC"
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) else str(datetime.now(zone).strftime("UTC%z"))


def clock(ms: float | None, zone: tzinfo, *, seconds: bool = True) -> str:
    """A timestamp in ``zone``: ``2026-02-10T09:12:03+01:00`` (``Z`` for UTC), or
    ``2026-02-10 09:12`` without seconds."""
    if ms is None:
        return "-"
    moment = local_time(ms, zone)
    if not seconds:
        return moment.strftime("%Y-%m-%d %H:%M")
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def local_time(ms: float, zone: tzinfo) -> datetime:
    """``ms`` in ``zone``; in UTC where the local date would leave years 1 to 9999 (the
    last hours of 9999-12-31 east of Greenwich)."""
    try:
        return datetime.fromtimestamp(ms / 1000, zone)
    except (OverflowError, ValueError):
        return datetime.fromtimestamp(ms / 1000, UTC)


def _keys_of(d: date) -> tuple[str, str, str]:
    monday = d - timedelta(days=d.weekday())
    return d.isoformat(), monday.isoformat(), f"{d.year:04d}-{d.month:02d}"


class Calendar:
    """The (day, week, month) keys of timestamps in one zone, cached per quarter hour
    (every zone in use today moves its clocks at quarter hours)."""

    def __init__(self, zone: tzinfo = UTC) -> None:
        self.zone = zone
        self._cache: dict[int, tuple[str, str, str]] = {}

    def keys(self, ms: float) -> tuple[str, str, str]:
        """The day, week and month keys of ``ms`` (ms since the epoch)."""
        quarter = int(ms // _QUARTER_MS)
        hit = self._cache.get(quarter)
        if hit is not None:
            return hit
        start = local_time(quarter * _QUARTER_MS, self.zone)
        if start.minute % 15 == 0 and start.second == 0:
            # The quarter starts on a local quarter hour, so it lies within one local day.
            keys = self._cache[quarter] = _keys_of(start.date())
            return keys
        return _keys_of(local_time(ms, self.zone).date())

    def bounds(self, kind: str, key: str) -> tuple[float, float]:
        """Start and end (ms, end excluded) of the period ``key`` of ``kind``."""
        first = date.fromisoformat(key + "-01" if kind == "month" else key)
        try:
            if kind == "day":
                after = first + timedelta(days=1)
            elif kind == "week":
                after = first + timedelta(days=7)
            else:
                after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        except (OverflowError, ValueError):
            # The last period of year 9999 ends with the last moment racs accepts.
            return self._midnight(first), float(MAX_INSTANT_MS + 1)
        return self._midnight(first), self._midnight(after)

    def _midnight(self, d: date) -> float:
        return datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp() * 1000


@dataclass(slots=True)
class Period:
    """One day, week or month: its bounds, its total and its total per model."""

    key: str
    start_ms: float
    end_ms: float
    total: Bucket = field(default_factory=Bucket)
    models: dict[str, Bucket] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Wire form: the bucket's fields plus the key, bounds and models (most dollars
        first)."""
        models = sorted(self.models.items(), key=lambda kv: (-kv[1].cost.total, kv[0]))
        return {
            "key": self.key,
            "startMs": self.start_ms,
            "endMs": self.end_ms,
            **self.total.to_dict(),
            "models": [{"key": m, **b.to_dict()} for m, b in models],
        }

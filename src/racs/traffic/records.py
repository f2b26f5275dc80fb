"""JSON records from a file, whatever its shape: JSON lines, one document, an array, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from racs.core.limits import MAX_INSTANT_MS
from racs.traffic.jsonfast import UNPARSABLE as _UNPARSABLE
from racs.traffic.jsonfast import loads
from racs.traffic.lines import MAX_LINE_BYTES, Meter, numbered_lines
from racs.traffic.problems import Problems

_DOCUMENT_SUFFIXES: Final = (".json",)


def records(
    path: Path, problems: Problems, meter: Meter | None = None
) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` for each record of ``path``: a ``.json`` file is one document
    (an array yields its items), a ``.csv`` file yields its rows as dicts, anything else
    is JSON lines. Unparsable records go to ``problems``."""
    if path.suffix == ".csv":
        yield from _csv(path, problems, meter)
        return
    if path.suffix in _DOCUMENT_SUFFIXES:
        doc = _document(path, problems, meter)
        if doc is _NOTHING:
            return
        if isinstance(doc, list):
            for i, item in enumerate(doc):
                yield f"{path}[{i}]", item
        else:
            yield str(path), doc
        return
    for lineno, raw in numbered_lines(path, problems, meter):
        if not raw.strip():
            continue
        try:
            yield f"{path}:{lineno}", loads(raw)
        except _UNPARSABLE as exc:
            problems.add(f"{path}:{lineno}", f"unreadable line ({type(exc).__name__})")


_NOTHING: Final = object()


def _document(path: Path, problems: Problems, meter: Meter | None) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_LINE_BYTES:
            problems.add(str(path), f"JSON document over {MAX_LINE_BYTES} bytes: export JSON lines")
            return _NOTHING
        data = path.read_bytes()
    except OSError as exc:
        problems.add(str(path), f"unreadable: {exc.strerror or type(exc).__name__}")
        return _NOTHING
    if meter is not None:
        meter(len(data))
    try:
        return loads(data)
    except _UNPARSABLE as exc:
        problems.add(str(path), f"unreadable JSON document ({type(exc).__name__})")
        return _NOTHING


def _csv(path: Path, problems: Problems, meter: Meter | None) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        try:
            reader = csv.DictReader(text)
            for i, row in enumerate(reader, 2):
                if meter is not None:
                    meter(sum(len(v or "") + 1 for v in row.values()))
                yield f"{path}:{i}", row
        except csv.Error as exc:
            problems.add(str(path), f"unreadable CSV ({exc})")


def first_record(path: Path) -> Any:
    """The first parsable record of a file (``None`` if none in its first lines)."""
    if path.suffix == ".csv":
        try:
            with path.open(encoding="utf-8", errors="replace", newline="") as f:
                return next(csv.DictReader(f), None)
        except (OSError, csv.Error):
            return None
    scratch = Problems()
    if path.suffix in _DOCUMENT_SUFFIXES:
        doc = _document(path, scratch, None)
        if isinstance(doc, list):
            return doc[0] if doc else None
        return None if doc is _NOTHING else doc
    for n, (_, rec) in enumerate(records(path, scratch)):
        if isinstance(rec, dict):
            return rec
        if n > 20:
            break
    return None


def timestamp_ms(value: Any) -> float | None:
    """Milliseconds since the epoch from epoch seconds, ms, us or ns, or an ISO-8601
    string; ``None`` when unreadable or outside 1970-01-01 .. 9999-12-31
    (``racs.core.limits``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return timestamp_ms(int(text))
        try:
            moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _bounded(moment.timestamp() * 1000)
    if isinstance(value, int | float) and value == value and value > 0:
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float: no time at all
            return None
        if number < 1e11:  # seconds
            return _bounded(number * 1000)
        if number < 1e14:  # milliseconds
            return _bounded(number)
        if number < 1e17:  # microseconds
            return _bounded(number / 1e3)
        return _bounded(number / 1e6)  # nanoseconds (OTLP)
    return None


def _bounded(ms: float) -> float | None:
    return ms if 0 <= ms <= MAX_INSTANT_MS else None

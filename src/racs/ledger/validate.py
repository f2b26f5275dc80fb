"""Input checks shared by every ledger call; each raises ERR_INVALID_INPUT naming the field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from racs.core.errors import invalid
from racs.core.limits import MAX_DEPTH, MAX_INSTANT_MS, MAX_NUMBER, MAX_TOKENS, depth_exceeds

MAX_ID_LENGTH: Final = 200
_DAY_MS: Final = 86_400_000
_RANGE: Final = f"{MAX_NUMBER} (2**53 - 1)"


def text(field: str, value: object) -> str:
    """A required non-empty string."""
    if not isinstance(value, str) or not value:
        raise invalid(f"{field} must be a non-empty string, got {value!r}")
    return value


def optional_text(field: str, value: object) -> str | None:
    """None or a non-empty string."""
    return None if value is None else text(field, value)


def identifier(field: str, value: object) -> str:
    """A non-empty string of at most MAX_ID_LENGTH characters (run ids, filters)."""
    if type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and value.isascii():
        return value  # the common case, checked in one go: this runs for every event
    result = text(field, value)
    if len(result) > MAX_ID_LENGTH:
        raise invalid(f"{field} is longer than {MAX_ID_LENGTH} characters")
    if not result.isascii():
        try:
            result.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(f"{field} is not valid Unicode text") from None
    return result


def choice(field: str, value: object, allowed: tuple[str, ...]) -> str:
    """One of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise invalid(f"{field} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def flag(field: str, value: object) -> bool:
    """A real bool (1 and "yes" are refused: the field is a yes/no fact)."""
    if not isinstance(value, bool):
        raise invalid(f"{field} must be a bool, got {value!r}")
    return value


def tokens(field: str, value: object) -> int:
    """A token count: a whole number from 0 to MAX_TOKENS (see ``racs.core.limits``)."""
    if type(value) is int and 0 <= value <= MAX_TOKENS:
        return value
    result = count(field, value)
    if result > MAX_TOKENS:
        raise invalid(f"{field} must be a whole number from 0 to {MAX_TOKENS} (2**32 - 1)")
    return result


def count(field: str, value: object) -> int:
    """A whole number from 0 to MAX_NUMBER; an integral float is accepted, a bool is not."""
    if type(value) is int and 0 <= value <= MAX_NUMBER:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{field} must be a whole number >= 0, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise invalid(f"{field} must be a finite whole number, got {value!r}")
        value = int(value)
    if not 0 <= value <= MAX_NUMBER:
        raise invalid(f"{field} must be a whole number from 0 to {_RANGE}")
    return value


def amount(field: str, value: object) -> float:
    """A finite number from 0 to MAX_NUMBER (a duration or a price), as float; no bool."""
    if type(value) is float and 0.0 <= value <= MAX_NUMBER:
        return value  # NaN fails both comparisons and takes the slow path below
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{field} must be a number >= 0, got {value!r}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not 0 <= result <= MAX_NUMBER:  # NaN fails too
        raise invalid(f"{field} must be a finite number from 0 to {_RANGE}")
    return result


def mapping(field: str, value: object) -> Mapping[str, Any]:
    """A mapping (the JSON object a payload must be)."""
    if type(value) is dict:
        return value
    if not isinstance(value, Mapping):
        raise invalid(f"{field} must be a mapping, got {type(value).__name__}")
    return value


def shallow(field: str, value: Any) -> Any:
    """``value`` unchanged, unless it nests deeper than MAX_DEPTH: stored, it would break
    every reader that renders it recursively (export, JSON pages)."""
    if depth_exceeds(value):
        raise invalid(f"{field} nests more than {MAX_DEPTH} levels deep")
    return value


def limit(field: str, value: object, maximum: int) -> int:
    """A page size between 1 and ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise invalid(f"{field} must be an int between 1 and {maximum}, got {value!r}")
    return value


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def instant(field: str, value: object, *, end: bool = False) -> int:
    """A moment as ms since the epoch, from an int, a datetime, a date or an ISO string.

    Naive datetimes are UTC. A bare date (``"2024-12-31"`` or a ``date``) given as the end
    of a range covers that whole day, so ``until="2024-12-31"`` includes December 31st.
    The moment must lie between the epoch and the end of year 9999 (MAX_INSTANT_MS).
    """
    return in_time_range(field, _instant(field, value, end))


def in_time_range(field: str, ms: int) -> int:
    """``ms`` when it lies between the epoch and MAX_INSTANT_MS, else ERR_INVALID_INPUT."""
    if not 0 <= ms <= MAX_INSTANT_MS:
        raise invalid(
            f"{field} must lie between 1970-01-01 and 9999-12-31 "
            f"(0 to {MAX_INSTANT_MS} ms since the epoch)"
        )
    return ms


def _instant(field: str, value: object, end: bool) -> int:
    if isinstance(value, bool):
        raise invalid(f"{field} must be ms since the epoch, a datetime or an ISO date, got bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            raise invalid(f"{field} is not an ISO date or datetime: {value!r}") from None
    if isinstance(value, datetime):
        return _ms(value)
    if isinstance(value, date):
        start = _ms(datetime(value.year, value.month, value.day))
        return start + _DAY_MS - 1 if end else start
    raise invalid(f"{field} must be ms since the epoch, a datetime or an ISO date, got {value!r}")


def window(since: object, until: object) -> tuple[int | None, int | None]:
    """Inclusive bounds ``since <= t <= until``; either may be None (unbounded)."""
    lo = None if since is None else instant("since", since)
    hi = None if until is None else instant("until", until, end=True)
    if lo is not None and hi is not None and lo > hi:
        raise invalid(f"since ({lo}) is after until ({hi})")
    return lo, hi

"""What a replay strategy is, and the strategies racs ships.

A strategy decides, for one request at a time and knowing only the past, which cache
write the request makes (``Decision``). The replay calls ``decide`` for every request of a
stream in time order (streams one after another, in the order of their first request) and
``end_stream`` when a stream is over; one strategy object serves one replay run. The
hindsight optimum is not a strategy: it is computed from the whole stream (``optimum``).

``learned`` is the learned policy (``racs.replay.learned``, the same code the engine's
``reuse_policy="learned"`` decides with). Another package plugs in by naming a class in
``EXTERNAL`` (``"name": "module:Class"``, built with no arguments).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from racs.core.accounting import Rates
from racs.core.errors import invalid
from racs.core.tiers import TIER
from racs.planning.planner import choose_tier
from racs.traffic.model import Request


@dataclass(frozen=True, slots=True)
class Decision:
    """One request's cache choice."""

    tier: str | None
    """The write tier of the request's new suffix: a name of ``Situation.options`` (``5m``,
    ``1h``, ``30m``; ``in_memory``/``24h`` for routing-key providers; ``explicit-5m`` /
    ``explicit-1h`` Gemini cached contents), or ``None`` for no write (on automatic
    families ``None`` means the provider's automatic caching)."""
    keep_warm_s: float = 0.0
    """Keep the request's entry warm up to this many seconds after the request: the
    replay sends read-only touches at its expiry while the stream is idle (each billed as a
    read of the entry)."""


@dataclass(frozen=True, slots=True)
class Live:
    """One live cache entry of the stream as the strategy may see it."""

    tokens: int
    """The prefix length it covers."""
    tier: str
    expires_ms: float


@dataclass(frozen=True, slots=True)
class Situation:
    """What a strategy knows when it decides for one request (nothing of the future)."""

    request: Request
    index: int
    """Position of the request in its stream (0 first)."""
    stream: str
    """The replay's stream key (the request's stream and model)."""
    family: str
    """``breakpoint``, ``routing-key``, ``resource`` or ``passive``."""
    options: tuple[str | None, ...]
    """The decisions' ``tier`` values this provider accepts."""
    prefix_tokens: int
    """The cacheable prefix of the request (reconstructed from usage or structure)."""
    read_tokens: int
    """What the request reads from the cache before its own write."""
    live: tuple[Live, ...]
    """The stream's live entries before the request, shortest first."""
    gap_s: float | None
    """Seconds since the previous request of the stream (``None`` for the first)."""
    rates: Rates | None
    recorded: Decision
    """What the request actually chose, as read from its usage."""


@runtime_checkable
class Strategy(Protocol):
    """A replayable cache policy (see the module docstring for the calling order)."""

    name: str

    def decide(self, situation: Situation) -> Decision:
        """The decision for this request."""
        ...

    def end_stream(self, stream: str) -> None:
        """The stream has no more requests (free its state)."""
        ...


class _Stateless:
    """A strategy whose decision needs no ``Situation``: replay calls ``shortcut``."""

    name = ""

    def end_stream(self, stream: str) -> None:
        """Nothing kept per stream."""

    def decide(self, situation: Situation) -> Decision:
        """The decision from the situation's recorded choice and options."""
        return self.shortcut(_Recorded(situation.recorded), situation.options)

    def shortcut(self, step: HasRecorded, options: tuple[str | None, ...]) -> Decision:
        """The decision without building a ``Situation`` (the replay's fast path)."""
        raise NotImplementedError


class HasRecorded(Protocol):
    """Anything carrying a recorded decision (a replay step)."""

    @property
    def recorded(self) -> Decision:
        """What the request chose."""
        ...


@dataclass(frozen=True, slots=True)
class _Recorded:
    recorded: Decision


class Recorded(_Stateless):
    """The choices the traffic actually made."""

    name = "recorded"

    def shortcut(self, step: HasRecorded, options: tuple[str | None, ...]) -> Decision:
        """The recorded decision."""
        return step.recorded


_NO_WRITE: Final = Decision(None)


class NoCache(_Stateless):
    """Never write (automatic families still cache: that is not a choice)."""

    name = "none"

    def shortcut(self, step: HasRecorded, options: tuple[str | None, ...]) -> Decision:
        """No write."""
        return _NO_WRITE


class Fixed(_Stateless):
    """Always write the same tier (no write where the provider does not offer it)."""

    def __init__(self, tier: str) -> None:
        self.name = tier
        self.tier = tier
        self._memo: dict[tuple[str | None, ...], Decision] = {}

    def shortcut(self, step: HasRecorded, options: tuple[str | None, ...]) -> Decision:
        """``tier`` where offered, else the provider's default (its first option)."""
        found = self._memo.get(options)
        if found is None:
            found = Decision(self.tier if self.tier in options else options[0])
            self._memo[options] = found
        return found


class Planner(_Stateless):
    """The racs planner's tier choice, with a declared or default reuse interval.

    ``interval_s`` is the declared reuse; ``None`` asks the planner's default (no reuse
    declared), exactly as an engine user who declares nothing would get.
    """

    def __init__(self, interval_s: float | None = None) -> None:
        self.name = "racs" if interval_s is None else f"racs@{interval_s:g}s"
        self.interval_s = interval_s
        self._memo: dict[tuple[str | None, ...], Decision] = {}

    def shortcut(self, step: HasRecorded, options: tuple[str | None, ...]) -> Decision:
        """``planner.choose_tier`` among the provider's breakpoint tiers; automatic caching
        (the first option) on the other families."""
        found = self._memo.get(options)
        if found is None:
            tiers = tuple(t for t in options if t in TIER)
            if tiers:
                found = Decision(choose_tier(tiers, self.interval_s)[0])
            else:
                found = Decision(options[0])
            self._memo[options] = found
        return found


StrategyFactory = Callable[[], Strategy]


def _learned() -> Strategy:
    """The learned policy (its module builds on this one's types, so it is imported here)."""
    from racs.replay.learned import LearnedStrategy

    return LearnedStrategy()


BUILTIN: Final[dict[str, StrategyFactory]] = {
    "recorded": Recorded,
    "none": NoCache,
    "5m": lambda: Fixed("5m"),
    "1h": lambda: Fixed("1h"),
    "racs": Planner,
    "learned": _learned,
}
EXTERNAL: Final[dict[str, str]] = {}
DEFAULT_STRATEGIES: Final = ("recorded", "none", "5m", "1h", "racs", "learned")


def available() -> tuple[str, ...]:
    """Every strategy name ``make`` accepts (external ones only when importable)."""
    names = list(BUILTIN)
    for name in EXTERNAL:
        try:
            _external(name)
        except ImportError:  # an absent plug-in is simply not offered
            continue
        names.append(name)
    return tuple(names)


def _external(name: str) -> StrategyFactory:
    module, _, attr = EXTERNAL[name].partition(":")
    factory: StrategyFactory = getattr(importlib.import_module(module), attr)
    return factory


def make(name: str) -> Strategy:
    """A fresh strategy by name; ``racs@SECONDS`` is the planner with a declared reuse."""
    if name in BUILTIN:
        return BUILTIN[name]()
    if name.startswith("racs@"):
        try:
            seconds = float(name.removeprefix("racs@").removesuffix("s"))
        except ValueError:
            raise invalid(f"strategy {name!r}: racs@SECONDS needs a number") from None
        return Planner(seconds)
    if name in EXTERNAL:
        try:
            return _external(name)()
        except ImportError as exc:
            raise invalid(f"strategy {name!r} is not installed ({exc})") from None
    raise invalid(f"unknown strategy {name!r}; known: {', '.join(available())}")

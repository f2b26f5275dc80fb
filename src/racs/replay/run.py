"""Replay traffic: streams, every strategy and the optimum, under the neutral and the
pessimistic setting.

Requests are read once, a session at a time (importers yield a session's requests
together), so memory holds the live sessions' streams and the totals, not the traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from racs.core.accounting import Cost, Rates, cost_of
from racs.core.cache import NEUTRAL, SETTINGS, CacheRules, Setting, rules_for
from racs.core.catalog import default_profile_of
from racs.core.errors import RacsError, invalid
from racs.core.prices import PriceBook, ProfileOf
from racs.replay.optimum import Optimum, optimum
from racs.replay.reconstruct import Calibration, reconstruct, with_misses
from racs.replay.simulate import StepOutcome, run
from racs.replay.steps import Horizon, Step
from racs.replay.strategies import DEFAULT_STRATEGIES, Decision, Situation, Strategy, make
from racs.traffic.model import Request
from racs.traffic.problems import Problems

OPTIMUM = "optimum"


@dataclass(slots=True)
class StreamResult:
    """One stream (a session's conversation or subagent, one model) under every strategy."""

    key: str
    session: str
    provider: str
    model: str
    family: str
    requests: int
    start_ms: float
    end_ms: float
    billed: Cost
    """What the requests' recorded usage costs at the same prices."""
    costs: dict[str, dict[str, Cost]]
    """Setting name -> strategy name (and ``optimum``) -> dollars."""
    calibration: Calibration
    anomalies: list[tuple[str, str]]
    """(source, kind) of every step the reconstruction had to explain."""
    steps: list[Step] = field(default_factory=list)
    detail: dict[str, list[StepOutcome]] = field(default_factory=dict)
    """Strategy -> per-request outcomes (neutral setting), when asked for."""
    width: int = 0
    """The optimum's largest state count."""
    priced: bool = True


@dataclass(slots=True)
class Replay:
    """The whole replay: per stream (when kept) and in total."""

    strategies: tuple[str, ...]
    settings: tuple[str, ...]
    streams: list[StreamResult] = field(default_factory=list)
    totals: dict[str, dict[str, Cost]] = field(default_factory=dict)
    billed: Cost = field(default_factory=Cost)
    requests: int = 0
    stream_count: int = 0
    calibration: Calibration = field(default_factory=Calibration)
    unpriced: list[str] = field(default_factory=list)
    width: int = 0

    def total(self, strategy: str, setting: str = "neutral") -> float:
        """Total USD of a strategy (or ``optimum``) under a setting."""
        return self.totals[setting][strategy].total

    def captured(self, strategy: str, setting: str = "neutral") -> float | None:
        """(no cache - strategy) / (no cache - optimum); ``None`` when nothing can be saved."""
        return captured_share(self.totals[setting], strategy)


def captured_share(costs: dict[str, Cost], strategy: str) -> float | None:
    """The share of the possible savings a strategy captures (``None``: none possible)."""
    base = costs["none"].total
    possible = base - costs[OPTIMUM].total
    if possible <= 1e-12:
        return None
    return (base - costs[strategy].total) / possible


def _sessions(requests: Iterable[Request]) -> Iterator[list[Request]]:
    """Consecutive requests of one session (a session seen again later starts anew)."""
    chunk: list[Request] = []
    for req in requests:
        if chunk and req.session != chunk[0].session:
            yield chunk
            chunk = []
        chunk.append(req)
    if chunk:
        yield chunk


def _streams(session: list[Request]) -> dict[tuple[str, str, str], list[Request]]:
    groups: dict[tuple[str, str, str], list[Request]] = {}
    for req in session:
        groups.setdefault((req.stream, req.provider, req.model), []).append(req)
    for reqs in groups.values():
        reqs.sort(key=lambda r: r.timestamp_ms)
    return groups


def replay(
    requests: Iterable[Request],
    *,
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    prices: PriceBook | None = None,
    settings: Sequence[str] = ("neutral", "pessimistic"),
    profile_of: ProfileOf = default_profile_of,
    keep_warm: bool = True,
    detail: bool = False,
    keep_streams: bool = True,
    problems: Problems | None = None,
) -> Replay:
    """Replay ``requests`` under ``strategies`` (``none`` is always included) and the
    optimum, per stream and in total, under each setting. With ``problems``, a stream that
    cannot be replayed is named there (its first request and the reason) and the rest is
    replayed; without, its ``RacsError`` is raised."""
    names = tuple(dict.fromkeys(["none", *strategies]))
    for s in settings:
        if s not in SETTINGS:
            raise invalid(f"unknown setting {s!r}; known: {', '.join(SETTINGS)}")
    book = prices if prices is not None else PriceBook()
    built = {s: {n: make(n) for n in names} for s in settings}
    result = Replay(names, tuple(settings))
    result.totals = {s: {n: Cost() for n in (*names, OPTIMUM)} for s in settings}
    rules_memo: dict[tuple[str, str, str], CacheRules | None] = {}
    for session in _sessions(requests):
        for (stream, provider, model), reqs in _streams(session).items():
            key = f"{stream}@{model}"
            rk = (provider, model, "neutral")
            if rk not in rules_memo:
                profile = profile_of(provider, model)
                rules_memo[rk] = rules_for(profile, NEUTRAL) if profile else None
            rules = rules_memo[rk]
            try:
                if rules is None:
                    raise invalid(f"no cache profile for provider {provider!r}")
                out = _replay_stream(
                    key,
                    reqs,
                    rules,
                    book,
                    built,
                    settings,
                    profile_of,
                    rules_memo,
                    keep_warm,
                    detail,
                )
            except RacsError as exc:
                if problems is None:
                    raise
                problems.add(reqs[0].source or key, f"stream not replayed: {exc.message}")
                continue
            result.requests += out.requests
            result.stream_count += 1
            result.billed = result.billed + out.billed
            result.width = max(result.width, out.width)
            result.calibration.merge(out.calibration)
            for setting_name, costs in out.costs.items():
                for n, c in costs.items():
                    result.totals[setting_name][n] = result.totals[setting_name][n] + c
            if keep_streams:
                result.streams.append(out)
    result.unpriced = book.unpriced()
    return result


def _replay_stream(
    key: str,
    reqs: list[Request],
    rules: CacheRules,
    book: PriceBook,
    built: dict[str, dict[str, Strategy]],
    settings: Sequence[str],
    profile_of: ProfileOf,
    rules_memo: dict[tuple[str, str, str], CacheRules | None],
    keep_warm: bool,
    detail: bool,
) -> StreamResult:
    first = reqs[0]

    def rates_of(r: Request) -> Rates | None:
        return book.rates(
            r.provider, r.model, timestamp_ms=r.timestamp_ms, input_tokens=r.tokens.input
        )

    steps, cal = reconstruct(reqs, rules, rates_of)
    billed = Cost()
    for s in steps:
        if s.rates is not None and s.request is not None:
            billed = billed + cost_of(s.request.tokens, s.rates)
    out = StreamResult(
        key=key,
        session=first.session,
        provider=first.provider,
        model=first.model,
        family=rules.family,
        requests=len(steps),
        start_ms=steps[0].t_ms,
        end_ms=steps[-1].t_ms,
        billed=billed,
        costs={},
        calibration=cal,
        anomalies=[(s.request.source if s.request else "", s.anomaly) for s in steps if s.anomaly],
        priced=all(s.rates is not None for s in steps),
    )
    if detail:
        out.steps = steps
    for setting_name in settings:
        setting = SETTINGS[setting_name]
        srules = _rules(first, setting, profile_of, rules_memo, rules)
        ssteps = with_misses(steps, key, setting.misses) if setting.routing_miss else steps
        horizon = Horizon(ssteps)
        costs: dict[str, Cost] = {}
        for name, strategy in built[setting_name].items():
            want = detail and setting_name == "neutral"
            cost, outcomes = run(
                key,
                rules.family,
                ssteps,
                srules,
                strategy,
                horizon,
                detail=want,
            )
            costs[name] = cost
            if want:
                out.detail[name] = outcomes
        best = optimum(ssteps, srules, keep_warm=keep_warm, trace=True)
        out.width = max(out.width, best.states)
        # Price the optimum's own decisions through the same replay and cost_of.
        cost, outcomes = run(
            key,
            rules.family,
            ssteps,
            srules,
            _Replaying(best),
            horizon,
            detail=detail and setting_name == "neutral",
        )
        costs[OPTIMUM] = cost
        if detail and setting_name == "neutral":
            out.detail[OPTIMUM] = outcomes
        out.costs[setting_name] = costs
    return out


def _rules(
    first: Request,
    setting: Setting,
    profile_of: ProfileOf,
    memo: dict[tuple[str, str, str], CacheRules | None],
    neutral: CacheRules,
) -> CacheRules:
    if setting.name == "neutral":
        return neutral
    key = (first.provider, first.model, setting.name)
    found = memo.get(key)
    if found is None:
        profile = profile_of(first.provider, first.model)
        assert profile is not None
        found = memo[key] = rules_for(profile, setting)
    return found


class _Replaying:
    """The optimum's decisions, played back as a strategy."""

    name = OPTIMUM

    def __init__(self, best: Optimum) -> None:
        self.decisions = best.decisions
        self.i = 0

    def shortcut(self, step: Step, options: object) -> Decision:
        """The next decision of the optimum."""
        decision = self.decisions[self.i]
        self.i += 1
        return decision

    def decide(self, situation: Situation) -> Decision:
        """Never called: the replay takes the shortcut."""
        raise AssertionError("replayed through shortcut")

    def end_stream(self, stream: str) -> None:
        """Ready for another stream."""
        self.i = 0

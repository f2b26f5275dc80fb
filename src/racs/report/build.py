"""Build a traffic report from a stream of requests, in one pass and bounded memory."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any, Final

from racs.core.accounting import Rates, cost_of
from racs.core.prices import PriceBook
from racs.report.buckets import Bucket, as_row
from racs.report.findings import Finding
from racs.report.periods import PERIODS, Calendar, Period
from racs.report.walk import Gaps, Walker
from racs.traffic.model import Request
from racs.traffic.problems import Problems

DIMENSIONS: Final = ("session", "stream", "agent", "model", "project", "day")
"""The report's breakdowns, each a map of value -> bucket."""
NO_VALUE: Final = "(none)"
MAIN_AGENT: Final = "(main)"
HOUR_MS: Final = 3_600_000


@dataclass(frozen=True, slots=True)
class Filters:
    """Which requests a report covers (``None``: no restriction)."""

    since_ms: float | None = None
    until_ms: float | None = None
    project: str | None = None
    """Substring of the project (Claude Code: the working directory)."""
    session: str | None = None
    """Prefix of the session id."""
    model: str | None = None
    """Substring of the model id."""

    def admits(self, r: Request) -> bool:
        """True when ``r`` is inside every filter."""
        if self.since_ms is not None and r.timestamp_ms < self.since_ms:
            return False
        if self.until_ms is not None and r.timestamp_ms >= self.until_ms:
            return False
        if self.project is not None and self.project not in (r.project or ""):
            return False
        if self.session is not None and not r.session.startswith(self.session):
            return False
        return self.model is None or self.model in r.model


@dataclass(slots=True)
class CauseSum:
    """All findings of one cause: how many, tokens and dollars."""

    count: int = 0
    excess_tokens: int = 0
    usd: float = 0.0
    unpriced: int = 0


@dataclass(slots=True)
class Report:
    """Everything ``racs report`` shows; ``wire.to_json`` gives the versioned JSON."""

    total: Bucket
    by: dict[str, dict[str, Bucket]]
    hourly: dict[int, Bucket]
    """UTC hour (ms since the epoch) -> bucket: the time series of the charts."""
    findings: list[Finding]
    """The top findings, most dollars first."""
    causes: dict[str, CauseSum]
    gaps: Gaps
    problems: Problems
    unpriced_models: list[str]
    filters: Filters
    sources: list[str] = field(default_factory=list)
    periods: dict[str, list[Period]] = field(default_factory=dict)
    """``day``, ``week``, ``month`` -> the periods with requests, in time order."""
    zone: tzinfo = UTC
    """The zone of every period, day and printed time."""


class ReportBuilder:
    """Add requests one by one (each stream in time order), then ``finish``."""

    def __init__(
        self,
        prices: PriceBook,
        filters: Filters | None = None,
        top: int = 50,
        zone: tzinfo = UTC,
    ) -> None:
        self.prices = prices
        self.calendar = Calendar(zone)
        self.filters = filters or Filters()
        self.top = top
        # One bucket per (dimension values, hour): a request adds to one bucket, and the
        # breakdowns are merged from these cells at the end.
        self._cells: dict[tuple[Any, ...], Bucket] = {}
        self.causes: dict[str, CauseSum] = {}
        self._heap: list[tuple[float, int, Finding]] = []
        self._tie = itertools.count()
        self._walker = Walker(prices.profile)

    def _rates(self, r: Request) -> Rates | None:
        return self.prices.rates(
            r.provider, r.model, timestamp_ms=r.timestamp_ms, input_tokens=r.tokens.input
        )

    def _cell(self, r: Request) -> Bucket:
        # DIMENSIONS in order, then the week, the month and the UTC hour.
        key = (
            r.session,
            r.stream,
            r.agent or MAIN_AGENT,
            r.model,
            r.project or NO_VALUE,
            *self.calendar.keys(r.timestamp_ms),
            int(r.timestamp_ms // HOUR_MS * HOUR_MS),
        )
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = Bucket()
        return cell

    def add(self, r: Request) -> None:
        """Count one request (ignored when outside the filters)."""
        if not self.filters.admits(r):
            return
        rates = self._rates(r)
        cost = as_row(cost_of(r.tokens, rates)) if rates is not None else None
        self._cell(r).add(as_row(r.tokens), cost, r.timestamp_ms)
        step = self._walker.step(r, rates)
        if step.read_back is not None:
            writer, back = step.read_back
            self._cell(writer).read_back += back
        if step.finding is not None:
            self._keep(step.finding)

    def add_all(self, requests: Iterable[Request]) -> None:
        """``add`` each request."""
        for r in requests:
            self.add(r)

    def _keep(self, f: Finding, counted: float | None = None) -> None:
        """Keep a finding among the top ones and add it to its cause's totals (``counted``:
        the dollars of it no other finding holds, when some do)."""
        s = self.causes.get(f.cause)
        if s is None:
            s = self.causes[f.cause] = CauseSum()
        s.count += 1
        s.excess_tokens += f.excess_tokens
        if f.usd is None:
            s.unpriced += 1
        else:
            s.usd += f.usd if counted is None else counted
        # Bounded: the top findings by dollars (unpriced ones rank by tokens, last).
        rank = f.usd if f.usd is not None else -1.0 / (1 + f.excess_tokens)
        item = (rank, next(self._tie), f)
        if len(self._heap) < self.top:
            heapq.heappush(self._heap, item)
        elif rank > self._heap[0][0]:
            heapq.heapreplace(self._heap, item)

    def finish(self, problems: Problems, sources: Iterable[str] = ()) -> Report:
        """The report over everything added."""
        for f in self._walker.tier_findings():
            self._keep(f)
        for f, net in self._walker.uncached_findings():
            self._keep(f, counted=net)
        ranked = [f for _, _, f in sorted(self._heap, key=lambda x: (-x[0], x[1]))]
        causes = dict(sorted(self.causes.items(), key=lambda kv: -kv[1].usd))
        total = Bucket()
        by: dict[str, dict[str, Bucket]] = {d: {} for d in DIMENSIONS}
        hourly: dict[int, Bucket] = {}
        for key, cell in self._cells.items():
            total.merge(cell)
            for dim, value in zip(DIMENSIONS, key, strict=False):
                by[dim].setdefault(value, Bucket()).merge(cell)
            hourly.setdefault(key[-1], Bucket()).merge(cell)
        return Report(
            total=total,
            by=by,
            hourly=dict(sorted(hourly.items())),
            findings=ranked,
            causes=causes,
            gaps=self._walker.gaps,
            problems=problems,
            unpriced_models=self.prices.unpriced(),
            filters=self.filters,
            sources=list(sources),
            periods=self._periods(),
            zone=self.calendar.zone,
        )

    def _periods(self) -> dict[str, list[Period]]:
        periods: dict[str, dict[str, Period]] = {kind: {} for kind in PERIODS}
        model = DIMENSIONS.index("model")
        first = DIMENSIONS.index("day")
        for key, cell in self._cells.items():
            for i, kind in enumerate(PERIODS):
                value = key[first + i]
                period = periods[kind].get(value)
                if period is None:
                    start, end = self.calendar.bounds(kind, value)
                    period = periods[kind][value] = Period(value, start, end)
                period.total.merge(cell)
                period.models.setdefault(key[model], Bucket()).merge(cell)
        return {kind: [p for _, p in sorted(ps.items())] for kind, ps in periods.items()}


def build_report(
    requests: Iterable[Request],
    prices: PriceBook,
    problems: Problems,
    filters: Filters | None = None,
    top: int = 50,
    sources: Iterable[str] = (),
    hindsight: bool = False,
    zone: tzinfo = UTC,
    step: Callable[[str], None] | None = None,
) -> Report:
    """One pass over ``requests``: totals, breakdowns, findings (with ``hindsight``, the
    top findings quote what replaying their stream says the best choice would have saved;
    days, weeks and months in ``zone``; ``step`` is told when a slow step starts)."""
    builder = ReportBuilder(prices, filters, top, zone)
    builder.add_all(requests)
    report = builder.finish(problems, sources)
    if hindsight and report.findings:
        from racs.report.hindsight import with_hindsight

        if step is not None:
            step(f"hindsight: replaying the streams of {len(report.findings)} findings")
        report.findings = with_hindsight(report.findings, prices, builder.filters.admits)
    return report

"""The dashboard's aggregate SQL against a fold of the same requests in Python.

Every panel sums pre-priced rows in SQL (``racs.ledger.views``): over the hourly roll-ups,
and for ranges of whole days over ``traffic_days`` plus the hours at the edges. These
properties write hypothesis-generated requests through the fold's own writer
(``views.add_requests``, provisional rows taken back as the fold takes them) into a real
SQLite file and a real PostgreSQL schema, and check each aggregate against plain Python
sums of the same requests under the same scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racs.core.accounting import Tokens
from racs.core.prices import PriceBook
from racs.ledger import create_ledger, views
from racs.ledger.backend import Tx
from racs.ledger.views import DAY_MS, HOUR_MS, Scope
from racs.ledger.viewstore import ViewStore
from racs.server.fold import request_of, request_row, usd_classes
from racs.traffic.model import Request
from traffic.conftest import _postgres_target

T0 = 1_770_076_800_000  # 2026-02-03T00:00Z, a UTC midnight
PRICES = PriceBook()
MODELS = ("claude-sonnet-4-5", "claude-opus-4-5", "mystery-model-1")  # the last: unpriced


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ViewStore]:
    """The dashboard's tables in a migrated ledger: a SQLite file or a PostgreSQL schema."""
    targets = (
        iter([str(tmp_path / "ledger.db")]) if request.param == "sqlite" else _postgres_target()
    )
    target = next(targets)
    create_ledger(target).close()
    s = ViewStore(target)
    yield s
    s.close()
    for _ in targets:  # drops the PostgreSQL schema
        pass


@st.composite
def traffic(draw: st.DrawFn) -> Request:
    """One request in the five days around ``T0``, or now and then around 1970 (a
    user-stamped time: its day starts before its hour, in SQL too)."""
    around = draw(st.sampled_from((T0, T0, T0, T0, 0)))
    ts = around + draw(st.integers(-2 * DAY_MS, 3 * DAY_MS))
    session = draw(st.sampled_from(("s1", "s2", "t1")))
    agent = draw(st.sampled_from((None, None, "a1", "a2")))
    read = draw(st.integers(0, 50_000))
    written = draw(st.integers(0, 20_000))
    tier = draw(st.sampled_from(("5m", "1h")))
    return Request(
        timestamp_ms=float(ts),
        provider="anthropic",
        model=draw(st.sampled_from(MODELS)),
        tokens=Tokens.all_in(
            read + written + draw(st.integers(0, 5_000)),
            read,
            {tier: written},
            draw(st.integers(0, 4_000)),
        ),
        session=session,
        stream=session if agent is None else f"{session}/agent-{agent}",
        kind="main" if agent is None else "subagent",
        request_id=None,
        project=draw(st.sampled_from((None, "/home/u/proj-a", "/home/u/proj-b"))),
        agent=agent,
        source="generated",
    )


_HOURS = st.one_of(st.none(), st.integers(-60, 100).map(lambda h: T0 + h * HOUR_MS))
scopes = st.builds(
    Scope,
    since=_HOURS,
    until=_HOURS,
    model=st.sampled_from((None, "sonnet", "opus", "claude")),
    project=st.sampled_from((None, "proj-a", "/home")),
    session=st.sampled_from((None, "s", "s1", "t")),
    agent=st.sampled_from((None, "", "a1")),
)


def _write(store: ViewStore, final: list[Request], provisional: list[Request]) -> None:
    """Write ``final`` as folded rows and ``provisional`` as rows the next fold takes back,
    then take them back, as the fold does."""

    def write(tx: Tx) -> None:
        views.reset(tx)
        rows, usd = [], []
        for seq, r in enumerate([*final, *provisional], start=1):
            total, classes = usd_classes(r, PRICES)
            rows.append(request_row(seq, r, total, seq > len(final)))
            usd.append(classes)
        views.add_requests(tx, rows, usd)
        views.take_provisional(tx, lambda row: usd_classes(request_of(row), PRICES)[1])

    store.write(write)


def _sums(r: Request) -> list[float]:
    total, classes = usd_classes(r, PRICES)
    t = r.tokens
    tokens = [t.fresh, t.read, t.write_5m, t.write_30m, t.write_1h, t.output]
    return [1.0, 1.0 if total is None else 0.0, *tokens, *classes]


def _inside(r: Request, scope: Scope) -> bool:
    hour = r.timestamp_ms // HOUR_MS * HOUR_MS
    return (
        (scope.since is None or hour >= scope.since)
        and (scope.until is None or hour < scope.until)
        and (not scope.model or scope.model in r.model)
        and (not scope.project or scope.project in (r.project or ""))
        and (not scope.session or r.session.startswith(scope.session))
        and (scope.agent is None or (r.agent or "") == scope.agent)
    )


def _value(r: Request, dim: str) -> str:
    value: Any = getattr(r, dim)
    return value or ""


def _python_fold(reqs: list[Request], scope: Scope, dim: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in reqs:
        if not _inside(r, scope):
            continue
        key = "" if dim is None else _value(r, dim)
        acc = out.setdefault(key, [[0.0] * len(views.SUM_COLUMNS), None])
        acc[0] = [a + b for a, b in zip(acc[0], _sums(r), strict=True)]
        project = r.project or ""
        acc[1] = project if acc[1] is None else min(acc[1], project)
    return out


def _approx(values: Any) -> Any:
    return pytest.approx(list(values), rel=1e-9, abs=1e-9)


_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class TestSumsAreAPythonFold:
    @_SETTINGS
    @given(
        final=st.lists(traffic(), min_size=1, max_size=40),
        provisional=st.lists(traffic(), max_size=5),
        scope_list=st.lists(scopes, min_size=8, max_size=8),
    )
    def test_totals_count_and_breakdowns(
        self,
        store: ViewStore,
        final: list[Request],
        provisional: list[Request],
        scope_list: list[Scope],
    ) -> None:
        """Totals, the request count, every breakdown (sums and its project) and the lists
        of values equal Python's sums over the requests the scope holds; provisional rows
        taken back leave no trace."""
        _write(store, final, provisional)
        for scope in scope_list:
            self._check(store, final, scope)

    @staticmethod
    def _check(store: ViewStore, final: list[Request], scope: Scope) -> None:
        expected = _python_fold(final, scope).get("", [[0.0] * len(views.SUM_COLUMNS)])[0]
        assert store.read(lambda tx: views.totals(tx, scope)) == _approx(expected), scope
        assert store.read(lambda tx: views.count(tx, scope)) == int(expected[0]), scope
        for dim in views.DIMENSIONS:
            by = _python_fold(final, scope, dim)
            rows = store.read(lambda tx, d=dim: views.breakdown(tx, scope, d, 1_000))
            assert sorted(v for v, _, _ in rows) == sorted(by), (dim, scope)
            for value, project, sums in rows:
                assert sums == _approx(by[value][0]), (dim, value, scope)
                assert project == by[value][1], (dim, value, scope)
            listed = store.read(lambda tx, d=dim: views.distinct(tx, scope, d, 1_000))
            assert listed == sorted(by), (dim, scope)
        pairs = sorted({(r.provider, r.model) for r in final if _inside(r, scope)})
        assert store.read(lambda tx: views.models(tx, scope, 1_000)) == pairs, scope

    @_SETTINGS
    @given(
        final=st.lists(traffic(), max_size=40),
        scope=scopes,
        step_hours=st.sampled_from((1, 3, 12, 24, 48)),
    )
    def test_series(
        self, store: ViewStore, final: list[Request], scope: Scope, step_hours: int
    ) -> None:
        """Each bucket of the time series holds the sums of the requests in its hours."""
        _write(store, final, [])
        # Where the page starts the axis: the range's start, else the first request's hour.
        first = min((int(r.timestamp_ms // HOUR_MS * HOUR_MS) for r in final), default=T0)
        origin = first if scope.since is None else scope.since
        step = step_hours * HOUR_MS
        expected: dict[int, list[float]] = {}
        for r in final:
            if _inside(r, scope):
                hour = int(r.timestamp_ms // HOUR_MS * HOUR_MS)
                t = origin + (hour - origin) // step * step
                acc = expected.setdefault(t, [0.0] * len(views.SUM_COLUMNS))
                expected[t] = [a + b for a, b in zip(acc, _sums(r), strict=True)]
        found = store.read(lambda tx: views.series(tx, scope, origin, step))
        assert [t for t, _ in found] == sorted(expected)
        for t, sums in found:
            assert sums == _approx(expected[t]), t

    @_SETTINGS
    @given(final=st.lists(traffic(), max_size=40))
    def test_the_migration_fills_days_as_the_fold_does(
        self, store: ViewStore, final: list[Request]
    ) -> None:
        """Migration 7 computes ``traffic_days`` from the hourly streams of a ledger folded
        before it: the same rows the fold writes."""
        _write(store, final, [])
        select = f"SELECT * FROM {views.DAYS} ORDER BY {', '.join(views.DAYS_KEY)}"
        folded = store.read(lambda tx: tx.rows(select))

        def migrate(tx: Tx) -> list[Any]:
            views.create_days(tx)
            return tx.rows(select)

        migrated = store.write(migrate)
        assert [r[: len(views.DAYS_KEY)] for r in migrated] == [
            r[: len(views.DAYS_KEY)] for r in folded
        ]
        for a, b in zip(migrated, folded, strict=True):
            assert list(a[len(views.DAYS_KEY) :]) == _approx(b[len(views.DAYS_KEY) :])

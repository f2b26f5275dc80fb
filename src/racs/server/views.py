"""``GET /traffic/...``: the dashboard's data, over the ledger's own timeline.

Every route takes the same scope in its query: ``range`` (``24h``, ``7d``, ``30d``,
``all`` or ``custom`` with ``since``/``until`` in ms), and the filters ``model``,
``project`` (substrings), ``session`` (a prefix) and ``agent`` (exact; ``(main)`` for the
main conversation). Preset ranges end at the hour after the newest request, so an
imported history is shown where it happened, not against the wall clock; every range is
whole UTC hours. Sums come from the roll-ups of ``racs.ledger.views`` (folded from the
events by ``racs.server.fold``); findings, gaps and what-if from ``insights``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from racs.core.errors import RacsError, invalid
from racs.core.prices import PriceBook
from racs.core.tiers import TTL_SECONDS
from racs.ledger import views
from racs.ledger.backend import Tx
from racs.ledger.views import HOUR_MS, Scope
from racs.ledger.viewstore import ViewStore
from racs.report.build import MAIN_AGENT, build_report
from racs.server.errors import ERR_NO_LEDGER, JSONBody
from racs.server.fold import Fold, FoldStatus, request_of
from racs.server.insights import Insights, cli_command, ms, report_body, report_filters
from racs.server.wire import query_int
from racs.traffic.problems import Problems

DAY_MS: Final = 24 * HOUR_MS
PRESETS: Final = {"24h": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS, "all": None}
STEPS: Final = tuple(h * HOUR_MS for h in (1, 2, 3, 6, 12, 24, 48, 168, 336, 720))
MAX_POINTS: Final = 120
MAX_TEXT: Final = 200
ANSWERS: Final = 256
"""Answers kept per server, for the same query at the same folded head."""
SESSION_LIMIT: Final = 2_000
"""Requests of one session drawn and walked before its page answers: the report's walk
costs Python time per request, so a longer session shows its first requests (and says
so); its page gives the ``racs report --session`` command for the whole of it."""


def bucket(sums: Sequence[float]) -> dict[str, Any]:
    """Sums in ``views.SUM_COLUMNS`` order, in the report's bucket wire form."""
    s = dict(zip(views.SUM_COLUMNS, sums, strict=True))
    writes = s["write_5m"] + s["write_30m"] + s["write_1h"]
    total_in = s["fresh"] + s["read"] + writes
    usd = {k: s[f"usd_{k}"] for k in ("fresh", "read", "write_5m", "write_30m", "write_1h")}
    spend = sum(usd.values()) + s["usd_output"]
    return {
        "requests": int(s["requests"]),
        "unpricedRequests": int(s["unpriced"]),
        "tokens": {
            "fresh": int(s["fresh"]),
            "read": int(s["read"]),
            "write5m": int(s["write_5m"]),
            "write30m": int(s["write_30m"]),
            "write1h": int(s["write_1h"]),
            "output": int(s["output"]),
            "input": int(total_in),
        },
        "usd": {
            "fresh": usd["fresh"],
            "read": usd["read"],
            "write5m": usd["write_5m"],
            "write30m": usd["write_30m"],
            "write1h": usd["write_1h"],
            "output": s["usd_output"],
            "total": spend,
            "saved": s["usd_saved"],
            "writePremium": s["usd_premium"],
        },
        "hitRatio": s["read"] / total_in if total_in else None,
    }


def _text(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_TEXT:
        raise invalid(f"query parameter {name} is longer than {MAX_TEXT} characters")
    if any(ord(ch) < 32 for ch in raw):
        raise invalid(f"query parameter {name} has control characters")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(f"query parameter {name} is not valid text") from None
    return raw


def _floor(ms: float) -> int:
    return int(ms // HOUR_MS * HOUR_MS)


def _ceil(ms: float) -> int:
    return -int(-ms // HOUR_MS) * HOUR_MS


class Window:
    """A resolved range: the scope's bounds and the axis it is drawn on."""

    def __init__(self, preset: str, scope: Scope, start: int | None, end: int | None) -> None:
        self.preset = preset
        self.scope = scope
        self.start = start
        self.end = end

    def to_dict(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "preset": self.preset,
            "sinceMs": self.scope.since,
            "untilMs": self.scope.until,
            "startMs": self.start,
            "endMs": self.end,
        }


def window(request: Request, extent: tuple[float, float] | None) -> Window:
    """The scope a query asks for, its range resolved against the traffic's extent."""
    preset = request.query_params.get("range") or "all"
    since = query_int(request, "since")
    until = query_int(request, "until")
    if preset not in PRESETS and preset != "custom":
        raise invalid(f"range must be one of {', '.join([*PRESETS, 'custom'])}")
    if preset == "custom":
        if since is None and until is None:
            raise invalid("a custom range needs since or until (ms)")
        if since is not None and until is not None and since >= until:
            raise invalid("since must be before until")
        lo = None if since is None else _floor(since)
        hi = None if until is None else _ceil(until)
    elif preset == "all" or extent is None:
        lo = hi = None
    else:
        hi = _floor(extent[1]) + HOUR_MS
        lo = hi - int(PRESETS[preset] or 0)
    agent = _text(request, "agent")
    scope = Scope(
        since=lo,
        until=hi,
        model=_text(request, "model"),
        project=_text(request, "project"),
        session=_text(request, "session"),
        agent="" if agent == MAIN_AGENT else agent,
    )
    start = lo if lo is not None else (None if extent is None else _floor(extent[0]))
    end = hi if hi is not None else (None if extent is None else _floor(extent[1]) + HOUR_MS)
    return Window(preset, scope, start, end)


def step_for(start: int, end: int) -> int:
    """The chart's bucket: the smallest step drawing the range in at most MAX_POINTS."""
    for step in STEPS:
        if (end - start) / step <= MAX_POINTS:
            return step
    # Centuries of (user-stamped) usage: whole days, still at most MAX_POINTS of them.
    return -(-(end - start) // (MAX_POINTS * DAY_MS)) * DAY_MS


def _target(ledger: Any) -> str:
    """Where the ledger lives, for a connection of the dashboard's own."""
    backend = getattr(ledger, "_backend", None)
    url = getattr(backend, "_url", None)
    if isinstance(url, str):
        return url
    path = getattr(backend, "path", None)
    if isinstance(path, str) and path != ":memory:" and not path.startswith("file:"):
        return path
    raise RacsError(ERR_NO_LEDGER, "the dashboard needs a ledger file or a PostgreSQL URL")


class TrafficViews:
    """The ``/traffic/...`` routes of one server, with their fold and insights."""

    def __init__(self, ledger: Any, prices: PriceBook) -> None:
        self.ledger = ledger
        self.prices = prices
        self._store: ViewStore | None = None
        self._fold: Fold | None = None
        self._insights: Insights | None = None
        self._answers: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def _parts(self) -> tuple[ViewStore, Fold, Insights]:
        if self.ledger is None:
            raise RacsError(ERR_NO_LEDGER, "this server has no ledger (start it with --ledger)")
        if self._store is None or self._fold is None or self._insights is None:
            target = _target(self.ledger)
            store = ViewStore(target)
            location = str(self.ledger.location)
            # The fold writes through a connection of its own: panels read while it folds.
            self._fold = Fold(ViewStore(target), self.prices, location)
            self._insights = Insights(store, self.prices, location)
            self._store = store
        return self._store, self._fold, self._insights

    def close(self) -> None:
        """Stop the background work and release the connection."""
        if self._fold is not None:
            self._fold.close()
            self._fold.store.close()
        if self._insights is not None:
            self._insights.close()
        if self._store is not None:
            self._store.close()

    def _scoped(
        self, request: Request
    ) -> tuple[ViewStore, FoldStatus, Window, tuple[float, float] | None]:
        store, fold, _ = self._parts()
        status = fold.refresh()
        extent = store.read(views.extent)
        return store, status, window(request, extent), extent

    # --- routes ---------------------------------------------------------------------

    def overview(self, request: Request) -> dict[str, Any]:
        """Totals and the time series of the scope."""
        store, status, win, extent = self._scoped(request)
        out: dict[str, Any] = {
            "fold": status.to_dict(),
            "extent": None
            if extent is None
            else {"firstMs": ms(extent[0]), "lastMs": ms(extent[1])},
            "range": win.to_dict(),
        }

        def read(tx: Tx) -> dict[str, Any]:
            body: dict[str, Any] = {"total": bucket(views.totals(tx, win.scope))}
            if win.start is None or win.end is None:
                body.update(bucketMs=HOUR_MS, series=[])
                return body
            step = step_for(win.start, win.end)
            found = dict(views.series(tx, win.scope, win.start, step))
            points = []
            zero = (0.0,) * len(views.SUM_COLUMNS)
            for t in range(win.start, win.end, step):
                b = bucket(found.get(t, zero))
                points.append(
                    {"t": t, "requests": b["requests"], "tokens": b["tokens"], "usd": b["usd"],
                     "hitRatio": b["hitRatio"]}
                )  # fmt: skip
            body.update(bucketMs=step, series=points)
            return body

        out.update(store.read(read))
        return out

    def breakdown(self, request: Request) -> dict[str, Any]:
        """The values of one dimension with the most dollars."""
        store, _, win, _ = self._scoped(request)
        dim = request.query_params.get("dim") or "session"
        if dim not in views.DIMENSIONS:
            raise invalid(f"dim must be one of {', '.join(views.DIMENSIONS)}")
        limit = query_int(request, "limit") or 20
        limit = min(limit, 500)

        def read(tx: Tx) -> list[dict[str, Any]]:
            rows = views.breakdown(tx, win.scope, dim, limit)
            spans = views.span(tx, [v for v, _, _ in rows], win.scope) if dim == "session" else {}
            out = []
            for value, project, sums in rows:
                first, last = spans.get(value, (None, None))
                key = MAIN_AGENT if dim == "agent" and value == "" else value
                row = {"key": key, "project": project or None}
                out.append({**row, "firstMs": ms(first), "lastMs": ms(last), **bucket(sums)})
            return out

        return {"dim": dim, "range": win.to_dict(), "rows": store.read(read)}

    def options(self, request: Request) -> dict[str, Any]:
        """The values each filter can take in the range (most dollars first)."""
        store, _, win, _ = self._scoped(request)
        unfiltered = Scope(since=win.scope.since, until=win.scope.until)

        def read(tx: Tx) -> dict[str, list[str]]:
            out = {}
            for dim, limit in (("model", 100), ("project", 200), ("agent", 200), ("session", 200)):
                if dim == "agent":  # one per subagent in Claude Code: listed, not ranked
                    agents = views.distinct(tx, unfiltered, "agent", limit)
                    out["agents"] = [MAIN_AGENT if a == "" else a for a in agents]
                    continue
                rows = views.breakdown(tx, unfiltered, dim, limit)
                out[dim + "s"] = [
                    MAIN_AGENT if dim == "agent" and v == "" else v
                    for v, _, _ in rows
                    if v or (dim == "agent")
                ]
            return out

        return store.read(read)

    def insight(self, kind: str, request: Request) -> dict[str, Any]:
        """The report's findings or the what-if for the scope."""
        store, fold, insights = self._parts()
        status = fold.refresh()
        win = window(request, store.read(views.extent))
        body = insights.get(kind, win.scope, status.position, status.seq)
        body["range"] = win.to_dict()
        body["fold"] = status.to_dict()
        if kind == "report":
            body["lifetimes"] = self._lifetimes(self._scope_models(store, win.scope))
        return body

    def _lifetimes(self, pairs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """The cache lifetimes (tiers) the models of ``pairs`` (provider, model) offer."""
        names: set[str] = set()
        for provider, model in pairs:
            profile = self.prices.profile(provider, model)
            if profile is not None and profile.ttls:
                names.update(t for t in profile.ttls if t in TTL_SECONDS)
        return [
            {"tier": n, "seconds": TTL_SECONDS[n]}
            for n in sorted(names, key=lambda n: TTL_SECONDS[n])
        ]

    def _scope_models(self, store: ViewStore, scope: Scope) -> list[tuple[str, str]]:
        return store.read(lambda tx: views.models(tx, scope, 50))

    def session(self, request: Request) -> dict[str, Any]:
        """One session: its requests on a timeline, its streams, its findings."""
        store, fold, insights = self._parts()
        status = fold.refresh()
        session = _text(request, "id")
        if session is None:
            raise invalid("query parameter id (the session) is required")
        rows = store.read(lambda tx: views.session_requests(tx, session, SESSION_LIMIT + 1))
        truncated = len(rows) > SESSION_LIMIT
        requests = [request_of(r) for r in rows[:SESSION_LIMIT]]
        scope = Scope(session=session)
        report = build_report(requests, self.prices, Problems(), report_filters(scope))
        body = report_body(report)
        last: dict[tuple[str, str], float] = {}
        points = []
        for r in requests:
            key = (r.stream, r.model)
            before = last.get(key)
            last[key] = r.timestamp_ms
            t = r.tokens
            points.append(
                {
                    "t": ms(r.timestamp_ms),
                    "stream": r.stream,
                    "model": r.model,
                    "agent": r.agent or MAIN_AGENT,
                    "kind": r.kind,
                    "requestId": r.request_id,
                    "source": r.source,
                    "input": int(t.input),
                    "fresh": int(t.fresh),
                    "read": int(t.read),
                    "written": int(t.writes),
                    "write1h": int(t.write_1h),
                    "output": int(t.output),
                    "gapSeconds": None if before is None else (r.timestamp_ms - before) / 1000,
                }
            )
        streams = [
            {"key": k, "requests": b.requests, "usd": b.cost.total,
             "hitRatio": b.hit_ratio, "prefixEfficiency": b.prefix_efficiency,
             "firstMs": ms(b.first_ms), "lastMs": ms(b.last_ms)}
            for k, b in sorted(report.by["stream"].items(), key=lambda kv: -kv[1].cost.total)
        ]  # fmt: skip
        projects = [k for k in report.by["project"] if k != "(none)"]
        return {
            "session": session,
            "project": projects[0] if projects else None,
            "fold": status.to_dict(),
            "requests": points,
            "truncated": truncated,
            "streams": streams,
            "lifetimes": self._lifetimes({(r.provider, r.model) for r in requests}),
            "command": cli_command("report", insights.location, scope),
            **body,
        }

    def _answer(self, fn: Callable[[Request], dict[str, Any]], request: Request) -> Response:
        """The route's answer; the same query at the same folded head is answered from
        memory (a page polling an idle ledger costs nothing), anything new is computed."""
        if self.ledger is None or request.url.path in ("/traffic/report", "/traffic/whatif"):
            return JSONBody(fn(request))
        _, fold, _ = self._parts()
        status = fold.refresh()
        key = (request.url.path, str(request.query_params), status.position, status.seq)
        with self._lock:
            body = self._answers.get(key)
        if body is None:
            body = bytes(JSONBody(fn(request)).body)
            with self._lock:
                self._answers[key] = body
                while len(self._answers) > ANSWERS:
                    self._answers.popitem(last=False)
        return Response(body, media_type="application/json")

    def routes(self) -> list[BaseRoute]:
        """The routes, each run in the thread pool (they read the database)."""

        def endpoint(
            fn: Callable[[Request], dict[str, Any]],
        ) -> Callable[[Request], Awaitable[Response]]:
            async def run(request: Request) -> Response:
                # Encoded in the pool too: a large answer must not hold up the event loop.
                return await run_in_threadpool(lambda: self._answer(fn, request))

            return run

        return [
            Route("/traffic/overview", endpoint(self.overview), methods=["GET"]),
            Route("/traffic/breakdown", endpoint(self.breakdown), methods=["GET"]),
            Route("/traffic/options", endpoint(self.options), methods=["GET"]),
            Route(
                "/traffic/report", endpoint(lambda r: self.insight("report", r)), methods=["GET"]
            ),
            Route(
                "/traffic/whatif", endpoint(lambda r: self.insight("whatif", r)), methods=["GET"]
            ),
            Route("/traffic/session", endpoint(self.session), methods=["GET"]),
        ]

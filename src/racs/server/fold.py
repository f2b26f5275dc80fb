"""Fold the ledger into the dashboard's tables with the report's own reader, priced once.

``racs report --ledger`` reads the events through ``racs.traffic.ledger`` (one request per
call, usage joined with its run's output) and prices each request with the price book.
The fold does exactly that, a batch of events at a time from where it stopped, and writes
each request and its dollars into ``racs.ledger.views``'s tables: a panel then sums rows
that are already priced instead of reading runs. Each request is read and priced once,
whatever the number of page loads; a new ledger of a million runs is folded once, in the
background, and kept (the tables live in the ledger's database).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Final

from racs.core.accounting import Tokens, cost_of
from racs.core.prices import PriceBook
from racs.ledger import store as ledger_store
from racs.ledger import views
from racs.ledger.backend import Row, Tx
from racs.ledger.views import FoldMark, Scope
from racs.ledger.viewstore import ViewStore, pages
from racs.traffic.ledger import Tail
from racs.traffic.model import Request
from racs.traffic.problems import Problems

log = logging.getLogger("racs.server")

STEP_EVENTS: Final = 3000
"""Events read per fold transaction: short enough that appends never wait long for it."""
SYNC_EVENTS: Final = 2000
"""A backlog up to this size is folded before a panel answers; beyond, in the background."""
_COL: Final = {name: i for i, name in enumerate(views.REQUEST_COLUMNS)}


def pricing_id(prices: PriceBook) -> str:
    """A digest of what prices the rows: the user's cards and the price database version."""
    try:
        database = metadata.version("genai-prices")
    except metadata.PackageNotFoundError:
        database = "none"
    cards = {k: repr(v) for k, v in sorted(prices.pricing.items())}
    text = json.dumps({"cards": cards, "db": database}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def usd_classes(r: Request, prices: PriceBook) -> tuple[float | None, list[float]]:
    """The request's dollars (``None``: unpriced) and its ``views.USD_COLUMNS`` values."""
    rates = prices.rates(
        r.provider, r.model, timestamp_ms=r.timestamp_ms, input_tokens=r.tokens.input
    )
    if rates is None:
        return None, [0.0] * len(views.USD_COLUMNS)
    c = cost_of(r.tokens, rates)
    return c.total, [
        c.fresh,
        c.read,
        c.write_5m,
        c.write_30m,
        c.write_1h,
        c.output,
        c.saved,
        c.write_premium,
    ]


def request_row(seq: int, r: Request, usd: float | None, provisional: bool) -> tuple[Any, ...]:
    """A request as a ``traffic_requests`` row."""
    t = r.tokens
    return (
        seq,
        r.timestamp_ms,
        r.provider,
        r.model,
        r.session,
        r.stream,
        r.kind,
        r.request_id,
        r.project,
        r.agent,
        r.source,
        t.fresh,
        t.read,
        t.write_5m,
        t.write_30m,
        t.write_1h,
        t.output,
        usd,
        1 if provisional else 0,
    )


def request_of(row: Row) -> Request:
    """The ``Request`` a ``traffic_requests`` row holds (as the ledger reader yielded it)."""
    c = _COL
    return Request(
        timestamp_ms=float(row[c["ts"]]),
        provider=row[c["provider"]],
        model=row[c["model"]],
        tokens=Tokens(*(float(row[c[name]]) for name in views.TOKEN_COLUMNS)),
        session=row[c["session"]],
        stream=row[c["stream"]],
        kind=row[c["kind"]],
        request_id=row[c["request_id"]],
        project=row[c["project"]],
        agent=row[c["agent"]],
        source=row[c["source"]],
    )


def requests_in(store: ViewStore, scope: Scope, upto_seq: int | None = None) -> Iterator[Request]:
    """The scope's requests in the reader's order, a page at a time (bounded memory).

    With ``upto_seq``, folded requests after it are left out: a walk that started at one
    fold mark does not pick up half of a later fold.
    """
    for page in pages(store, scope):
        for row in page:
            if upto_seq is not None and not row[_COL["provisional"]] and row[0] > upto_seq:
                return
            yield request_of(row)


@dataclass(frozen=True, slots=True)
class FoldStatus:
    """Where the fold stands against the ledger's head."""

    position: int
    head: int
    seq: int
    updated_at: int
    folding: bool

    def to_dict(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "position": self.position,
            "head": self.head,
            "requests": self.seq,
            "behind": max(0, self.head - self.position),
            "folding": self.folding,
            "updatedMs": self.updated_at,
        }


class Fold:
    """Keeps the dashboard's tables up to the ledger's head (see the module docstring)."""

    def __init__(self, store: ViewStore, prices: PriceBook, where: str) -> None:
        self.store = store
        self.prices = prices
        self.where = where
        self.pricing = pricing_id(prices)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_error: str | None = None

    def _usd_of(self, row: Row) -> Sequence[float]:
        return usd_classes(request_of(row), self.prices)[1]

    def step(self, budget: int = STEP_EVENTS) -> FoldStatus:
        """Fold up to ``budget`` events in one transaction; the status after it."""
        return self.store.write(lambda tx: self._step(tx, budget))

    def _step(self, tx: Tx, budget: int) -> FoldStatus:
        now = time.time_ns() // 1_000_000
        mark = views.fold_mark(tx, lock=True)
        head = views.head_position(tx)
        if mark is None or mark.pricing != self.pricing or mark.position > head:
            views.reset(tx)
            mark = FoldMark(0, 0, self.pricing, {}, now)
        elif mark.position >= head:
            return FoldStatus(mark.position, head, mark.seq, mark.updated_at, False)
        views.take_provisional(tx, self._usd_of)
        problems = Problems()
        tail = Tail(self.where, problems)
        tail.restore(mark.state)
        events = ledger_store.query_events(
            tx,
            type_=None,
            run_id=None,
            after_position=mark.position,
            since=None,
            until=None,
            limit=budget,
        )
        done = list(_fed(tail, events))
        position = events[-1].position if events else mark.position
        rows: list[tuple[Any, ...]] = []
        usd: list[list[float]] = []
        seq = mark.seq
        for r in done:
            seq += 1
            total, classes = usd_classes(r, self.prices)
            rows.append(request_row(seq, r, total, False))
            usd.append(classes)
        state = tail.state()
        if position >= head:
            # What a report at this head also counts: the runs still open and the records
            # still held, as rows the next fold takes back.
            pending = Tail(self.where, problems)
            pending.restore(json.loads(json.dumps(state)))
            for i, r in enumerate(pending.flush(), start=1):
                total, classes = usd_classes(r, self.prices)
                rows.append(request_row(seq + i, r, total, True))
                usd.append(classes)
        views.add_requests(tx, rows, usd)
        updated = FoldMark(position, seq, self.pricing, state, now)
        views.save_mark(tx, updated)
        return FoldStatus(position, head, seq, now, False)

    def status(self) -> FoldStatus:
        """Where the fold stands, without folding."""

        def read(tx: Tx) -> FoldStatus:
            mark = views.fold_mark(tx)
            head = views.head_position(tx)
            if mark is None or mark.pricing != self.pricing:
                return FoldStatus(0, head, 0, 0, self.folding)
            return FoldStatus(mark.position, head, mark.seq, mark.updated_at, self.folding)

        return self.store.read(read)

    @property
    def folding(self) -> bool:
        """Whether a background fold is running."""
        return self._thread is not None and self._thread.is_alive()

    def refresh(self) -> FoldStatus:
        """Catch up before answering when the backlog is small; else fold in the background
        and answer with what is folded so far."""
        if self.folding:
            return self.status()
        with self._lock:
            if self.folding:
                return self.status()
            status = self.status()
            behind = status.head - status.position
            if status.updated_at and behind <= 0:
                return status
            if behind <= SYNC_EVENTS:
                status = self.step(SYNC_EVENTS)
                if status.position >= status.head:
                    return status
            self._start()
            return self.status()

    def _start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="racs-fold", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                status = self.step()
                if status.position >= status.head:
                    return
        except Exception as exc:  # logged and shown; the next refresh tries again
            self.last_error = str(exc)
            log.error("racs server: folding the ledger for the dashboard failed: %s", exc)

    def catch_up(self) -> FoldStatus:
        """Fold everything there is now, in this thread (benches, tests, the CLI)."""
        while True:
            status = self.step()
            if status.position >= status.head:
                return status

    def close(self) -> None:
        """Stop a background fold after its current step."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=30)


def _fed(tail: Tail, events: Iterable[Any]) -> Iterator[Request]:
    for e in events:
        yield from tail.feed(e)

"""Write imported traffic into the run ledger, idempotently.

Each request becomes one run (``run.started``, ``cache.usage``, ``run.completed``) stamped
with the request's own time, so ``racs ledger stats`` and the dashboard window it where it
happened. The run id is derived from the request (source format, session, request id or
``file:line``), so importing the same traffic twice adds nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from racs.core.accounting import cost_of
from racs.core.errors import ERR_CONFLICT, ERR_INVALID_INPUT, RacsError
from racs.core.prices import PriceBook
from racs.traffic.model import Request
from racs.traffic.problems import Problems

BATCH: Final = 500
MAX_ID: Final = 200  # the ledger's identifier limit


@dataclass(frozen=True, slots=True)
class Ingested:
    """What one ingest did."""

    added: int
    already: int
    """Requests whose run was already in the ledger (an earlier or a concurrent ingest)."""
    refused: int = 0
    """Requests the ledger refused (out of its bounds), each named in the problems."""


def run_id_of(r: Request, occurrence: int = 0) -> str:
    """A deterministic run id: the same request always maps to the same run.

    A request with an id is known by it; one without is known by its content (time,
    model, tokens, session, stream, ...) and ``occurrence``, its rank among identical
    records of one ingest, never by the spelling of the path it was read from, so the same
    folder given as ``dir``, ``./dir`` or through a symlink adds nothing the second time.
    """
    if r.request_id:
        ident = r.request_id
    else:
        t = r.tokens
        counts = (t.fresh, t.read, t.write_5m, t.write_30m, t.write_1h, t.output)
        ident = "\0".join(
            map(str, (r.timestamp_ms, r.model, counts, r.kind, r.agent, r.project, occurrence))
        )
    key = f"{r.provider}\0{r.session}\0{r.stream}\0{ident}"
    # surrogatepass: a file name that is not UTF-8 still has an identity (the ledger then
    # refuses the record by name instead of the ingest stopping here).
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"traffic-{digest[:32]}"


def _short(value: str) -> str:
    return value if len(value) <= MAX_ID else value[: MAX_ID - 9] + "~" + _digest8(value)


def _digest8(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]


class _Clock:
    """The ledger's clock during an ingest: the time of the request being written."""

    def __init__(self) -> None:
        # The wall clock until the first request: opening the ledger dates its migrations.
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now


def ingest(
    requests: Iterable[Request],
    open_ledger: Any,
    prices: PriceBook | None = None,
    problems: Problems | None = None,
) -> Ingested:
    """Write ``requests`` through ``open_ledger(clock)`` (which returns a ``Ledger``);
    with ``prices``, each run records its dollars (``cost_usd``) as the report prices it.

    A request the ledger refuses is named in ``problems`` (its ``file:line`` and the
    reason) and the rest are written; a run another ingest wrote meanwhile counts as
    already there.
    """
    clock = _Clock()
    added = already = refused = 0
    occurrences: dict[str, int] = {}
    with open_ledger(clock) as ledger:
        pending: list[tuple[str, Request]] = []

        def flush() -> None:
            nonlocal added, already, refused
            while pending:
                try:
                    with ledger.batch() as batch:
                        _gather(batch, clock, pending, prices)
                except _Refused as refusal:
                    _, bad = pending.pop(refusal.at)
                    refused += 1
                    if problems is not None:
                        reason = f"refused by the ledger: {refusal.error.message}"
                        problems.add(bad.source or "(request)", reason)
                    continue
                except RacsError as exc:
                    if exc.code != ERR_CONFLICT:
                        raise
                    # Another ingest committed some of these runs since they were looked up.
                    before = len(pending)
                    pending[:] = [(rid, r) for rid, r in pending if ledger.get_run(rid) is None]
                    already += before - len(pending)
                    if len(pending) == before:
                        raise
                    continue
                added += len(pending)
                pending.clear()

        seen: set[str] = set()
        for r in requests:
            base = run_id_of(r)
            if not r.request_id:
                n = occurrences.get(base, 0)
                occurrences[base] = n + 1
                rid = run_id_of(r, n) if n else base
            else:
                rid = base
            if rid in seen or ledger.get_run(rid) is not None:
                already += 1
                continue
            seen.add(rid)
            pending.append((rid, r))
            if len(pending) >= BATCH:
                flush()
                seen.clear()
        if pending:
            flush()
    return Ingested(added, already, refused)


class _Refused(Exception):
    """The ledger refused the request at ``at`` of a batch (input out of its bounds)."""

    def __init__(self, at: int, error: RacsError) -> None:
        super().__init__(error.message)
        self.at = at
        self.error = error


def _gather(batch: Any, clock: _Clock, pending: list[tuple[str, Request]], prices: Any) -> None:
    """Add every pending request to the batch; the ledger validates each call."""
    for at, (rid, r) in enumerate(pending):
        try:
            _write(batch, clock, rid, r, _cost(r, prices))
        except RacsError as exc:
            if exc.code != ERR_INVALID_INPUT:
                raise
            raise _Refused(at, exc) from exc


def _cost(r: Request, prices: PriceBook | None) -> float | None:
    if prices is None:
        return None
    rates = prices.rates(
        r.provider, r.model, timestamp_ms=r.timestamp_ms, input_tokens=r.tokens.input
    )
    return cost_of(r.tokens, rates).total if rates is not None else None


def _write(batch: Any, clock: _Clock, rid: str, r: Request, cost_usd: float | None) -> None:
    clock.now = int(r.timestamp_ms)
    t = r.tokens
    meta = {
        "session": r.session,
        "stream": r.stream,
        "kind": r.kind,
        "source": r.source,
    }
    if r.request_id:
        meta["requestId"] = r.request_id
    if r.project:
        meta["project"] = r.project
    if r.agent:
        meta["agent"] = r.agent
    workspace = _short(r.project or r.session)
    agent = _short(r.agent or "main")
    batch.start_run(
        workspace_id=workspace,
        agent_id=agent,
        provider=r.provider,
        model=r.model,
        execution_mode="background",
        metadata=meta,
        run_id=rid,
    )
    writes = {f"cache_write_tokens_{tier}": int(t.write(tier)) for tier in ("5m", "30m", "1h")}
    batch.record_cache_usage(
        provider=r.provider,
        model=r.model,
        input_tokens=int(t.input),
        cache_read_tokens=int(t.read),
        timestamp=int(r.timestamp_ms),
        agent_id=agent,
        workspace_id=workspace,
        run_id=rid,
        **writes,
    )
    batch.complete_run(
        rid,
        input_tokens=int(t.input),
        output_tokens=int(t.output),
        total_tokens=int(t.input + t.output),
        cost_usd=cost_usd,
        cache_read_tokens=int(t.read),
        **writes,
    )

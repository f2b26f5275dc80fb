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
from racs.core.prices import PriceBook
from racs.traffic.model import Request

BATCH: Final = 500
MAX_ID: Final = 200  # the ledger's identifier limit


@dataclass(frozen=True, slots=True)
class Ingested:
    """What one ingest did."""

    added: int
    already: int
    """Requests whose run was already in the ledger (an earlier ingest)."""


def run_id_of(r: Request) -> str:
    """A deterministic run id: the same request always maps to the same run."""
    ident = r.request_id or r.source
    digest = hashlib.sha256(f"{r.provider}\0{r.session}\0{r.stream}\0{ident}".encode()).hexdigest()
    return f"traffic-{digest[:32]}"


def _short(value: str) -> str:
    return value if len(value) <= MAX_ID else value[: MAX_ID - 9] + "~" + _digest8(value)


def _digest8(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:8]


class _Clock:
    """The ledger's clock during an ingest: the time of the request being written."""

    def __init__(self) -> None:
        # The wall clock until the first request: opening the ledger dates its migrations.
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now


def ingest(
    requests: Iterable[Request], open_ledger: Any, prices: PriceBook | None = None
) -> Ingested:
    """Write ``requests`` through ``open_ledger(clock)`` (which returns a ``Ledger``);
    with ``prices``, each run records its dollars (``cost_usd``) as the report prices it."""
    clock = _Clock()
    added = already = 0
    with open_ledger(clock) as ledger:
        pending: list[tuple[str, Request]] = []

        def flush() -> None:
            nonlocal added
            with ledger.batch() as batch:
                for rid, r in pending:
                    _write(batch, clock, rid, r, _cost(r, prices))
            added += len(pending)
            pending.clear()

        seen: set[str] = set()
        for r in requests:
            rid = run_id_of(r)
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
    return Ingested(added, already)


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

"""The racs run ledger (SQLite file or PostgreSQL URL) as traffic: runs and usage records.

Events are read in position order, a page at a time. One request per call:
- a ``cache.usage`` record of a run is held until the run ends and joined with the run's
  output tokens (racs's call loop writes ``run.started``, ``cache.usage``, ``run.completed``);
- a run that ends with token metrics but no usage record (``racs simulate``, LiteLLM, the
  HTTP run routes) is a request of its own;
- a usage record without a run is a request of its own (no output tokens), unless the
  next run of the same provider, model and prefix key (or agent) ends with the very same
  token counts: then both describe one call (``racs simulate`` writes both).
Memory: the runs still open. Runs written by ``racs ingest`` carry the request's session,
stream, kind and project in their metadata, so a report over the ledger matches one over
the source it came from.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from racs.core.accounting import Tokens
from racs.core.errors import RacsError
from racs.core.targets import ledger_target, parse_target
from racs.ledger.payloads import COUNT_FIELDS, decode_usage, iter_events
from racs.traffic.model import Request
from racs.traffic.problems import Problems

PAGE: Final = 5000
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"


def is_ledger(target: str | Path) -> bool:
    """A PostgreSQL URL or a SQLite file (the ledger's two backends)."""
    text = str(target)
    try:
        if parse_target(text).kind == "postgres":
            return True
    except RacsError:
        return False
    try:
        with open(text, "rb") as f:
            if f.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                return False
    except OSError:
        return False
    return _has_ledger_tables(text)


def _has_ledger_tables(path: str) -> bool:
    """A racs ledger, not any SQLite file: opening one would migrate (write) it."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return {"events", "schema_migrations"} <= names


@dataclass(slots=True)
class _Run:
    started: Mapping[str, Any]
    usage: list[tuple[int, int, Mapping[str, Any]]] = field(default_factory=list)
    """(position, event timestamp, payload) of the run's ``cache.usage`` records."""


def read(target: str | Path, problems: Problems) -> Iterator[Request]:
    """Requests recorded in the ledger at ``target`` (path or ``postgresql://`` URL)."""
    from racs.ledger import create_ledger

    text = str(target)
    try:
        where = ledger_target(text).shown  # never echo a password
    except RacsError as exc:  # the message names the target without its password
        problems.add("ledger", exc.message)
        return
    try:
        ledger = create_ledger(text)
    except RacsError as exc:
        problems.add(where, f"ledger unreadable: {exc.message}")
        return
    with ledger:
        yield from _events(ledger, where, problems)


_Held = tuple[int, int, Mapping[str, Any]]


def _key(payload: Mapping[str, Any], started: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
    src = started if started is not None else payload
    return (src.get("provider"), src.get("model"), src.get("prefix_key") or src.get("agent_id"))


def _same_usage(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all((a.get(n) or 0) == (b.get(n) or 0) for n in COUNT_FIELDS)


def _events(ledger: Any, where: str, problems: Problems) -> Iterator[Request]:
    tail = Tail(where, problems)
    for e in iter_events(ledger, page=PAGE):
        yield from tail.feed(e)
    yield from tail.flush()


class Tail:
    """The reader between two events: the runs still open and the usage records held.

    ``feed`` each event in position order and it yields the requests that event closes;
    ``flush`` yields the rest (open runs, held records) at the end of the ledger. A reader
    that follows a growing ledger keeps one ``Tail`` (``state``/``restore`` carry it over).
    """

    def __init__(self, where: str, problems: Problems) -> None:
        self.where = where
        self.problems = problems
        self.runs: dict[str, _Run] = {}
        # The engine's usage record and the caller's run can describe one call without
        # naming each other (racs simulate writes both): the last unlinked record per key
        # is held until the next run ends, and merged into it when the token counts are
        # the same.
        self.held: dict[tuple[Any, ...], _Held] = {}

    def _emit(self, item: _Held) -> Request | None:
        position, stamp, payload = item
        at = f"{self.where}#{position}"
        return _request(payload, {}, None, None, stamp, at, self.problems)

    def feed(self, e: Any) -> Iterator[Request]:
        """The requests event ``e`` (a ledger ``Event``) completes."""
        where, runs, held = self.where, self.runs, self.held
        at = f"{where}#{e.position}"
        if e.type == "run.started" and e.run_id:
            runs[e.run_id] = _Run(e.payload)
        elif e.type == "cache.usage":
            run = runs.get(e.run_id) if e.run_id else None
            if run is not None:
                run.usage.append((e.position, e.timestamp, e.payload))
                return
            key = _key(e.payload)
            previous = held.pop(key, None)
            if previous is not None and (found := self._emit(previous)) is not None:
                yield found
            held[key] = (e.position, e.timestamp, e.payload)
        elif e.type in ("run.completed", "run.failed", "run.cancelled") and e.run_id:
            run = runs.pop(e.run_id, None)
            if run is None:
                return
            if not run.usage and "input_tokens" in e.payload:
                key = _key(e.payload, run.started)
                twin = held.get(key)
                if twin is not None and _same_usage(twin[2], e.payload):
                    del held[key]
                    run.usage.append(twin)
            yield from _ended(run, e.run_id, e.payload, e.timestamp, where, at, self.problems)

    def flush(self) -> Iterator[Request]:
        """Everything still held or open, as requests (the end of the ledger)."""
        held, self.held = self.held, {}
        runs, self.runs = self.runs, {}
        for item in held.values():
            if (found := self._emit(item)) is not None:
                yield found
        for rid, run in runs.items():  # runs never ended: their usage still happened
            yield from _ended(
                run, rid, {}, None, self.where, f"{self.where}#run:{rid}", self.problems
            )

    def state(self) -> dict[str, Any]:
        """The open runs and held records as JSON values (for ``restore``)."""
        return {
            "runs": {
                rid: {"started": dict(run.started), "usage": [list(u) for u in run.usage]}
                for rid, run in self.runs.items()
            },
            "held": [[list(key), list(item)] for key, item in self.held.items()],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from a ``state()`` taken earlier."""
        self.runs = {
            rid: _Run(r["started"], [(int(p), int(t), u) for p, t, u in r["usage"]])
            for rid, r in state.get("runs", {}).items()
        }
        self.held = {tuple(k): (int(i[0]), int(i[1]), i[2]) for k, i in state.get("held", [])}


def _ended(
    run: _Run,
    run_id: str,
    end: Mapping[str, Any],
    timestamp: int | None,
    where: str,
    at: str,
    problems: Problems,
) -> Iterator[Request]:
    output = end.get("output_tokens")
    if run.usage:
        last = len(run.usage) - 1
        for i, (position, stamp, payload) in enumerate(run.usage):
            # A run's output belongs to its last call.
            joined = {**payload, "output_tokens": output} if i == last else payload
            found = _request(
                joined, run.started, run.started, run_id, stamp, f"{where}#{position}", problems
            )
            if found is not None:
                yield found
    elif "input_tokens" in end and timestamp is not None:
        found = _request(end, run.started, run.started, run_id, timestamp, at, problems)
        if found is not None:
            yield found


def _request(
    usage: Mapping[str, Any],
    started: Mapping[str, Any],
    run: Mapping[str, Any] | None,
    run_id: str | None,
    timestamp: int,
    at: str,
    problems: Problems,
) -> Request | None:
    meta = started.get("metadata") if run is not None else None
    meta = meta if isinstance(meta, Mapping) else {}
    try:
        usage_of = decode_usage(usage, started)
        output = usage.get("output_tokens")
        if output is not None and (type(output) is not int or output < 0):
            raise ValueError("output_tokens is not a token count")
        tokens = Tokens.all_in(
            usage_of.input_tokens, usage_of.cache_read_tokens, usage_of.writes, output or 0
        )
    except ValueError as exc:
        problems.add(at, str(exc))
        return None
    provider, model = usage_of.provider, usage_of.model
    when = usage.get("timestamp", timestamp)
    simulated = meta.get("simulatedAt")  # racs simulate: the simulation's own clock
    if isinstance(simulated, int | float) and not isinstance(simulated, bool):
        when = simulated
    workspace, agent, prefix = usage_of.workspace_id, usage_of.agent_id, usage_of.prefix_key
    session = _text(meta.get("session")) or _text(workspace) or "(ledger)"
    # An agent's calls to one provider form a stream (its prefix key changes when its
    # prompt drifts, which is what the report must see); else the prefix key.
    stream = (
        _text(meta.get("stream"))
        or (f"{session}/{agent}@{provider}" if agent else None)
        or _text(prefix)
        or f"{provider}:{model}"
    )
    return Request(
        timestamp_ms=float(when),
        provider=provider,
        model=model,
        tokens=tokens,
        session=session,
        stream=stream,
        kind=_text(meta.get("kind")) or "main",
        request_id=_text(meta.get("requestId")) or run_id,
        project=_text(meta.get("project")) or _text(workspace),
        # Ingested runs say the agent in their metadata (absent: the main conversation).
        agent=_text(meta.get("agent")) if "stream" in meta else _text(agent),
        source=_text(meta.get("source")) or at,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

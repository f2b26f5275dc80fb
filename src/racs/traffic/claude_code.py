"""Claude Code transcripts (``~/.claude/projects``): one request per billed API response.

Claude Code writes one line per content block of a response, each repeating the response's
usage, so requests are deduplicated on (``message.id``, ``requestId``), keeping the largest
``output_tokens`` (early lines may carry a partial count). A session ``X.jsonl`` keeps its
subagents in ``X/subagents/agent-*.jsonl``; each subagent is a stream of its own, and the
``agent-acompact-*`` files are compaction calls that read the main conversation's cache,
so they join the main stream. The main file also echoes subagent responses in
``agent_progress`` lines: they deduplicate against the subagent files, and stand in for a
subagent file that is missing. Only usage lines are parsed; no prompt text is kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from racs.core.accounting import Tokens
from racs.traffic.claude_lines import Context, FileScan, Key, Response, scan
from racs.traffic.files import regular_files
from racs.traffic.lines import Meter, total_bytes
from racs.traffic.model import Request
from racs.traffic.parallel import ordered_map, workers_for
from racs.traffic.problems import Problems

PROVIDER: Final = "anthropic"


def default_paths() -> list[Path]:
    """Where Claude Code keeps transcripts: ``$CLAUDE_CONFIG_DIR/projects``, else
    ``~/.claude/projects``."""
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    base = Path(config) if config else Path.home() / ".claude"
    return [base / "projects"]


@dataclass(frozen=True, slots=True)
class SessionFiles:
    """A session's transcript and its subagents' (either may be missing)."""

    main: Path | None
    subagents: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        """Subagent files first, so their complete responses win over progress echoes."""
        return self.subagents + ((self.main,) if self.main is not None else ())


def discover(paths: Iterable[Path], problems: Problems | None = None) -> list[SessionFiles]:
    """Group the ``.jsonl`` files under ``paths`` into sessions with their subagents
    (what is not a regular readable file goes to ``problems``)."""
    sink = problems if problems is not None else Problems()
    files: list[Path] = []
    for p in paths:
        files.extend(regular_files([p], (".jsonl",), sink))
        sub = p.with_suffix("") / "subagents"
        if p.suffix == ".jsonl" and not p.is_dir() and sub.is_dir():
            files.extend(regular_files([sub], (".jsonl",), sink))
    seen: set[Path] = set()
    mains: list[Path] = []
    subs: dict[Path, list[Path]] = {}
    for f in files:
        if f in seen:
            continue
        seen.add(f)
        if f.parent.name == "subagents":
            subs.setdefault(f.parent.parent.with_suffix(".jsonl"), []).append(f)
        else:
            mains.append(f)
    groups = [SessionFiles(m, tuple(subs.pop(m, ()))) for m in mains]
    groups.extend(SessionFiles(None, tuple(s)) for _, s in sorted(subs.items()))
    return groups


def read(
    paths: Iterable[Path],
    problems: Problems,
    meter: Meter | None = None,
    *,
    workers: int | None = None,
) -> Iterator[Request]:
    """Requests of every session under ``paths``; a session's requests come together, in
    time order (sessions in path order). A response already read in an earlier session
    (a copy left by a resume or a fork: same message and request ids) counts once, for
    the first session, and goes to ``problems.duplicates``. Large folders are read by
    ``workers`` processes (default: every core when it pays off), merged in order."""
    groups = discover(paths, problems)
    jobs = [(str(f), _context(f, g.main)) for g in groups for f in g.files]
    sizes = total_bytes(Path(j[0]) for j in jobs)
    scans = ordered_map(scan, jobs, workers_for(sizes, workers))
    kept: dict[Key, str] = {}
    for group in groups:
        group_scans = [next(scans) for _ in group.files]
        yield from _session(group_scans, problems, meter, kept)


def read_session(
    group: SessionFiles, problems: Problems, meter: Meter | None = None
) -> Iterator[Request]:
    """One session's deduplicated requests, in time order (memory: one session's requests)."""
    scans = [scan((str(f), _context(f, group.main))) for f in group.files]
    yield from _session(scans, problems, meter, {})


def _session(
    scans: list[FileScan], problems: Problems, meter: Meter | None, kept: dict[Key, str]
) -> Iterator[Request]:
    """Merge one session's files (a response's largest output wins), drop the responses
    an earlier session kept, and give the rest as requests in time order."""
    found: dict[Key, Response] = {}
    for s in scans:
        for where, reason in s.problems:
            problems.add(where, reason)
        if meter is not None and s.size:
            meter(s.size)
        for r in s.responses:
            old = found.get(r.key)
            if old is None:
                found[r.key] = r
            elif r.output > old.output:
                old.output = r.output
    dropped: dict[tuple[str, str], int] = {}
    done: list[Request] = []
    for key, r in found.items():
        first = kept.get(key)
        if first is not None:
            pair = (_file_of(r.where), first)
            dropped[pair] = dropped.get(pair, 0) + 1
            continue
        if len(key) == 2:
            kept[key] = _file_of(r.where)
        done.append(_request(r))
    for (where, first), n in dropped.items():
        problems.duplicates.add(where, first, n)
    done.sort(key=lambda q: q.timestamp_ms)
    yield from done


def _file_of(where: str) -> str:
    return where.rpartition(":")[0]


def _request(r: Response) -> Request:
    agent = r.agent
    if agent is not None and agent.startswith("acompact"):
        kind, stream = "compaction", r.session
    elif agent is not None:
        kind, stream = "subagent", f"{r.session}/agent-{agent}"
    else:
        kind, stream = "main", r.session
    t = r.tokens
    tokens = (
        t
        if t.output == r.output
        else Tokens(t.fresh, t.read, t.write_5m, t.write_30m, t.write_1h, r.output)
    )
    return Request(
        timestamp_ms=r.timestamp_ms,
        provider=PROVIDER,
        model=r.model,
        tokens=tokens,
        session=r.session,
        stream=stream,
        kind=kind,
        request_id=r.request_id,
        project=r.project,
        agent=agent,
        source=r.where,
    )


def _context(path: Path, main: Path | None) -> Context:
    """Worked out once per file (paths are slow to take apart line by line)."""
    stem = path.stem
    agent = (
        stem[len("agent-") :]
        if path.parent.name == "subagents" and stem.startswith("agent-")
        else None
    )
    if main is not None:
        return Context(agent, main.stem, main.parent.name)
    if agent is not None:
        project = path.parents[2].name if len(path.parents) > 2 else path.parent.name
        return Context(agent, path.parent.parent.name, project)
    return Context(None, stem, path.parent.name)

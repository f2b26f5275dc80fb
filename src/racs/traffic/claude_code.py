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

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from racs.core.accounting import Tokens
from racs.traffic.lines import Meter, is_binary, lines_containing
from racs.traffic.model import Request
from racs.traffic.problems import Problems

PROVIDER: Final = "anthropic"
# More input than any model's context window in one request: a corrupt count, not usage.
ABSURD_TOKENS: Final = 10_000_000
_USAGE: Final = b'"usage"'
_SYNTHETIC: Final = "<synthetic>"  # Claude Code's local placeholder messages: never billed.

_Found = dict[tuple[str, ...], tuple["Request", float]]
"""A session's responses so far: key -> (first line's request, largest output seen)."""


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


def _jsonl_under(path: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        found.extend(Path(root) / n for n in sorted(names) if n.endswith(".jsonl"))
    return found


def discover(paths: Iterable[Path]) -> list[SessionFiles]:
    """Group the ``.jsonl`` files under ``paths`` into sessions with their subagents."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(_jsonl_under(p))
        else:
            files.append(p)
            sub = p.with_suffix("") / "subagents"
            if p.suffix == ".jsonl" and sub.is_dir():
                files.extend(sorted(sub.glob("*.jsonl")))
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
    paths: Iterable[Path], problems: Problems, meter: Meter | None = None
) -> Iterator[Request]:
    """Requests of every session under ``paths``; a session's requests come together,
    in time order (sessions in path order)."""
    for group in discover(paths):
        yield from read_session(group, problems, meter)


def read_session(
    group: SessionFiles, problems: Problems, meter: Meter | None = None
) -> Iterator[Request]:
    """One session's deduplicated requests, in time order (memory: one session's requests)."""
    found: _Found = {}
    for path in group.files:
        if is_binary(path):
            problems.add(str(path), "binary file skipped")
            continue
        fallback = _context(path, group.main)
        for lineno, raw in lines_containing(path, _USAGE, problems, meter):
            where = f"{path}:{lineno}"
            try:
                parsed = _parse(raw, where, fallback, problems, found)
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                problems.add(where, f"unreadable line ({type(exc).__name__})")
                continue
            if parsed is None:
                continue
            key, request = parsed
            found[key] = (request, request.tokens.output)
    done = [
        r if r.tokens.output == out else replace(r, tokens=replace(r.tokens, output=out))
        for r, out in found.values()
    ]
    yield from sorted(done, key=lambda r: r.timestamp_ms)


@dataclass(frozen=True, slots=True)
class _Context:
    """What a line may leave out and its file tells: agent id, session, project."""

    agent: str | None
    session: str
    project: str


def _context(path: Path, main: Path | None) -> _Context:
    """Worked out once per file (paths are slow to take apart line by line)."""
    stem = path.stem
    agent = (
        stem[len("agent-") :]
        if path.parent.name == "subagents" and stem.startswith("agent-")
        else None
    )
    if main is not None:
        return _Context(agent, main.stem, main.parent.name)
    if agent is not None:
        project = path.parents[2].name if len(path.parents) > 2 else path.parent.name
        return _Context(agent, path.parent.parent.name, project)
    return _Context(None, stem, path.parent.name)


def _parse(
    raw: bytes, where: str, ctx: _Context, problems: Problems, found: _Found
) -> tuple[tuple[str, ...], Request] | None:
    line = json.loads(raw)
    if not isinstance(line, dict):
        problems.add(where, "not a JSON object")
        return None
    entry = _entry(line, ctx)
    if entry is None:
        return None  # a line mentioning usage that is no API response (e.g. a tool result)
    message, request_id, stamp, agent = entry
    model = message.get("model")
    if model == _SYNTHETIC:
        return None
    if not isinstance(model, str) or not model:
        problems.add(where, "message.model missing")
        return None
    message_id = message.get("id")
    key: tuple[str, ...] = (
        (message_id, request_id)
        if isinstance(message_id, str) and isinstance(request_id, str)
        else (where,)
    )
    old = found.get(key)
    if old is not None:
        # A later line of a response already read: only its output count can grow.
        usage = message.get("usage")
        raw_out = usage.get("output_tokens") if isinstance(usage, dict) else None
        out = _count(raw_out, "output_tokens", where, problems)
        if out is not None and out > old[1]:
            found[key] = (old[0], out)
        return None
    tokens = _tokens(message.get("usage"), where, problems)
    if tokens is None:
        return None
    when = _timestamp_ms(stamp)
    if when is None:
        problems.add(where, "timestamp missing or not ISO-8601")
        return None
    session = line.get("sessionId")
    session = session if isinstance(session, str) and session else ctx.session
    if agent is not None and agent.startswith("acompact"):
        kind, stream = "compaction", session
    elif agent is not None:
        kind, stream = "subagent", f"{session}/agent-{agent}"
    else:
        kind, stream = "main", session
    cwd = line.get("cwd")
    return key, Request(
        timestamp_ms=when,
        provider=PROVIDER,
        model=model,
        tokens=tokens,
        session=session,
        stream=stream,
        kind=kind,
        request_id=request_id if isinstance(request_id, str) else None,
        project=cwd if isinstance(cwd, str) and cwd else ctx.project,
        agent=agent,
        source=where,
    )


def _entry(
    line: dict[str, Any], ctx: _Context
) -> tuple[dict[str, Any], Any, Any, str | None] | None:
    """(message, requestId, timestamp, agent id) of an API response line, else ``None``."""
    kind = line.get("type")
    if kind == "assistant":
        message = line.get("message")
        if not isinstance(message, dict) or "usage" not in message:
            return None
        agent = line.get("agentId")
        if not isinstance(agent, str) or not agent:
            agent = ctx.agent
            if agent is None and line.get("isSidechain") is True:
                agent = "sidechain"  # older Claude Code kept subagents inline
        return message, line.get("requestId"), line.get("timestamp"), agent
    if kind == "progress":
        data = line.get("data")
        if not isinstance(data, dict) or data.get("type") != "agent_progress":
            return None
        inner = data.get("message")
        if not isinstance(inner, dict) or inner.get("type") != "assistant":
            return None
        message = inner.get("message")
        agent = data.get("agentId")
        if not isinstance(message, dict) or "usage" not in message:
            return None
        stamp = inner.get("timestamp") or line.get("timestamp")
        return message, inner.get("requestId"), stamp, agent if isinstance(agent, str) else None
    return None


_COUNTS: Final = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
)


def _count(value: Any, name: str, where: str, problems: Problems) -> int | None:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(where, f"usage.{name} is not an integer")
        return None
    if value < 0:
        problems.add(where, f"usage.{name} is negative")
        return None
    if value > ABSURD_TOKENS:
        problems.add(where, f"usage.{name} is absurd (over {ABSURD_TOKENS:,})")
        return None
    return value


def _tokens(usage: Any, where: str, problems: Problems) -> Tokens | None:
    """Token classes of an Anthropic usage object (``input_tokens`` is the uncached part)."""
    if not isinstance(usage, dict):
        problems.add(where, "usage is not an object")
        return None
    counts: list[int] = []
    for name in _COUNTS:
        n = _count(usage.get(name), name, where, problems)
        if n is None:
            return None
        counts.append(n)
    fresh, read, written, output = counts
    w5m, w1h = written, 0
    split = usage.get("cache_creation")
    if isinstance(split, dict):
        a = _count(split.get("ephemeral_5m_input_tokens"), "cache_creation.5m", where, problems)
        b = _count(split.get("ephemeral_1h_input_tokens"), "cache_creation.1h", where, problems)
        if a is None or b is None:
            return None
        if a + b != written:
            problems.add(where, "usage.cache_creation does not add up to its total")
            return None
        w5m, w1h = a, b
    return Tokens(fresh=fresh, read=read, write_5m=w5m, write_1h=w1h, output=output)


def _timestamp_ms(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp() * 1000

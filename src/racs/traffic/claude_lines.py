"""One Claude Code transcript file read into its billed responses (the part of the
importer that runs in worker processes: plain data in, plain data out).

Only lines that can be API responses are parsed: those holding ``"assistant"`` (every
assistant line, and every ``agent_progress`` echo of one, has it; a line cut short before
its usage still has it, so it is counted as unreadable instead of vanishing). The usage
object is read by ``racs.providers.usage.anthropic``, as the live adapter reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from racs.core.accounting import Tokens
from racs.core.limits import MAX_INSTANT_MS
from racs.providers.usage import UsageRefused
from racs.providers.usage import anthropic as anthropic_usage
from racs.providers.usage import count as usage_count
from racs.traffic.jsonfast import UNPARSABLE, loads
from racs.traffic.lines import is_binary, lines_containing
from racs.traffic.problems import Problems

NEEDLE: Final = b'"assistant"'
SYNTHETIC: Final = "<synthetic>"  # Claude Code's local placeholder messages: never billed.

Key = tuple[str, ...]
"""(``message.id``, ``requestId``), or (``file:line``,) for a response without ids."""


@dataclass(frozen=True, slots=True)
class Context:
    """What a line may leave out and its file tells: agent id, session, project."""

    agent: str | None
    session: str
    project: str


@dataclass(slots=True)
class Response:
    """One billed response as its first line gave it (the output may grow later)."""

    key: Key
    where: str
    """``file:line`` of the first line."""
    model: str
    session: str
    agent: str | None
    timestamp_ms: float
    project: str
    request_id: str | None
    tokens: Tokens
    output: int


@dataclass(slots=True)
class FileScan:
    """What one file held: its responses in line order and what could not be read."""

    path: str
    responses: list[Response] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    size: int = 0


class _Collect(Problems):
    """Problems kept in order, to be replayed into the caller's collector."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def add(self, where: str, reason: str) -> None:
        self.found.append((where, reason))


def scan(job: tuple[str, Context]) -> FileScan:
    """Every response of one file (later lines of a response only raise its output)."""
    path_text, ctx = job
    from pathlib import Path

    path = Path(path_text)
    out = FileScan(path_text)
    sink = _Collect()
    try:
        if is_binary(path):
            sink.add(path_text, "binary file skipped")
            out.problems = sink.found
            return out
    except OSError as exc:
        sink.add(path_text, f"unreadable: {exc.strerror or type(exc).__name__}")
        out.problems = sink.found
        return out
    seen: dict[Key, Response] = {}

    def meter(n: int) -> None:
        out.size += n

    for lineno, raw in lines_containing(path, NEEDLE, sink, meter):
        parse_line(raw, f"{path_text}:{lineno}", ctx, sink, seen, out.responses)
    out.problems = sink.found
    return out


def parse_line(
    raw: bytes,
    where: str,
    ctx: Context,
    problems: Problems,
    seen: dict[Key, Response],
    responses: list[Response],
) -> None:
    """Read one raw line: a new response goes to ``responses`` and ``seen``, a later line
    of a response in ``seen`` raises its output, anything unreadable goes to ``problems``."""
    try:
        line = loads(raw)
    except UNPARSABLE as exc:
        problems.add(where, f"unreadable line ({type(exc).__name__})")
        return
    try:
        _line(line, where, ctx, problems, seen, responses)
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        problems.add(where, f"unreadable line ({type(exc).__name__})")


def _line(
    line: Any,
    where: str,
    ctx: Context,
    problems: Problems,
    seen: dict[Key, Response],
    responses: list[Response],
) -> None:
    if not isinstance(line, dict):
        problems.add(where, "not a JSON object")
        return
    entry = _entry(line, ctx)
    if entry is None:
        return  # a line mentioning an assistant that is no API response
    message, request_id, stamp, agent = entry
    model = message.get("model")
    if model == SYNTHETIC:
        return
    message_id = message.get("id")
    key: Key = (
        (message_id, request_id)
        if isinstance(message_id, str) and isinstance(request_id, str)
        else (where,)
    )
    old = seen.get(key)
    if old is not None:
        # A later line of a response already read: only its output count can grow.
        usage = message.get("usage")
        raw_out = usage.get("output_tokens") if isinstance(usage, dict) else None
        try:
            out = usage_count(raw_out, "usage.output_tokens")
        except UsageRefused as refused:
            problems.add(where, refused.message)
            return
        if out > old.output:
            old.output = out
        return
    if not isinstance(model, str) or not model:
        problems.add(where, "message.model missing")
        return
    if "usage" not in message:
        problems.add(where, "message.usage missing")
        return
    try:
        tokens = anthropic_usage(message["usage"])
    except UsageRefused as refused:
        problems.add(where, refused.message)
        return
    when = timestamp_ms(stamp)
    if when is None:
        problems.add(where, "timestamp missing, not ISO-8601 or out of range")
        return
    session = line.get("sessionId")
    cwd = line.get("cwd")
    response = Response(
        key=key,
        where=where,
        model=model,
        session=session if isinstance(session, str) and session else ctx.session,
        agent=agent,
        timestamp_ms=when,
        project=cwd if isinstance(cwd, str) and cwd else ctx.project,
        request_id=request_id if isinstance(request_id, str) else None,
        tokens=tokens,
        output=int(tokens.output),
    )
    seen[key] = response
    responses.append(response)


def _entry(
    line: dict[str, Any], ctx: Context
) -> tuple[dict[str, Any], Any, Any, str | None] | None:
    """(message, requestId, timestamp, agent id) of an API response line, else ``None``."""
    kind = line.get("type")
    if kind == "assistant":
        message = line.get("message")
        if not isinstance(message, dict):
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


def timestamp_ms(value: Any) -> float | None:
    """ms since the epoch of an ISO-8601 time with its zone (1970 to 9999), else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    ms = moment.timestamp() * 1000
    return ms if 0 <= ms <= MAX_INSTANT_MS else None

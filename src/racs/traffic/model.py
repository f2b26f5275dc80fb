"""The request record every importer yields and every consumer (report, replay) reads."""

from __future__ import annotations

from dataclasses import dataclass

from racs.core.accounting import Tokens


@dataclass(frozen=True, slots=True)
class Block:
    """One block of a prompt whose structure is known: a digest and its token count."""

    digest: str
    """Digest of the block's content (never the content itself)."""
    tokens: int
    marker: str | None = None
    """The cache marker the request put on this block (``5m``, ``1h``, ...), if any."""


@dataclass(frozen=True, slots=True)
class Request:
    """One billed model call read from traffic: who, when, which model, tokens by class.

    No prompt text is kept. ``stream`` names the sequence whose cache this request reads
    and extends (a session's main conversation, one subagent, ...); ``blocks`` is the
    prompt's structure where the source carries it (raw exchanges), else ``None``.
    """

    timestamp_ms: float
    provider: str
    model: str
    tokens: Tokens
    session: str
    stream: str
    kind: str = "main"
    """``main``, ``subagent`` or ``compaction``."""
    request_id: str | None = None
    project: str | None = None
    agent: str | None = None
    source: str = ""
    """Where it was read: ``file:line``."""
    blocks: tuple[Block, ...] | None = None

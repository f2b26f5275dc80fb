"""Codex CLI rollouts (``$CODEX_HOME/sessions/**/rollout-*.jsonl``): one request per model
call, priced as OpenAI's.

A rollout is one JSON object a line with ``timestamp``, ``type`` and ``payload``:
``session_meta`` names the session (``payload.id``) and its working directory,
``turn_context`` the model of the turns that follow, and each ``event_msg`` whose
``payload.type`` is ``token_count`` reports one call in ``info.last_token_usage`` (read by
``racs.providers.usage.codex``: ``input_tokens`` includes ``cached_input_tokens``) and the
session's running total in ``info.total_token_usage``. Codex often writes the same event
twice in a row: an event whose running total equals the previous one's is that copy and
counts once. ``info`` is null on rate-limit-only updates. Other lines carry no usage and
are not parsed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from racs.core.catalog import reported_write_tier
from racs.providers.usage import UsageRefused
from racs.providers.usage import codex as codex_usage
from racs.traffic.jsonfast import UNPARSABLE, loads
from racs.traffic.lines import Meter, numbered_lines
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.records import timestamp_ms

PROVIDER: Final = "openai"
_WANTED: Final = (b'"token_count"', b'"turn_context"', b'"session_meta"')


def default_paths() -> list[Path]:
    """Where Codex CLI keeps rollouts: ``$CODEX_HOME/sessions``, else
    ``~/.codex/sessions``."""
    home = os.environ.get("CODEX_HOME")
    return [(Path(home) if home else Path.home() / ".codex") / "sessions"]


def is_rollout(record: Any) -> bool:
    """A Codex rollout line (the first one is ``session_meta``)."""
    return (
        isinstance(record, dict)
        and record.get("type") in ("session_meta", "turn_context", "event_msg", "response_item")
        and isinstance(record.get("payload"), dict)
        and "timestamp" in record
    )


def read(path: Path, problems: Problems, meter: Meter | None = None) -> Iterator[Request]:
    """One request per model call of one rollout, in file order."""
    session = _session_of(path)
    project: str | None = None
    model = "unknown"
    last_total: Any = None
    for lineno, raw in numbered_lines(path, problems, meter):
        if not any(w in raw for w in _WANTED):
            continue
        where = f"{path}:{lineno}"
        try:
            line = loads(raw)
        except UNPARSABLE as exc:
            problems.add(where, f"unreadable line ({type(exc).__name__})")
            continue
        payload = line.get("payload") if isinstance(line, dict) else None
        if not isinstance(payload, dict):
            continue
        kind = line.get("type")
        if kind == "session_meta":
            session = _text(payload.get("id")) or _text(payload.get("session_id")) or session
            project = _text(payload.get("cwd")) or project
        elif kind == "turn_context":
            model = _text(payload.get("model")) or model
            project = project or _text(payload.get("cwd"))
        elif kind == "event_msg" and payload.get("type") == "token_count":
            info = payload.get("info")
            if not isinstance(info, dict):
                continue  # a rate-limit update: no call
            total = info.get("total_token_usage")
            if total is not None and total == last_total:
                continue  # the same event written again
            last_total = total
            try:
                tokens = codex_usage(
                    info.get("last_token_usage"),
                    write_tier=reported_write_tier(PROVIDER, model),
                )
            except UsageRefused as refused:
                problems.add(where, refused.message)
                continue
            stamp = timestamp_ms(line.get("timestamp"))
            if stamp is None:
                problems.add(where, "timestamp missing or out of range")
                continue
            yield Request(
                timestamp_ms=stamp,
                provider=PROVIDER,
                model=model,
                tokens=tokens,
                session=session,
                stream=session,
                project=project,
                source=where,
            )


def _session_of(path: Path) -> str:
    """The session id a rollout's name ends with (``rollout-<time>-<uuid>.jsonl``)."""
    stem = path.stem
    parts = stem.split("-")
    return "-".join(parts[-5:]) if len(parts) > 5 else stem


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

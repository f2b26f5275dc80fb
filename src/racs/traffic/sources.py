"""One entry point over every importer: ``read(paths, problems)`` yields requests.

A target is a PostgreSQL URL or a path. A SQLite file is a racs ledger; any other file
is recognised by its first record: a Claude Code transcript, OTLP JSON spans, a LiteLLM
standard logging payload or spend-logs row (JSON or CSV), or a raw ``{request,
response}`` exchange. Folders are searched for ``.jsonl``, ``.json``, ``.ndjson`` and
``.csv`` files. Requests of one stream come in time order (sessions of Claude Code
together); a file nobody recognises is named in ``problems``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from racs.traffic import claude_code, exchanges, ledger, litellm, otlp
from racs.traffic.lines import Meter, is_binary
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.records import first_record

SUFFIXES: Final = (".jsonl", ".json", ".ndjson", ".csv")
_CLAUDE_TYPES: Final = frozenset(
    {
        "user",
        "assistant",
        "summary",
        "system",
        "progress",
        "file-history-snapshot",
        "queue-operation",
    }
)

Reader = Callable[[Path, Problems, Meter | None], Iterator[Request]]
FORMATS: Final[dict[str, Reader]] = {
    "otlp": otlp.read,
    "litellm": litellm.read,
    "exchanges": exchanges.read,
}


def _files_under(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        found.extend(Path(root) / n for n in sorted(names) if n.endswith(SUFFIXES))
    return found


def format_of(path: Path) -> str | None:
    """``claude-code``, ``ledger``, ``otlp``, ``litellm``, ``exchanges`` or ``None``."""
    if ledger.is_ledger(path):
        return "ledger"
    if is_binary(path):
        return None
    if path.parent.name == "subagents" and path.name.startswith("agent-"):
        return "claude-code"
    record = first_record(path)
    if not isinstance(record, dict):
        return None
    if otlp.is_otlp(record):
        return "otlp"
    if exchanges.is_exchange(record):
        return "exchanges"
    if litellm.is_standard_payload(record) or litellm.is_spend_log(record):
        return "litellm"
    if "sessionId" in record or record.get("type") in _CLAUDE_TYPES:
        return "claude-code"
    return None


def _plan(targets: Iterable[str | Path], problems: Problems) -> list[tuple[str, Any]]:
    """(format, target) pairs; Claude Code files are gathered into one group."""
    plan: list[tuple[str, Any]] = []
    claude: list[Path] = []
    for target in targets:
        text = str(target)
        if text.startswith(("postgresql://", "postgres://")):
            plan.append(("ledger", text))
            continue
        p = Path(text).expanduser()
        if not p.exists():
            problems.add(text, "no such file or folder")
            continue
        for f in _files_under(p) if p.is_dir() else [p]:
            if ledger.is_ledger(f):
                plan.append(("ledger", f))
                continue
            if is_binary(f):
                problems.add(str(f), "binary file skipped")
                continue
            fmt = format_of(f)
            if fmt == "claude-code":
                claude.append(f)
            elif fmt is None:
                problems.add(str(f), "format not recognised")
            else:
                plan.append((fmt, f))
    if claude:
        plan.insert(0, ("claude-code", claude))
    return plan


def discover_files(targets: Iterable[str | Path]) -> list[Path]:
    """Every file ``read`` would open (for sizing a progress bar)."""
    out: list[Path] = []
    for fmt, target in _plan(targets, Problems()):
        if fmt == "claude-code":
            out.extend(f for g in claude_code.discover(target) for f in g.files)
        elif isinstance(target, Path):
            out.append(target)
    return out


def read(
    targets: Iterable[str | Path],
    problems: Problems,
    meter: Meter | None = None,
) -> Iterator[Request]:
    """Requests found in ``targets`` (files, folders, ledger URLs); what cannot be read
    goes to ``problems``."""
    for fmt, target in _plan(targets, problems):
        if fmt == "claude-code":
            yield from claude_code.read(target, problems, meter)
        elif fmt == "ledger":
            yield from ledger.read(target, problems)
        else:
            yield from FORMATS[fmt](target, problems, meter)

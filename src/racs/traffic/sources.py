"""One entry point over every importer: ``read(paths, problems)`` yields requests.

A target is a PostgreSQL URL or a path. A SQLite file is a racs ledger; any other file
is recognised by its first record: a Claude Code transcript, a Codex CLI rollout, OTLP
JSON spans, a LiteLLM standard logging payload or spend-logs row (JSON or CSV), or a raw
``{request, response}`` exchange. Folders are searched for ``.jsonl``, ``.json``,
``.ndjson`` and ``.csv`` files. Requests of one stream come in time order (sessions of
Claude Code together); a file nobody recognises, or that is not a regular readable file
(a FIFO, a link loop, a file this user may not read), is named in ``problems`` and the
rest is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from racs.core.errors import RacsError
from racs.core.targets import parse_target
from racs.traffic import claude_code, codex, exchanges, ledger, litellm, otlp
from racs.traffic.files import regular_files
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
    "codex": codex.read,
    "otlp": otlp.read,
    "litellm": litellm.read,
    "exchanges": exchanges.read,
}


def format_of(path: Path) -> str | None:
    """``claude-code``, ``codex``, ``ledger``, ``otlp``, ``litellm``, ``exchanges`` or
    ``None``; raises ``OSError`` when the file cannot be read."""
    if ledger.is_ledger(path):
        return "ledger"
    if is_binary(path):
        return None
    if path.parent.name == "subagents" and path.name.startswith("agent-"):
        return "claude-code"
    record = first_record(path)
    if not isinstance(record, dict):
        return None
    if codex.is_rollout(record):
        return "codex"
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
        try:
            where = parse_target(text)
        except RacsError as exc:
            problems.add(text, exc.message)
            continue
        if where.kind == "postgres":
            plan.append(("ledger", text))
            continue
        p = Path(text).expanduser()
        if not p.exists() and not p.is_symlink():
            problems.add(text, "no such file or folder")
            continue
        for f in regular_files([p], SUFFIXES, problems):
            try:
                fmt = format_of(f)
            except OSError as exc:
                problems.add(str(f), f"unreadable: {exc.strerror or type(exc).__name__}")
                continue
            if fmt == "claude-code":
                claude.append(f)
            elif fmt == "ledger":
                plan.append(("ledger", f))
            elif fmt is None:
                reason = "binary file skipped" if _binary(f) else "format not recognised"
                problems.add(str(f), reason)
            else:
                plan.append((fmt, f))
    if claude:
        plan.insert(0, ("claude-code", claude))
    return plan


def _binary(path: Path) -> bool:
    try:
        return is_binary(path)
    except OSError:
        return False


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
    *,
    workers: int | None = None,
) -> Iterator[Request]:
    """Requests found in ``targets`` (files, folders, ledger URLs); what cannot be read
    goes to ``problems``. ``workers`` processes read large Claude Code folders (default:
    every core when it pays off; 0 reads in this process)."""
    for fmt, target in _plan(targets, problems):
        if fmt == "claude-code":
            yield from claude_code.read(target, problems, meter, workers=workers)
        elif fmt == "ledger":
            yield from ledger.read(target, problems)
        else:
            yield from FORMATS[fmt](target, problems, meter)

"""One line for Claude Code's status bar: the session's cost, today's, the active 5-hour
block's, the session's hit ratio, and how long the session's cache stays warm with what
the next request pays once it has gone cold.

Claude Code runs the status line command after every turn, so the answer must come fast.
What was read is kept in a small JSON file keyed by each transcript's path, size and mtime:
an unchanged file is not opened again, a grown one is read from where the last read
stopped, and a file that shrank or changed in place is read again from the start. A
warm answer imports only this module and the standard library; the reader, prices and
the cache model load only when a file changed.

A row of the read cache is one response: ``[message id, request id, timestamp ms, model,
main stream (0/1), fresh, read, write 5m, write 30m, write 1h, output, usd]`` (``usd`` is
``None`` for an unpriced model; a response without ids keeps its ``file:line`` as its
only key part).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from racs.core.accounting import Rates
    from racs.core.prices import PriceBook
    from racs.traffic.claude_lines import Context, Response

VERSION: Final = 1
"""Version of the read cache's layout: another version is read again from scratch."""
BLOCK_MS: Final = 5 * 3_600_000
"""Claude's billing blocks: five hours from the first request's hour."""
LOOKBACK_MS: Final = 24 * 3_600_000
"""How far back requests are followed to place the active block (and files kept)."""
HOUR_MS: Final = 3_600_000
PROVIDER: Final = "anthropic"
FALLBACK: Final = "racs: no status input"
"""What a status bar shows when stdin is not Claude Code's JSON."""

Row = list[Any]
_TS, _MODEL, _MAIN, _FRESH, _READ, _W5, _W30, _W1H, _OUT, _USD = range(2, 12)


# Named tuples, not dataclasses: the warm answer must not pay for importing dataclasses.


class StatusInput(NamedTuple):
    """What racs uses of the JSON Claude Code pipes to a status line command."""

    session_id: str | None = None
    transcript: Path | None = None
    model: str | None = None
    """The model's display name (else its id)."""


def parse_input(text: str) -> StatusInput | None:
    """The status input in ``text``; ``None`` when it is not a JSON object. Fields that
    are missing or of the wrong type are left out."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    session = data.get("session_id")
    path = data.get("transcript_path")
    model = data.get("model")
    name: Any = None
    if isinstance(model, dict):
        name = model.get("display_name") or model.get("id")
    elif isinstance(model, str):
        name = model
    transcript = Path(path) if isinstance(path, str) and "\0" not in path else None
    return StatusInput(
        session_id=session if isinstance(session, str) and session else None,
        transcript=transcript if transcript is not None and transcript.name else None,
        model=name if isinstance(name, str) and name else None,
    )


class Warmth(NamedTuple):
    """The session's newest cache entry: when it goes cold, and what comes after."""

    expires_ms: float
    dies_ms: float
    cached: float
    """Tokens the entry holds (the last request's read plus writes)."""
    rewrite_usd: float | None
    """What the next request pays to write the prefix again at the entry's tier."""
    read_usd: float | None
    """What it pays to read the prefix while the entry lives."""


class Status(NamedTuple):
    """Everything the line says (``None``: not known)."""

    model: str | None = None
    session_usd: float | None = None
    hit: float | None = None
    today_usd: float = 0.0
    block_usd: float | None = None
    block_left_s: float | None = None
    warm_left_s: float | None = None
    warmth: Warmth | None = None
    unpriced: bool = False

    def line(self) -> str:
        """The status line."""
        parts = [self.model] if self.model else []
        if self.session_usd is not None:
            parts.append(f"session {_money(self.session_usd)}")
        parts.append(f"today {_money(self.today_usd)}")
        if self.block_usd is not None and self.block_left_s is not None:
            parts.append(f"block {_money(self.block_usd)} ({_span(self.block_left_s)} left)")
        if self.hit is not None:
            parts.append(f"hit {self.hit * 100:.0f}%")
        w = self.warmth
        if w is not None and self.warm_left_s is not None:
            after = f"{_money(w.rewrite_usd)} to re-write vs {_money(w.read_usd)} to read"
            if self.warm_left_s > 0:
                parts.append(f"cache warm {_span(self.warm_left_s)}, then {after}")
            else:
                parts.append(f"cache cold: next {after}")
        return " | ".join(parts) + (" (some models unpriced)" if self.unpriced else "")


def _money(x: float | None) -> str:
    return "$?" if x is None else f"${x:,.2f}"


def _span(seconds: float) -> str:
    """``3m12s``, ``2h14m``, ``45s``: compact, for a status bar."""
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def default_cache_file() -> Path:
    """``statusline.json`` in racs's cache folder (``$RACS_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/racs``, else ``~/.cache/racs``)."""
    from racs.core.files import cache_folder

    return cache_folder() / "statusline.json"


def projects_of(transcript: Path | None) -> Path:
    """The projects folder a transcript lies in (``.../projects/PROJECT/SESSION.jsonl``),
    else Claude Code's default one."""
    if transcript is not None and transcript.parent.parent.name == "projects":
        return transcript.parent.parent
    from racs.traffic.claude_code import default_paths

    return default_paths()[0]


class ReadCache:
    """What earlier runs read, per file, and the session summaries derived from it."""

    def __init__(self, path: Path | None, prices: PriceBook | None = None) -> None:
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.changed = False
        self._prices = prices
        if path is None:
            return
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return
        if isinstance(data, dict) and data.get("version") == VERSION:
            files, sessions = data.get("files"), data.get("sessions")
            self.files = files if isinstance(files, dict) else {}
            self.sessions = sessions if isinstance(sessions, dict) else {}

    @property
    def prices(self) -> PriceBook:
        """The price book, loaded at its first use."""
        if self._prices is None:
            from racs.core.prices import PriceBook

            self._prices = PriceBook()
        return self._prices

    def rates(self, model: str, timestamp_ms: float, input_tokens: float) -> Rates | None:
        """The model's rates for one request (``None``: unpriced)."""
        return self.prices.rates(
            PROVIDER, model, timestamp_ms=timestamp_ms, input_tokens=input_tokens
        )

    def rows(self, path: Path, st: os.stat_result, main: bool) -> list[Row]:
        """The responses of ``path`` (stat ``st``), reading only what the cache lacks."""
        name = str(path)
        rec = self.files.get(name)
        if rec is not None and rec.get("size") == st.st_size and rec.get("mtime") == st.st_mtime_ns:
            rows = rec.get("rows")
            if isinstance(rows, list):
                return rows
        fresh_start = (
            rec is None
            or not isinstance(rec.get("rows"), list)
            or not isinstance(rec.get("offset"), int)
            or st.st_size < rec.get("size", 0)
            or (st.st_size == rec.get("size") and st.st_mtime_ns != rec.get("mtime"))
        )
        if fresh_start or rec is None:
            rec = {"offset": 0, "lineno": 1, "rows": []}
        try:
            rec = self._read(path, rec, main)
        except OSError:
            return []
        rec["size"], rec["mtime"] = st.st_size, st.st_mtime_ns
        self.files[name] = rec
        self.changed = True
        rows = rec["rows"]
        assert isinstance(rows, list)
        return rows

    def _read(self, path: Path, rec: dict[str, Any], main: bool) -> dict[str, Any]:
        """``rec`` extended with the whole lines ``path`` gained since its offset."""
        from racs.traffic.claude_lines import NEEDLE, Context, parse_line
        from racs.traffic.lines import appended_lines
        from racs.traffic.problems import Problems

        got = appended_lines(path, NEEDLE, int(rec["offset"]), int(rec["lineno"]))
        ctx = Context(agent=None if main else path.stem, session="", project="")
        rows: list[Row] = rec["rows"]
        seen = {_key(row): _response(row, ctx) for row in rows}
        before = {k: r.output for k, r in seen.items()}
        new: list[Response] = []
        sink = Problems()
        for lineno, raw in got.found:
            parse_line(raw, f"{path}:{lineno}", ctx, sink, seen, new)
        index = {_key(row): i for i, row in enumerate(rows)}
        for key, output in before.items():
            r = seen[key]
            if r.output != output:
                i = index[key]
                rows[i] = self._row(r, main)  # a later line raised its output
        rows.extend(self._row(r, main) for r in new)
        return {"offset": got.offset, "lineno": got.lineno, "rows": rows}

    def _row(self, r: Response, main: bool) -> Row:
        from racs.core.accounting import Tokens, cost_of

        t = r.tokens
        tokens = Tokens(t.fresh, t.read, t.write_5m, t.write_30m, t.write_1h, r.output)
        rates = self.rates(r.model, r.timestamp_ms, tokens.input)
        usd = cost_of(tokens, rates).total if rates is not None else None
        ids = list(r.key) if len(r.key) == 2 else [r.key[0], None]
        on_main = int(main and r.agent is None)
        return [*ids, r.timestamp_ms, r.model, on_main, *_counts(tokens), usd]

    def session(self, files: Sequence[tuple[Path, os.stat_result]]) -> dict[str, Any]:
        """The summary of one session's files (subagents first, the transcript last)."""
        sig = [[str(p), st.st_size, st.st_mtime_ns] for p, st in files]
        name = str(files[-1][0])
        got = self.sessions.get(name)
        if isinstance(got, dict) and got.get("sig") == sig:
            data = got.get("data")
            if isinstance(data, dict):
                return data
        merged: dict[tuple[Any, ...], Row] = {}
        main_rows: list[Row] = []
        for i, (path, st) in enumerate(files):
            main = i == len(files) - 1
            for row in self.rows(path, st, main):
                key = _key(row)
                old = merged.get(key)
                if old is None or row[_OUT] > old[_OUT]:
                    merged[key] = row
                if main and row[_MAIN]:
                    main_rows.append(row)
        data = self._summary(list(merged.values()), main_rows)
        self.sessions[name] = {"sig": sig, "data": data}
        self.changed = True
        return data

    def _summary(self, rows: list[Row], main_rows: list[Row]) -> dict[str, Any]:
        from racs.core.accounting import hit_ratio

        read = sum(r[_READ] for r in rows)
        writes = sum(r[_W5] + r[_W30] + r[_W1H] for r in rows)
        fresh = sum(r[_FRESH] for r in rows)
        return {
            "usd": sum(r[_USD] for r in rows if r[_USD] is not None),
            "unpriced": any(r[_USD] is None for r in rows),
            "hit": hit_ratio(read, writes, fresh) if rows else None,
            "warmth": self._warmth(main_rows),
        }

    def _warmth(self, main_rows: list[Row]) -> dict[str, float | None] | None:
        """The entry the main conversation's last request left, in the cache model."""
        if not main_rows:
            return None
        from racs.core.accounting import Tokens, cost_of
        from racs.core.cache import cached_after, lifetime, rules_for

        ordered = sorted(main_rows, key=lambda r: r[_TS])
        last = ordered[-1]
        wrote = next((r for r in reversed(ordered) if r[_W5] + r[_W30] + r[_W1H] > 0), None)
        if wrote is None or last[_READ] + last[_W5] + last[_W30] + last[_W1H] <= 0:
            return None  # nothing cached, or the last request missed it: no entry to keep
        profile = self.prices.profile(PROVIDER, last[_MODEL])
        if profile is None:
            return None
        rules = rules_for(profile)
        tier = "1h" if wrote[_W1H] > 0 else "30m" if wrote[_W30] > 0 else "5m"
        rule = rules.tiers.get(tier)
        if rule is None:
            return None
        t = _tokens(last)
        expires, dies = lifetime(rule, last_use_ms=last[_TS], written_ms=wrote[_TS])
        cached = float(cached_after(t.read, t.writes, t.input, rules))
        rates = self.rates(last[_MODEL], last[_TS], t.input)
        billed = rule.billed_as or tier
        rewrite = read = None
        if rates is not None:
            # The counterfactual is the difference of two ``cost_of``: the same prefix
            # written again at the entry's tier, or read.
            rewrite = cost_of(Tokens(**{f"write_{billed}": cached}), rates).total
            read = cost_of(Tokens(read=cached), rates).total
        return {
            "expires_ms": expires,
            "dies_ms": dies if dies != float("inf") else None,
            "cached": cached,
            "rewrite_usd": rewrite,
            "read_usd": read,
        }

    def keep_only(self, names: Iterable[str]) -> None:
        """Forget files (and sessions) not in ``names``: the cache stays small."""
        wanted = set(names)
        for store in (self.files, self.sessions):
            for name in [n for n in store if n not in wanted]:
                del store[name]
                self.changed = True

    def save(self) -> None:
        """Write the cache back if it changed (atomically; a failure only costs speed)."""
        if self.path is None or not self.changed:
            return
        data = {
            "version": VERSION,
            "files": self.files,
            "sessions": self.sessions,
        }
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            from racs.core.files import make_private_dirs

            make_private_dirs(self.path.parent)
            tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _key(row: Row) -> tuple[Any, ...]:
    return (row[0], row[1]) if row[1] is not None else (row[0],)


def _counts(t: Any) -> list[float]:
    return [t.fresh, t.read, t.write_5m, t.write_30m, t.write_1h, t.output]


def _tokens(row: Row) -> Any:
    from racs.core.accounting import Tokens

    return Tokens(row[_FRESH], row[_READ], row[_W5], row[_W30], row[_W1H], row[_OUT])


def _response(row: Row, ctx: Context) -> Response:
    from racs.traffic.claude_lines import Response

    return Response(
        key=_key(row),
        where="",
        model=row[_MODEL],
        session=ctx.session,
        agent=None if row[_MAIN] else "",
        timestamp_ms=row[_TS],
        project=ctx.project,
        request_id=row[1],
        tokens=_tokens(row),
        output=int(row[_OUT]),
    )


def _stat(path: Path) -> os.stat_result | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st if path.is_file() else None


def _transcripts(root: Path, since_ms: float) -> Iterator[tuple[Path, os.stat_result]]:
    """``.jsonl`` files under ``root`` modified at or after ``since_ms``."""
    for folder, _, names in os.walk(root):
        for n in names:
            if n.endswith(".jsonl"):
                path = Path(folder, n)
                st = _stat(path)
                if st is not None and st.st_mtime_ns // 1_000_000 >= since_ms:
                    yield path, st


def session_files(transcript: Path) -> list[tuple[Path, os.stat_result]]:
    """A session's subagent files, then its transcript (those that can be read)."""
    out: list[tuple[Path, os.stat_result]] = []
    sub = transcript.with_suffix("") / "subagents"
    if sub.is_dir():
        for p in sorted(sub.glob("*.jsonl")):
            st = _stat(p)
            if st is not None:
                out.append((p, st))
    st = _stat(transcript)
    if st is not None:
        out.append((transcript, st))
    return out


def day_start_ms(now_ms: float, tz: tzinfo | None = None) -> float:
    """Midnight of ``now_ms``'s day in ``tz`` (``None``: the local zone), in ms."""
    now = datetime.fromtimestamp(now_ms / 1000, tz).astimezone(tz)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp() * 1000


class Block(NamedTuple):
    """One 5-hour billing block."""

    start_ms: float
    last_ms: float
    usd: float


def active_block(rows: Iterable[Row], now_ms: float) -> Block | None:
    """The block ``now_ms`` falls in, as Claude bills them: a block starts at the hour of
    the first request after the previous block ended or after five idle hours, and lasts
    five hours; it is active while it has not ended and its last request is under five
    hours old."""
    block: Block | None = None
    for row in sorted(rows, key=lambda r: r[_TS]):
        ts = row[_TS]
        if ts > now_ms:
            break
        if block is None or ts >= block.start_ms + BLOCK_MS or ts - block.last_ms >= BLOCK_MS:
            block = Block(ts // HOUR_MS * HOUR_MS, ts, 0.0)
        block = Block(block.start_ms, ts, block.usd + (row[_USD] or 0.0))
    if block is None or now_ms >= block.start_ms + BLOCK_MS or now_ms - block.last_ms >= BLOCK_MS:
        return None
    return block


def status(
    given: StatusInput,
    *,
    now_ms: float,
    cache_file: Path | None = None,
    projects: Path | None = None,
    tz: tzinfo | None = None,
    prices: PriceBook | None = None,
) -> Status:
    """Everything the status line says for ``given`` at ``now_ms`` (``cache_file``: where
    the read cache lives, ``None`` for none; ``projects``: the folder of every session,
    default the transcript's; ``prices``: default the bundled database)."""
    root = projects if projects is not None else projects_of(given.transcript)
    try:
        return _status(given, ReadCache(cache_file, prices), now_ms, root, tz)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError):
        if cache_file is None:
            raise
    # A cache file of another shape (an older racs, a hand edit): start again from none.
    cache = ReadCache(None, prices)
    cache.path = cache_file
    cache.changed = True
    return _status(given, cache, now_ms, root, tz)


def _status(
    given: StatusInput, cache: ReadCache, now_ms: float, root: Path, tz: tzinfo | None
) -> Status:
    seen: set[tuple[Any, ...]] = set()
    recent: list[Row] = []
    kept: list[str] = []
    day = day_start_ms(now_ms, tz)
    since = min(day, now_ms - LOOKBACK_MS)
    mine: set[Path] = set()
    data: dict[str, Any] = {}
    if given.transcript is not None:
        files = session_files(given.transcript)
        if files:
            mine = {p for p, _ in files}
            data = cache.session(files)
            for p, st in files:
                kept.append(str(p))
                _collect(cache.rows(p, st, p == files[-1][0]), since, seen, recent)
    for path, st in _transcripts(root, since):
        if path in mine:
            continue
        kept.append(str(path))
        main = path.parent.name != "subagents"
        _collect(cache.rows(path, st, main), since, seen, recent)
    cache.keep_only(kept)
    cache.save()
    warmth = warm_left = None
    w = data.get("warmth")
    if isinstance(w, dict):
        dies = w["dies_ms"] if w["dies_ms"] is not None else float("inf")
        warmth = Warmth(w["expires_ms"], dies, w["cached"], w["rewrite_usd"], w["read_usd"])
        # Cold past the entry's expiry or its hard limit, as ``cache.entry_liveness``.
        warm_left = (min(warmth.expires_ms, warmth.dies_ms) - now_ms) / 1000
    block = active_block(recent, now_ms)
    return Status(
        model=given.model,
        session_usd=data.get("usd"),
        hit=data.get("hit"),
        today_usd=sum(r[_USD] or 0.0 for r in recent if day <= r[_TS] <= now_ms),
        block_usd=block.usd if block is not None else None,
        block_left_s=(block.start_ms + BLOCK_MS - now_ms) / 1000 if block is not None else None,
        warm_left_s=warm_left,
        warmth=warmth,
        unpriced=bool(data.get("unpriced")),
    )


def _collect(rows: list[Row], since: float, seen: set[tuple[Any, ...]], out: list[Row]) -> None:
    """Rows at or after ``since`` not seen yet (a response copied into another file counts
    once)."""
    for row in rows:
        if row[_TS] >= since:
            key = _key(row)
            if key not in seen:
                seen.add(key)
                out.append(row)

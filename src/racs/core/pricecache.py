"""The price database's answers, kept on disk between runs.

Why: importing ``genai-prices`` and building its snapshot costs 0.4-0.7 s of CPU, more
than reading a 10 MB folder of transcripts, while its answers change only when the
installed database does. So each answer (a model's prices over a span of time) is written
to a small JSON file keyed by the installed database file's identity (path, size,
modification time); a later run that asks the same questions never imports the package.
A file that cannot be read or written is ignored: the cache only ever saves time.

``RACS_CACHE_DIR`` chooses the folder (default ``$XDG_CACHE_HOME/racs`` or
``~/.cache/racs``); ``RACS_PRICE_CACHE=0`` turns the file off.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Final

from racs.core.files import cache_folder

Fields = dict[str, Any]
"""A model's prices at one moment: field -> [base, [[start, price], ...]] or None."""

MAX_ENTRIES: Final = 20_000
"""Spans kept per file; beyond it the file starts again (a server's minutes add up)."""


def database_file() -> Path | None:
    """Where the installed price database lives, found without importing it."""
    try:
        spec = importlib.util.find_spec("genai_prices")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data.py"
    return data if data.is_file() else None


class PriceCache:
    """Spans of database prices by ``provider/model/span`` key, loaded once, saved at exit."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, Fields | None] | None = None
        self._dirty = False
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, Fields | None]:
        """(known, prices): known is False when the database must be asked."""
        entries = self._load()
        if key in entries:
            return True, entries[key]
        return False, None

    def put(self, key: str, fields: Fields | None) -> None:
        """Remember one answer (None: the database does not price that model)."""
        entries = self._load()
        with self._lock:
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[key] = fields
            if not self._dirty and self.path is not None:
                atexit.register(self.save)
            self._dirty = True

    def save(self) -> None:
        """Write the file if anything was added (atomically: a reader never sees half)."""
        if not self._dirty or self.path is None or self._entries is None:
            return
        with self._lock:
            data = json.dumps(self._entries, separators=(",", ":"))
            self._dirty = False
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".prices-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(data)
                os.replace(tmp, self.path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _load(self) -> dict[str, Fields | None]:
        if self._entries is None:
            entries: dict[str, Fields | None] = {}
            if self.path is not None:
                with contextlib.suppress(OSError, ValueError):
                    raw = json.loads(self.path.read_text(encoding="utf-8"))
                    if isinstance(raw, dict):
                        entries = {
                            str(k): v for k, v in raw.items() if v is None or isinstance(v, dict)
                        }
            self._entries = entries
        return self._entries


def open_cache() -> PriceCache:
    """The cache of the installed database (a memory-only one when the file is off)."""
    data = database_file()
    if data is None or os.environ.get("RACS_PRICE_CACHE", "1") == "0":
        return PriceCache(None)
    try:
        st = data.stat()
    except OSError:
        return PriceCache(None)
    stamp = hashlib.sha256(f"{data}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()
    return PriceCache(cache_folder() / f"prices-{stamp[:16]}.json")

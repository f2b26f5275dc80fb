"""The price database's answers kept on disk: the same rates, without importing the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from racs.core.pricecache import PriceCache
from racs.core.prices import database_available

needs_db = pytest.mark.skipif(not database_available(), reason="the prices extra is missing")

_ASK = """
import json, sys
from racs.core.prices import PriceBook
book = PriceBook()
out = []
for provider, model in [("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-6"),
                        ("deepseek", "deepseek-chat"), ("openai", "gpt-5"), ("ollama", "llama3")]:
    for ts in (1_750_000_000_000, 1_760_000_000_000 + 3_600_000 * 17, 1_770_000_000_000):
        for size in (1_000, 250_000):
            r = book.rates(provider, model, timestamp_ms=ts, input_tokens=size)
            out.append(None if r is None else repr(r))
print(json.dumps({"rates": out, "imported": "genai_prices" in sys.modules}))
"""


def _ask(cache_dir: Path, **env: str) -> dict[str, object]:
    environ = {**os.environ, "RACS_CACHE_DIR": str(cache_dir), **env}
    done = subprocess.run(
        [sys.executable, "-c", _ASK], env=environ, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@needs_db
class TestPriceCache:
    def test_a_second_run_answers_the_same_without_the_database(self, tmp_path: Path) -> None:
        """Dated (Opus 4.6), time-of-day (DeepSeek) and constant prices all come back."""
        first = _ask(tmp_path)
        assert first["imported"] is True
        files = list(tmp_path.glob("prices-*.json"))
        assert len(files) == 1
        second = _ask(tmp_path)
        assert second == {"rates": first["rates"], "imported": False}
        off = _ask(tmp_path / "off", RACS_PRICE_CACHE="0")
        assert off["rates"] == first["rates"]
        assert not (tmp_path / "off").exists()

    def test_a_corrupt_file_is_ignored_and_replaced(self, tmp_path: Path) -> None:
        first = _ask(tmp_path)
        (path,) = tmp_path.glob("prices-*.json")
        path.write_text("{not json", encoding="utf-8")
        again = _ask(tmp_path)
        assert again == {"rates": first["rates"], "imported": True}
        assert json.loads(path.read_text(encoding="utf-8"))


class TestPriceCacheFile:
    def test_entries_round_trip_and_unpriced_is_remembered(self, tmp_path: Path) -> None:
        path = tmp_path / "c" / "prices-x.json"
        cache = PriceCache(path)
        assert cache.get("a") == (False, None)
        cache.put("a", {"input_mtok": [3.0, [[200000.0, 6.0]]]})
        cache.put("b", None)
        cache.save()
        again = PriceCache(path)
        assert again.get("a") == (True, {"input_mtok": [3.0, [[200000.0, 6.0]]]})
        assert again.get("b") == (True, None)

    def test_an_unwritable_folder_only_costs_the_cache(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("x", encoding="utf-8")
        cache = PriceCache(blocker / "sub" / "prices.json")
        cache.put("a", None)
        cache.save()  # no error: the folder cannot exist under a file
        assert cache.get("a") == (True, None)

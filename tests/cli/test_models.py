"""`racs models`: the catalog with dates and sources, and one model's effective profile."""

from __future__ import annotations

import json
from pathlib import Path

from cli.conftest import Runner


class TestModels:
    def test_lists_entries_with_date_and_sources(self, racs: Runner) -> None:
        """Every entry is listed with its check date and its source."""
        proc = racs("models")
        assert proc.returncode == 0, proc.stderr
        assert "facts checked 2026-11-29" in proc.stdout
        assert "claude-4096" in proc.stdout and "gemini-2-5-pro" in proc.stdout
        wide = racs("models", "--wide")
        assert "openai-gpt-5-6-explicit: developers.openai.com" in wide.stdout

    def test_fits_120_columns_with_prices(self, racs: Runner) -> None:
        """The default listing fits a 120-column terminal and prices each token class."""
        proc = racs("models")
        assert max(len(line) for line in proc.stdout.splitlines()) <= 120
        assert "in $" in proc.stdout and "write $" in proc.stdout
        # Claude Sonnet 5.5: 512 minimum, 0.05x reads; 2 in, 0.1 read, 2.5 5m, 4 1h, 10 out
        row = next(
            line for line in proc.stdout.splitlines() if line.startswith("claude-sonnet-5-5")
        )
        assert row.split()[2:] == [
            "512",
            "0.05x",
            "5m:1.25x",
            "1h:2.0x",
            "2",
            "0.1",
            "2.5",
            "4",
            "10",
        ]

    def test_provider_filter_and_json(self, racs: Runner) -> None:
        """--provider narrows the list; --json is machine-readable."""
        proc = racs("models", "--provider", "google", "--json")
        doc = json.loads(proc.stdout)
        assert doc["checked"] == "2026-11-29"
        assert {e["id"] for e in doc["entries"]} == {
            "gemini-2-5-flash",
            "gemini-2-5-pro",
            "gemini-3-1-pro",
            "gemini-3-5-to-3-8-flash",
        }
        assert all(e["source"] for e in doc["entries"])

    def test_one_model_profile(self, racs: Runner) -> None:
        """--provider/--model shows the effective profile and the entry that refined it."""
        proc = racs(
            "models", "--provider", "anthropic", "--model", "claude-opus-4-5-20251101", "--json"
        )
        doc = json.loads(proc.stdout)
        assert doc["profile"]["minCacheableTokens"] == 4096
        assert doc["entry"]["id"] == "claude-4096"
        unknown = racs("models", "--provider", "anthropic", "--model", "claude-future")
        assert "provider profile applies unchanged" in unknown.stdout

    def test_host_catalog_extends(self, racs: Runner, tmp_path: Path) -> None:
        """--catalog FILE adds entries that win over the shipped ones."""
        path = tmp_path / "cat.json"
        path.write_text(
            json.dumps(
                {
                    "checked": "2026-11-20",
                    "entries": [
                        {
                            "id": "ours",
                            "providers": ["anthropic"],
                            "match": ["claude-opus-4-5*"],
                            "refine": {"minCacheableTokens": 300},
                            "source": "measured",
                        }
                    ],
                }
            )
        )
        proc = racs(
            "models",
            "--catalog",
            str(path),
            "--provider",
            "anthropic",
            "--model",
            "claude-opus-4-5",
            "--json",
        )
        assert json.loads(proc.stdout)["profile"]["minCacheableTokens"] == 300

    def test_bad_usage_exits_2(self, racs: Runner, tmp_path: Path) -> None:
        """--model without --provider, a bad provider or an invalid catalog: exit 2, one line."""
        for argv in (("models", "--model", "x"), ("models", "--provider", "acme")):
            proc = racs(*argv)
            assert proc.returncode == 2
            assert len(proc.stderr.strip().splitlines()) == 1
        bad = tmp_path / "bad.json"
        bad.write_text('{"entries": [{"id": 1}]}')
        proc = racs("models", "--catalog", str(bad))
        assert proc.returncode == 2 and "Traceback" not in proc.stderr

"""`racs analyze`: exit 0 clean, 1 on error findings, 2 on bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli.conftest import Runner
from cli.test_cli_basics import assert_one_line_usage_error

GOOD: dict[str, Any] = {
    "provider": "anthropic",
    "model": "claude-sonnet-4-5",
    "segments": [
        {"id": "system", "role": "system", "stability": "stable", "content": "x" * 8000},
        {"id": "turn", "role": "dynamic", "stability": "volatile", "content": "hi"},
    ],
    "reuse": {"intervalSeconds": 60},
}
# The live turn first: only 2 of 2002 tokens precede the volatile segment.
BAD: dict[str, Any] = {
    "agentId": "naive",
    "provider": "anthropic",
    "model": "claude-sonnet-4-5",
    "segments": [
        {"id": "turn", "role": "dynamic", "stability": "volatile", "content": "hello there"},
        {"id": "system", "role": "system", "stability": "stable", "content": "x" * 8000},
    ],
}


def write(tmp_path: Path, name: str, value: Any) -> str:
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return str(path)


class TestAnalyzeExitCodes:
    def test_clean_input_exits_0(self, racs: Runner, tmp_path: Path) -> None:
        """A well-ordered prompt: tokens, directive and break-even shown, exit 0."""
        proc = racs("analyze", "--input", write(tmp_path, "ok.json", GOOD))
        assert proc.returncode == 0, proc.stderr
        # 8000 chars / 4 = 2000 stable tokens; "hi" adds ceil(2/4) = 1.
        assert "stable 2000 / total 2001" in proc.stdout
        assert "breakpoint after segment 'system', ttl 5m" in proc.stdout
        assert "break-even" in proc.stdout and "derivation" in proc.stdout
        assert proc.stdout.rstrip().endswith("0 error(s), 0 warning(s), 0 info")

    def test_error_finding_exits_1(self, racs: Runner, tmp_path: Path) -> None:
        """An array holding an input with an error finding fails the gate (exit 1)."""
        proc = racs("analyze", "--input", write(tmp_path, "mixed.json", [GOOD, BAD]))
        assert proc.returncode == 1, proc.stderr
        assert "input 2/2: anthropic claude-sonnet-4-5 (agent naive)" in proc.stdout
        assert "volatile-early" in proc.stdout
        assert "segment-order" in proc.stdout
        assert proc.stdout.rstrip().splitlines()[-1].startswith("FAIL: 2 input(s), 1 error(s)")

    def test_json_format_is_parseable(self, racs: Runner, tmp_path: Path) -> None:
        """--format json prints the plans in the camelCase wire form."""
        proc = racs(
            "analyze", "--input", write(tmp_path, "in.json", [GOOD, BAD]), "--format", "json"
        )
        assert proc.returncode == 1
        doc = json.loads(proc.stdout)
        assert doc["summary"] == {
            "inputs": 2,
            "errors": 1,
            "warnings": 1,
            "infos": 1,
            "plansWithDirectives": 1,
            "plansWithoutDirectives": 1,
        }
        first = doc["plans"][0]
        assert first["stableTokens"] == 2000 and first["totalTokens"] == 2001
        assert first["directives"] == [{"kind": "breakpoint", "segmentId": "system", "ttl": "5m"}]
        assert "writePremiumTokens" in first["breakEven"]

    def test_pricing_file_is_accepted(self, racs: Runner, tmp_path: Path) -> None:
        """A valid pricing table is used (exit 0)."""
        pricing = {"claude-sonnet-4-5": {"inputPerMTok": 3, "cacheReadPerMTok": 0.3}}
        proc = racs(
            "analyze",
            "--input",
            write(tmp_path, "ok.json", GOOD),
            "--pricing",
            write(tmp_path, "pricing.json", pricing),
        )
        assert proc.returncode == 0, proc.stderr


class TestAnalyzeBadFiles:
    def test_missing_file(self, racs: Runner, tmp_path: Path) -> None:
        """A missing input file: exit 2, one line naming it."""
        missing = str(tmp_path / "nope.json")
        proc = racs("analyze", "--input", missing)
        assert_one_line_usage_error(proc)
        assert missing in proc.stderr

    def test_not_json(self, racs: Runner, tmp_path: Path) -> None:
        """A file that is not JSON: exit 2, one line naming it and the position."""
        path = write(tmp_path, "broken.json", "{not json")
        proc = racs("analyze", "--input", path)
        assert_one_line_usage_error(proc)
        assert path in proc.stderr and "line 1" in proc.stderr

    def test_invalid_element_names_index_and_field(self, racs: Runner, tmp_path: Path) -> None:
        """An invalid array element: the file, the element index and the field."""
        bad = json.loads(json.dumps(GOOD))
        bad["segments"][0]["role"] = "narrator"
        path = write(tmp_path, "arr.json", [GOOD, bad])
        proc = racs("analyze", "--input", path)
        assert_one_line_usage_error(proc)
        assert path in proc.stderr
        assert "element [1]" in proc.stderr
        assert "segments[0].role" in proc.stderr

    def test_invalid_single_input_names_field(self, racs: Runner, tmp_path: Path) -> None:
        """A single invalid PlanInput names the field (no element index)."""
        bad = {**GOOD, "model": ""}
        proc = racs("analyze", "--input", write(tmp_path, "one.json", bad))
        assert_one_line_usage_error(proc)
        assert "model" in proc.stderr and "element" not in proc.stderr

    def test_invalid_pricing(self, racs: Runner, tmp_path: Path) -> None:
        """A pricing table without inputPerMTok: exit 2 naming the pricing file."""
        pricing = write(tmp_path, "p.json", {"claude-sonnet-4-5": {"cacheReadPerMTok": 1}})
        proc = racs("analyze", "--input", write(tmp_path, "ok.json", GOOD), "--pricing", pricing)
        assert_one_line_usage_error(proc)
        assert pricing in proc.stderr and "inputPerMTok" in proc.stderr

    def test_debug_shows_traceback(self, racs: Runner, tmp_path: Path) -> None:
        """--debug lets the traceback through for a bad file."""
        proc = racs("--debug", "analyze", "--input", str(tmp_path / "nope.json"))
        assert proc.returncode != 0
        assert "Traceback" in proc.stderr

"""The command line a @takk/racs user knows keeps working (issue 17)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from cli.conftest import Runner
from cli.test_simulate import summary_row
from racs import __version__

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "takk-racs-state-v1.json"


class TestTopLevelWords:
    def test_help_word(self, racs: Runner) -> None:
        """`racs help` prints the help and exits 0."""
        proc = racs("help")
        assert proc.returncode == 0, proc.stderr
        assert "COMMAND" in proc.stdout and "exit codes" in proc.stdout

    def test_help_word_with_a_command(self, racs: Runner) -> None:
        """`racs help simulate` and `racs help serve` show that command's help."""
        simulate = racs("help", "simulate")
        assert simulate.returncode == 0 and "--calls" in simulate.stdout
        serve = racs("help", "serve")
        assert serve.returncode == 0 and "--port" in serve.stdout

    @pytest.mark.parametrize("word", ["version", "-v", "--version"])
    def test_version_words(self, racs: Runner, word: str) -> None:
        """`racs version`, `racs -v` and `racs --version` print the version, exit 0."""
        proc = racs(word)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == __version__  # bare, as @takk/racs prints it


def _naive_input(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.json"
    path.write_text(
        json.dumps(
            [
                {
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "segments": [
                        {
                            "id": "system",
                            "role": "system",
                            "stability": "stable",
                            "content": "Now: 2026-01-01T10:00:00Z. " + "Be brief. " * 800,
                        },
                        {"id": "turn", "role": "dynamic", "stability": "volatile", "content": "?"},
                    ],
                },
                {
                    "provider": "openai",
                    "model": "gpt-4.1",
                    "segments": [
                        {
                            "id": "s",
                            "role": "system",
                            "stability": "stable",
                            "tokens": 9,
                            "contentHash": "h",
                        }
                    ],
                },
            ]
        )
    )
    return path


class TestAnalyzeLines:
    def test_lint_lines(self, racs: Runner, tmp_path: Path) -> None:
        """One `LINT <severity> <code> <segment> <message>` line per finding; `-` stands for
        a finding that names no segment."""
        proc = racs("analyze", "--input", str(_naive_input(tmp_path)))
        assert proc.returncode == 0, proc.stderr
        lines = [line for line in proc.stdout.splitlines() if line.startswith("LINT ")]
        assert [line.split(" ", 4)[:4] for line in lines] == [
            ["LINT", "warning", "timestamp-in-stable", "system"],
            ["LINT", "info", "below-minimum", "-"],
        ]
        assert all(len(line.split(" ", 4)[4]) > 10 for line in lines)

    def test_summary_block(self, racs: Runner, tmp_path: Path) -> None:
        """The output ends in a `--- summary ---` block of counts and the verdict."""
        proc = racs("analyze", "--input", str(_naive_input(tmp_path)))
        tail = proc.stdout.split("--- summary ---\n", 1)[1]
        assert tail.splitlines() == [
            "inputs: 2",
            "errors: 0",
            "warnings: 1",
            "infos: 1",
            "plans with directives: 2",
            "plans without directives: 0",
            "ok: 2 input(s), 0 error(s), 1 warning(s), 1 info",
        ]


class TestSimulateFidelity:
    def test_summary_lines(self, racs: Runner) -> None:
        """`structured: hit ratio ...` and `naive: hit ratio ...` lines, which scripts parse.

        anthropic, 8 calls: structured hits on 7; naive on none (0.0%).
        """
        proc = racs("simulate", "--calls", "8", "--provider", "anthropic", "--no-ledger")
        assert proc.returncode == 0, proc.stderr
        structured = re.search(
            r"^structured: hit ratio (\d+\.\d)%, net savings (-?\$[\d,.]+)$", proc.stdout, re.M
        )
        naive = re.search(r"^naive: hit ratio 0\.0%, net savings (-?\$[\d,.]+)$", proc.stdout, re.M)
        assert structured and naive, proc.stdout
        assert float(structured.group(1)) > 80
        assert re.search(r"^difference: -?\$[\d,.]+ ", proc.stdout, re.M)

    def test_demo_ledger_by_default(self, racs: Runner, cli_env: dict[str, str]) -> None:
        """Without --ledger the demo runs go to ~/.racs/demo-ledger.db, never to the user's
        ledger, and stderr says where; a second run replaces the demo, not doubles it."""
        demo = Path(cli_env["HOME"]) / ".racs" / "demo-ledger.db"
        for _ in range(2):
            proc = racs("simulate", "--calls", "3", "--provider", "google")
            assert proc.returncode == 0, proc.stderr
            assert f"wrote 6 runs to {demo}" in proc.stderr
        assert demo.exists()
        assert not Path(cli_env["RACS_LEDGER"]).exists()
        stats = racs("ledger", "stats", "--workspace", "simulate", "--ledger", str(demo))
        assert stats.returncode == 0, stats.stderr
        assert "runs            6 (completed 6" in stats.stdout  # 3 calls x 2 prompts

    @pytest.mark.parametrize(
        ("provider", "family"),
        [
            ("bedrock", "breakpoint"),
            ("microsoft-foundry", "breakpoint"),
            ("hermes", "breakpoint"),
            ("xai", "routing-key"),
            ("mistral", "routing-key"),
            ("openrouter", "routing-key"),
            ("moonshot", "routing-key"),
            ("groq", "passive"),
            ("ollama", "passive"),
            ("lmstudio", "passive"),
            ("huggingface", "passive"),
            ("custom", "passive"),
        ],
    )
    def test_every_provider(self, racs: Runner, provider: str, family: str) -> None:
        """All sixteen providers simulate (the four representatives are tested beside):
        structured hits after the first call, naive never."""
        proc = racs("simulate", "--calls", "4", "--provider", provider, "--no-ledger")
        assert proc.returncode == 0, proc.stderr
        assert f"== {provider} ({family} family" in proc.stdout
        assert summary_row(proc.stdout, provider, "structured") == (4, 3)
        assert summary_row(proc.stdout, provider, "naive") == (4, 0)


def _fixture() -> Path:
    if not FIXTURE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{FIXTURE} is missing")
        pytest.skip(f"{FIXTURE} is missing")
    return FIXTURE


class TestInspectFidelity:
    def test_missing_state_is_not_an_error(self, racs: Runner, tmp_path: Path) -> None:
        """`inspect --state missing.json` says so and exits 0, as the reference does."""
        path = tmp_path / "missing.json"
        proc = racs("inspect", "--state", str(path))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"no state found at {path}\n"

    def test_reference_snapshot_with_pricing(self, racs: Runner, tmp_path: Path) -> None:
        """`--pricing` prices a @takk/racs snapshot's tokens with the given card:
        3000/1e6 x (10 - 1) = 0.027 USD saved; nothing is written."""
        pricing = tmp_path / "pricing.json"
        pricing.write_text(
            json.dumps({"claude-sonnet-4-5": {"inputPerMTok": 10, "cacheReadPerMTok": 1}})
        )
        before = _fixture().read_bytes()
        proc = racs("inspect", "--state", str(_fixture()), "--pricing", str(pricing))
        assert proc.returncode == 0, proc.stderr
        assert "usage: 1 calls, hit ratio 99.8%, net $0.0270" in proc.stdout
        assert "e0bcfd67b75932a1" in proc.stdout
        assert _fixture().read_bytes() == before

    def test_bad_pricing_file_exits_2(self, racs: Runner, tmp_path: Path) -> None:
        """An invalid pricing file: exit 2 naming it."""
        pricing = tmp_path / "p.json"
        pricing.write_text('{"m": {"inputPerMTok": -1}}')
        proc = racs("inspect", "--state", str(tmp_path / "s.json"), "--pricing", str(pricing))
        assert proc.returncode == 2
        assert "p.json" in proc.stderr

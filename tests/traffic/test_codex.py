"""Codex CLI rollouts (issue 24): every call once, exact against the sample's ground truth
(its last ``total_token_usage``), priced with OpenAI's prices, in every view."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from racs.cli import main
from racs.core.accounting import Tokens
from racs.core.prices import PriceBook
from racs.report.build import build_report
from racs.traffic.problems import Problems
from racs.traffic.sources import format_of, read

SESSION = "0199e2a4-5c1e-7d30-9a51-3f6b2c8e41aa"
# Ground truth (SOURCES.md): the last total_token_usage of the rollout, 24 calls:
# input 764,552 of which cached 648,704, output 12,608 (reasoning included).
TRUTH = Tokens(fresh=764_552 - 648_704, read=648_704, output=12_608)
# Per model (the turn_context switches once): gpt-5.5 then gpt-5.6-luna.
# OpenAI prices in force on 2026-10-14 (bundled database, USD per MTok):
#   gpt-5.5       input 5,   cached 0.5,  output 30
#   gpt-5.6-luna  input 0.2, cached 0.02, output 1.2
# gpt-5.5 (17 calls): fresh 69,066, read 394,496, out 8,756
#   = (69066*5 + 394496*0.5 + 8756*30) / 1e6 = 0.805258
# gpt-5.6-luna (7 calls): fresh 46,782, read 254,208, out 3,852
#   = (46782*0.2 + 254208*0.02 + 3852*1.2) / 1e6 = 0.01906296
DOLLARS = 0.805258 + 0.01906296


@pytest.fixture(scope="module")
def rollout(shared: Callable[[str], Path]) -> Path:
    return next(shared("traffic/codex").glob("rollout-*.jsonl"))


class TestRollout:
    def test_every_call_once_equals_the_last_running_total(self, rollout: Path) -> None:
        assert format_of(rollout) == "codex"
        problems = Problems()
        requests = list(read([rollout], problems))
        assert not problems, problems.to_dict()
        assert len(requests) == 24  # 33 token_count events: 8 copies, 1 with info null
        assert sum((r.tokens for r in requests), Tokens()) == TRUTH
        assert Counter(r.model for r in requests) == {"gpt-5.5": 17, "gpt-5.6-luna": 7}
        assert {(r.provider, r.session, r.project) for r in requests} == {
            ("openai", SESSION, "/home/dev/src/shop-api")
        }
        stamps = [r.timestamp_ms for r in requests]
        assert stamps == sorted(stamps)

    def test_priced_with_openai_prices(self, rollout: Path, prices: PriceBook) -> None:
        problems = Problems()
        report = build_report(read([rollout], problems), prices, problems)
        assert report.total.requests == 24
        assert report.total.cost.total == pytest.approx(DOLLARS, abs=1e-9)
        assert set(report.by["model"]) == {"gpt-5.5", "gpt-5.6-luna"}
        assert set(report.by["session"]) == {SESSION}

    def test_read_by_default_beside_claude_code(
        self,
        rollout: Path,
        transcripts: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """`racs report` without a path reads Claude Code's folder and $CODEX_HOME/sessions."""
        claude = tmp_path / "claude"
        shutil.copytree(transcripts, claude / "projects")
        day = tmp_path / "codex" / "sessions" / "2026" / "10" / "14"
        day.mkdir(parents=True)
        shutil.copy(rollout, day)
        monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(claude))
        monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
        assert main(["report", "--json", "--no-hindsight"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["sources"] == [str(claude / "projects"), str(tmp_path / "codex" / "sessions")]
        assert doc["total"]["requests"] == 455 + 24
        providers = {m["key"] for m in doc["by"]["model"]}
        assert {"gpt-5.5", "gpt-5.6-luna", "claude-opus-4-6"} <= providers


class TestOddRollouts:
    def _write(self, path: Path, *lines: object) -> Path:
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))
        return path

    def test_bad_counts_are_refused_and_named(self, tmp_path: Path) -> None:
        meta = {"timestamp": "2026-10-14T09:00:00Z", "type": "session_meta", "payload": {"id": "s"}}

        def event(last: object, total: object) -> dict[str, object]:
            return {
                "timestamp": "2026-10-14T09:01:00Z",
                "type": "event_msg",
                "payload": {
                    "type": "token_count",
                    "info": {"last_token_usage": last, "total_token_usage": total},
                },
            }

        f = self._write(
            tmp_path / "rollout-x.jsonl",
            meta,
            event({"input_tokens": 10, "cached_input_tokens": 20}, {"input_tokens": 10}),
            event({"input_tokens": 2**40}, {"input_tokens": 2**40}),
            event({"input_tokens": 100, "cached_input_tokens": 50, "output_tokens": 5}, None),
        )
        problems = Problems()
        [r] = list(read([f], problems))
        assert r.tokens == Tokens(fresh=50, read=50, output=5)
        assert problems.by_reason == {
            "last_token_usage.input_tokens is less than its cache reads and writes (20)": 1,
            "last_token_usage.input_tokens is out of bounds (over 4,294,967,295)": 1,
        }

"""Responses counted once across every file read (issue 24): a session copied under a new
session id (a resume or a fork), its message and request ids unchanged, counts once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from racs.cli import main
from racs.core.prices import PriceBook
from racs.report.build import build_report
from racs.traffic.problems import Problems
from racs.traffic.sources import read
from traffic.test_claude_code import EXPECTED, S258
from traffic.test_report_numbers import DOLLARS_EXACT

COPY = "ffffffff-0000-4000-8000-000000000258"  # sorts after the original


def _copy_session(transcripts: Path, folder: Path, new_id: str) -> None:
    """The 258c7280 session and its subagents under ``new_id``, ids inside unchanged
    except the session id (what Claude Code leaves when a session is resumed)."""
    folder.mkdir(parents=True, exist_ok=True)
    main_file = transcripts / f"{S258}.jsonl"
    text = main_file.read_text(encoding="utf-8")
    (folder / f"{new_id}.jsonl").write_text(text.replace(S258, new_id), encoding="utf-8")
    subs = folder / new_id / "subagents"
    subs.mkdir(parents=True)
    for sub in (transcripts / S258 / "subagents").glob("*.jsonl"):
        (subs / sub.name).write_text(sub.read_text(encoding="utf-8").replace(S258, new_id))


@pytest.fixture
def copied(transcripts: Path, tmp_path: Path) -> Path:
    """The original session and its copy, side by side in one project folder."""
    folder = tmp_path / "projects" / "p"
    folder.mkdir(parents=True)
    shutil.copy(transcripts / f"{S258}.jsonl", folder)
    shutil.copytree(transcripts / S258, folder / S258)
    _copy_session(transcripts, folder, COPY)
    return tmp_path / "projects"


class TestCountedOnce:
    @pytest.mark.parametrize("workers", [0, 2])
    def test_a_copied_session_counts_once_for_the_first_session(
        self, copied: Path, prices: PriceBook, workers: int
    ) -> None:
        """156 requests and $12.2257312 (the session alone), not 312 and twice that;
        the same whether the files are read here or by worker processes."""
        problems = Problems()
        report = build_report(read([copied], problems, workers=workers), prices, problems)
        assert set(report.by["session"]) == {S258}
        b = report.by["session"][S258]
        t = b.tokens
        assert (b.requests, t.fresh, t.read, t.write_5m, t.write_1h, t.output) == EXPECTED[S258]
        assert report.total.cost.total == pytest.approx(DOLLARS_EXACT[S258], abs=1e-9)
        assert problems.duplicates.total == 156
        folder = copied / "p"
        sub, copy_sub = folder / S258 / "subagents", folder / COPY / "subagents"
        assert problems.duplicates.by_file == {
            (str(copy_sub / "agent-a881341.jsonl"), str(sub / "agent-a881341.jsonl")): 3,
            (
                str(copy_sub / "agent-acompact-fffbd0.jsonl"),
                str(sub / "agent-acompact-fffbd0.jsonl"),
            ): 1,
            (str(folder / f"{COPY}.jsonl"), str(folder / f"{S258}.jsonl")): 152,
        }
        assert not problems

    def test_the_first_session_read_keeps_the_attribution(
        self, transcripts: Path, tmp_path: Path
    ) -> None:
        """A copy that sorts first is the one kept: attribution follows read order."""
        first = "00000000-0000-4000-8000-000000000258"
        folder = tmp_path / "p"
        _copy_session(transcripts, folder, first)
        shutil.copy(transcripts / f"{S258}.jsonl", folder)
        shutil.copytree(transcripts / S258, folder / S258)
        problems = Problems()
        sessions = {r.session for r in read([folder], problems)}
        assert sessions == {first}
        assert problems.duplicates.total == 156

    def test_the_report_says_how_many_and_where(
        self, copied: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["report", str(copied), "--json", "--no-hindsight"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["total"]["requests"] == 156
        assert doc["duplicates"]["total"] == 156
        main_copy = next(e for e in doc["duplicates"]["examples"] if e["count"] == 152)
        assert main_copy["where"].endswith(f"{COPY}.jsonl")
        assert main_copy["keptIn"].endswith(f"{S258}.jsonl")
        assert main(["report", str(copied), "--no-hindsight"]) == 0
        out = capsys.readouterr().out
        assert "Duplicates dropped: 156 responses already read in another file" in out

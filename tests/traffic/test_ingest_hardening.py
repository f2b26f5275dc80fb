"""`racs ingest` on what the ledger refuses, on other spellings of a path, and in a race
(issue 29): SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from racs.cli import main
from racs.core.accounting import Tokens
from racs.ledger import Ledger, create_ledger
from racs.traffic.ingest import ingest, run_id_of
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.sources import read

T0_S = 1_770_000_000


def _open(target: str, clock: Any = None) -> Ledger:
    if target.startswith("postgresql://"):
        return create_ledger(url=target, clock=clock)
    return create_ledger(target, clock=clock)


def _litellm_rows(folder: Path, n: int) -> Path:
    """``n`` LiteLLM records without any id (the case path spellings used to duplicate)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "call_type": "acompletion",
            "response_cost": 0.01,
            "model": "claude-sonnet-4-5",
            "custom_llm_provider": "anthropic",
            "prompt_tokens": 3_000,
            "completion_tokens": 20,
            "startTime": T0_S + 60 * (i // 2),  # pairs share a second
            "trace_id": "trace-1",
            "metadata": {"usage_object": {"prompt_tokens": 3_000, "cache_read_input_tokens": 0}},
        }
        for i in range(n)
    ]
    path = folder / "litellm.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def _request(i: int, **changes: Any) -> Request:
    fields: dict[str, Any] = {
        "timestamp_ms": (T0_S + i) * 1000.0,
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "tokens": Tokens(fresh=1_000, output=10),
        "session": "s",
        "stream": "s",
        "request_id": f"req-{i}",
        "source": f"made.jsonl:{i + 1}",
    }
    fields.update(changes)
    return Request(**fields)


class TestRefusedRecords:
    def test_a_refused_record_is_named_and_the_rest_imported(self, ledger_target: str) -> None:
        """Year 1 and a lone surrogate are out of the ledger's bounds: 3 of 5 imported."""
        requests = [
            _request(0),
            _request(1, timestamp_ms=-62_135_596_800_000.0),  # 0001-01-01
            _request(2),
            _request(3, session="bad \udcff name"),
            _request(4),
        ]
        problems = Problems()
        done = ingest(iter(requests), lambda c: _open(ledger_target, c), None, problems)
        assert (done.added, done.already, done.refused) == (3, 0, 2)
        assert [p.where for p in problems.examples] == ["made.jsonl:2", "made.jsonl:4"]
        assert all(p.reason.startswith("refused by the ledger: ") for p in problems.examples)
        again = ingest(iter(requests), lambda c: _open(ledger_target, c), None, Problems())
        assert (again.added, again.already, again.refused) == (0, 3, 2)


class TestIdentity:
    def test_another_spelling_of_the_same_folder_adds_nothing(
        self, tmp_path: Path, ledger_target: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Six id-less records read as an absolute path, a relative one, a symlink and
        ``dir/../dir``: six runs, whatever the spelling (two pairs are identical but for
        their rank)."""
        folder = _litellm_rows(tmp_path / "logs", 6)
        link = tmp_path / "link"
        link.symlink_to(folder)
        monkeypatch.chdir(tmp_path)
        spellings = [str(folder), "logs", str(link), str(tmp_path / "logs" / ".." / "logs")]
        results = []
        for spelling in spellings:
            problems = Problems()
            results.append(
                ingest(read([Path(spelling)], problems), lambda c: _open(ledger_target, c))
            )
            assert not problems, problems.to_dict()
        assert [(r.added, r.already) for r in results] == [(6, 0), (0, 6), (0, 6), (0, 6)]

    def test_identical_records_are_told_apart_by_their_rank(self) -> None:
        twin = _request(0, request_id=None)
        assert run_id_of(twin) != run_id_of(twin, 1)
        assert run_id_of(twin) == run_id_of(_request(0, request_id=None, source="elsewhere:9"))


class _Racing:
    """The real ledger, except that the first look-ups miss: what an ingest sees when
    another one commits the same runs between its look-up and its commit."""

    def __init__(self, ledger: Ledger, misses: int) -> None:
        self.ledger = ledger
        self.misses = misses

    def get_run(self, run_id: str) -> Any:
        if self.misses > 0:
            self.misses -= 1
            return None
        return self.ledger.get_run(run_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ledger, name)

    def __enter__(self) -> _Racing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ledger.close()


class TestRace:
    def test_runs_another_ingest_wrote_meanwhile_count_as_already_there(
        self, ledger_target: str
    ) -> None:
        """Three of five runs were committed by the winner: the loser adds the other two."""
        winner = [_request(i) for i in (0, 2, 4)]
        assert ingest(iter(winner), lambda c: _open(ledger_target, c)).added == 3
        loser = [_request(i) for i in range(5)]
        done = ingest(iter(loser), lambda c: _Racing(_open(ledger_target, c), misses=5))
        assert (done.added, done.already, done.refused) == (2, 3, 0)
        with _open(ledger_target) as ledger:
            assert ledger.count_runs() == 5


class TestCli:
    def test_the_command_names_refusals_and_exits_zero(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """One record dated in year 1 among three: 2 ingested, the refusal on stderr."""
        folder = _litellm_rows(tmp_path / "logs", 3)
        path = folder / "litellm.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        bad = json.loads(lines[1])
        bad["startTime"] = "0001-01-01T00:00:00Z"
        lines[1] = json.dumps(bad)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        db = tmp_path / "ledger.db"
        code = main(["ingest", str(folder), "--ledger", str(db)])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "Ingested 2 requests" in out
        assert f"{path}:2" in err and os.path.exists(db)

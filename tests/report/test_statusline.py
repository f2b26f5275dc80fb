"""`racs statusline`: the exact line for a constructed transcript, the read cache, and
input that must never break a status bar."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racs.cli.app import main
from racs.core.model import Pricing
from racs.core.prices import PriceBook
from racs.report.statusline import (
    FALLBACK,
    StatusInput,
    active_block,
    parse_input,
    status,
)

SONNET = "claude-sonnet-4-5"
# USD per million tokens: input 3, read 0.30, 5m write 3.75, 1h write 6, output 15.
CARD = Pricing(3.0, 0.30, 3.75, 6.0, 15.0)


def _prices() -> PriceBook:
    return PriceBook({SONNET: CARD}, database=False)


def _ms(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000


def _line(
    msg: str,
    when: str,
    *,
    fresh: int = 0,
    read: int = 0,
    w5: int = 0,
    w1h: int = 0,
    out: int = 0,
    session: str = "s",
) -> str:
    usage = {
        "input_tokens": fresh,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": w5 + w1h,
        "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1h},
        "output_tokens": out,
    }
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": session,
            "cwd": "/p",
            "requestId": f"req_{msg}",
            "timestamp": f"{when}Z",
            "message": {"id": f"msg_{msg}", "model": SONNET, "role": "assistant", "usage": usage},
        }
    )


# r1 costs 3 x 3 + 100,000 x 3.75 + 1,000 x 15 = 390,009 micro-USD: $0.390009
R1 = _line("r1", "2026-03-01T10:30:00", fresh=3, w5=100_000, out=1_000)
# r2: 5 x 3 + 100,000 x 0.30 + 20,000 x 3.75 + 2,000 x 15 = 135,015 micro-USD: $0.135015
R2 = _line("r2", "2026-03-01T12:00:00", fresh=5, read=100_000, w5=20_000, out=2_000)
# Another session: o1 yesterday (50,000 x 6 = $0.30), o2 today (100,000 x 6 = $0.60), and a
# copy of r1 (a forked session: same ids) that must count once.
O1 = _line("o1", "2026-02-28T23:00:00", w1h=50_000, session="o")
O2 = _line("o2", "2026-03-01T11:00:00", w1h=100_000, session="o")
NOW = _ms("2026-03-01T12:01:48")


@pytest.fixture
def projects(tmp_path: Path) -> Path:
    """``projects/p/s.jsonl`` (r1, r2) and ``projects/q/o.jsonl`` (o1, o2, a copy of r1)."""
    root = tmp_path / "projects"
    (root / "p").mkdir(parents=True)
    (root / "q").mkdir()
    (root / "p" / "s.jsonl").write_text(f'{{"type":"user"}}\n{R1}\n{R2}\n')
    (root / "q" / "o.jsonl").write_text(f"{O1}\n{O2}\n{R1}\n")
    return root


def _status(projects: Path, cache: Path | None, now: float = NOW) -> Any:
    given = StatusInput("s", projects / "p" / "s.jsonl", "Sonnet 4.5")
    return status(given, now_ms=now, cache_file=cache, tz=UTC, prices=_prices())


class TestLine:
    def test_exact_line_for_a_constructed_session(self, projects: Path, tmp_path: Path) -> None:
        """Session, today, block, hit ratio, warmth and what comes after, to the cent."""
        line = _status(projects, tmp_path / "c.json").line()
        # session 0.390009 + 0.135015 = $0.53; today adds o2: 1.125024 = $1.13;
        # the block starts at 10:00 (o1 is 11.5 h before r1): 15:00 - 12:01:48 = 2h58m;
        # hit 100,000 / (100,000 + 120,000 + 8) = 45%; r2's 5m entry lives to 12:05:00:
        # 3m12s; then its 120,000 tokens cost 120,000 x 3.75 = $0.45 to write vs x 0.30 =
        # $0.036 to read.
        assert line == (
            "Sonnet 4.5 | session $0.53 | today $1.13 | block $1.13 (2h58m left) | hit 45% "
            "| cache warm 3m12s, then $0.45 to re-write vs $0.04 to read"
        )

    def test_exact_amounts(self, projects: Path) -> None:
        """The unrounded figures behind the line."""
        s = _status(projects, None)
        assert s.session_usd == pytest.approx(0.525024, abs=1e-12)
        assert s.today_usd == pytest.approx(1.125024, abs=1e-12)
        assert s.block_usd == pytest.approx(1.125024, abs=1e-12)
        assert s.block_left_s == pytest.approx(2 * 3600 + 58 * 60 + 12)
        assert s.warm_left_s == pytest.approx(192)
        assert s.warmth.cached == 120_000
        assert s.warmth.rewrite_usd == pytest.approx(0.45, abs=1e-12)
        assert s.warmth.read_usd == pytest.approx(0.036, abs=1e-12)

    def test_cold_after_the_entry_expired(self, projects: Path) -> None:
        """Past the 5m entry's expiry the line says what the next request will pay."""
        line = _status(projects, None, now=_ms("2026-03-01T12:06:00")).line()
        assert line.endswith("| cache cold: next $0.45 to re-write vs $0.04 to read")

    def test_no_active_block_after_five_idle_hours(self, projects: Path) -> None:
        """A block ends five hours after it started; the next day's today is empty."""
        line = _status(projects, None, now=_ms("2026-03-02T09:00:00")).line()
        assert line == (
            "Sonnet 4.5 | session $0.53 | today $0.00 | hit 45% "
            "| cache cold: next $0.45 to re-write vs $0.04 to read"
        )

    def test_missing_transcript_degrades(self, projects: Path) -> None:
        """Without a transcript the line still has today and the block."""
        given = StatusInput(None, None, None)
        s = status(given, now_ms=NOW, projects=projects, tz=UTC, prices=_prices())
        assert s.line() == "today $1.13 | block $1.13 (2h58m left)"


class TestBlocks:
    def test_block_starts_at_the_hour(self) -> None:
        """A request at 10:30 opens the 10:00-15:00 block."""
        row = ["m", "r", _ms("2026-03-01T10:30:00"), SONNET, 1, 0, 0, 0, 0, 0, 0, 1.0]
        block = active_block([row], _ms("2026-03-01T14:59:00"))
        assert block is not None and block.start_ms == _ms("2026-03-01T10:00:00")
        assert active_block([row], _ms("2026-03-01T15:00:00")) is None


class TestReadCache:
    def test_unchanged_file_is_not_read_again(self, projects: Path, tmp_path: Path) -> None:
        """Same size and mtime: the cached rows answer, even if the bytes changed."""
        cache = tmp_path / "c.json"
        first = _status(projects, cache).session_usd
        path = projects / "p" / "s.jsonl"
        st = path.stat()
        path.write_text(path.read_text().replace('"output_tokens": 2000', '"output_tokens": 9000'))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_size == st.st_size
        assert _status(projects, cache).session_usd == first

    def test_new_mtime_reads_again(self, projects: Path, tmp_path: Path) -> None:
        """Same size, new mtime: the file is read again from the start."""
        cache = tmp_path / "c.json"
        _status(projects, cache)
        path = projects / "p" / "s.jsonl"
        st = path.stat()
        path.write_text(path.read_text().replace('"output_tokens": 2000', '"output_tokens": 9000'))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        # r2's output 9,000 instead of 2,000: 7,000 x 15 = $0.105 more.
        assert _status(projects, cache).session_usd == pytest.approx(0.630024, abs=1e-12)

    def test_growth_reads_only_the_appended_lines(self, projects: Path, tmp_path: Path) -> None:
        """A grown file is read from where the last read stopped: a change before that
        offset goes unseen, the new response counts."""
        cache = tmp_path / "c.json"
        _status(projects, cache)
        path = projects / "p" / "s.jsonl"
        old = path.read_text().replace('"output_tokens": 2000', '"output_tokens": 9000')
        # r3: 10 x 3 + 120,000 x 0.30 = $0.03603
        r3 = _line("r3", "2026-03-01T12:01:00", fresh=10, read=120_000)
        path.write_text(f"{old}{r3}\n")
        stored = json.loads(cache.read_text())["files"][str(path)]
        assert stored["offset"] == len(old.encode())
        assert _status(projects, cache).session_usd == pytest.approx(0.561054, abs=1e-12)

    def test_a_later_line_raises_the_output(self, projects: Path, tmp_path: Path) -> None:
        """A response's later line, appended after a read, raises its output and cost."""
        cache = tmp_path / "c.json"
        _status(projects, cache)
        path = projects / "p" / "s.jsonl"
        more = _line("r2", "2026-03-01T12:00:00", fresh=5, read=100_000, w5=20_000, out=3_000)
        with path.open("a") as f:
            f.write(more + "\n")
        # 1,000 more output tokens: + $0.015
        assert _status(projects, cache).session_usd == pytest.approx(0.540024, abs=1e-12)

    def test_a_line_being_written_waits(self, projects: Path, tmp_path: Path) -> None:
        """A last line without its newline is not read until it is complete."""
        cache = tmp_path / "c.json"
        path = projects / "p" / "s.jsonl"
        r3 = _line("r3", "2026-03-01T12:01:00", fresh=10, read=120_000)
        with path.open("a") as f:
            f.write(r3[:40])
        assert _status(projects, cache).session_usd == pytest.approx(0.525024, abs=1e-12)
        with path.open("a") as f:
            f.write(r3[40:] + "\n")
        assert _status(projects, cache).session_usd == pytest.approx(0.561054, abs=1e-12)

    def test_shrunk_file_is_read_from_the_start(self, projects: Path, tmp_path: Path) -> None:
        """A file that shrank (rewritten) is read again whole."""
        cache = tmp_path / "c.json"
        _status(projects, cache)
        (projects / "p" / "s.jsonl").write_text(R1 + "\n")
        assert _status(projects, cache).session_usd == pytest.approx(0.390009, abs=1e-12)

    def test_corrupt_cache_is_ignored(self, projects: Path, tmp_path: Path) -> None:
        """A cache file that is not ours is read as empty, then replaced."""
        cache = tmp_path / "c.json"
        cache.write_bytes(b"\x00not json")
        assert _status(projects, cache).session_usd == pytest.approx(0.525024, abs=1e-12)
        assert json.loads(cache.read_text())["version"] == 1

    def test_cache_of_another_shape_is_replaced(self, projects: Path, tmp_path: Path) -> None:
        """A cache file of this version whose entries have other shapes is started again."""
        cache = tmp_path / "c.json"
        _status(projects, cache)
        data = json.loads(cache.read_text())
        for rec in data["files"].values():
            rec["rows"] = [["x"]]
            rec["offset"] = "nowhere"
        data["sessions"] = {
            k: {"sig": v["sig"], "data": {"warmth": 3}} for k, v in data["sessions"].items()
        }
        cache.write_text(json.dumps(data))
        assert _status(projects, cache).session_usd == pytest.approx(0.525024, abs=1e-12)
        assert _status(projects, cache).line() == _status(projects, None).line()

    @settings(max_examples=30, deadline=None)
    @given(cuts=st.lists(st.integers(0, 2_000), max_size=5))
    def test_reading_in_pieces_equals_reading_once(self, cuts: list[int]) -> None:
        """However a transcript grows (cut anywhere, mid-line too), reading it piece by
        piece through the cache gives what one read without a cache gives."""
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "projects"
            (root / "p").mkdir(parents=True)
            path = root / "p" / "s.jsonl"
            more = _line("r2", "2026-03-01T12:00:00", fresh=5, read=100_000, w5=20_000, out=3_000)
            data = f"{R1}\n{R2}\n{more}\n{O2}\n".encode()
            cache = Path(tmp) / "c.json"
            path.write_bytes(b"")
            for cut in sorted(c % len(data) for c in cuts):
                path.write_bytes(data[:cut])
                _status(root, cache)
            path.write_bytes(data)
            assert _status(root, cache).line() == _status(root, None).line()


@pytest.fixture
def stdin_of() -> Iterator[Any]:
    """Replace stdin with a string for the duration of a test."""
    saved = sys.stdin

    def set_to(text: str) -> None:
        sys.stdin = io.StringIO(text)

    yield set_to
    sys.stdin = saved


class TestInput:
    def test_claude_code_fields(self) -> None:
        """The documented input: session id, transcript path, model display name."""
        given = parse_input(
            json.dumps(
                {
                    "hook_event_name": "Status",
                    "session_id": "abc",
                    "transcript_path": "/t/abc.jsonl",
                    "cwd": "/p",
                    "model": {"id": "claude-opus-4-1", "display_name": "Opus"},
                    "workspace": {"current_dir": "/p", "project_dir": "/p"},
                    "version": "1.0.80",
                    "cost": {"total_cost_usd": 0.01},
                }
            )
        )
        assert given == StatusInput("abc", Path("/t/abc.jsonl"), "Opus")

    def test_wrong_types_are_left_out(self) -> None:
        """Fields of the wrong type degrade to unknown."""
        assert parse_input('{"session_id": 3, "transcript_path": [], "model": 1}') == (
            StatusInput()
        )
        assert parse_input("[1]") is None
        assert parse_input("{") is None

    def test_bad_json_prints_the_fallback(
        self, stdin_of: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Not JSON: a short line, exit 0."""
        stdin_of("not json")
        assert main(["statusline", "--no-cache"]) == 0
        assert capsys.readouterr().out == FALLBACK + "\n"

    def test_the_command_prints_the_line(
        self, projects: Path, tmp_path: Path, stdin_of: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The command with a fixed now and a missing transcript reads the projects."""
        stdin_of(json.dumps({"transcript_path": str(tmp_path / "none.jsonl")}))
        code = main(
            [
                "statusline",
                "--no-cache",
                "--utc",
                "--projects",
                str(projects),
                "--now",
                "2026-03-01T12:01:48Z",
            ]
        )
        assert code == 0
        out = capsys.readouterr().out
        assert out.startswith("today $") and out.count("\n") == 1

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        text=st.one_of(
            st.text(max_size=200),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                lambda inner: (
                    st.lists(inner, max_size=4)
                    | st.dictionaries(
                        st.sampled_from(["session_id", "transcript_path", "model", "id", "x"]),
                        inner,
                        max_size=4,
                    )
                ),
                max_leaves=10,
            ).map(json.dumps),
        )
    )
    def test_garbage_never_breaks_the_bar(
        self, text: str, tmp_path: Path, stdin_of: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Whatever arrives on stdin: one line on stdout, exit 0."""
        stdin_of(text)
        code = main(["statusline", "--no-cache", "--projects", str(tmp_path), "--now", "0"])
        assert code == 0
        assert capsys.readouterr().out.count("\n") == 1

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(content=st.binary(max_size=400))
    def test_garbage_transcript_never_breaks_the_bar(self, content: bytes, tmp_path: Path) -> None:
        """Whatever a transcript holds, the status is computed (costs of nothing read: 0)."""
        path = tmp_path / "g.jsonl"
        path.write_bytes(content + b'\n{"type":"assistant","message":{"usage":1}}\n')
        given = StatusInput("g", path, None)
        s = status(given, now_ms=NOW, projects=tmp_path, tz=UTC, prices=_prices())
        assert s.session_usd == 0 and s.line().startswith("session $0.00")

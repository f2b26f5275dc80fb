"""`racs report --period/-z/--wide`, `racs blocks`, and what the commands say when the
filters leave nothing, end to end through the console entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from racs.cli import main
from report_views.conftest import write_transcript

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """``racs ARGS``: exit code, stdout, stderr."""

    def go(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return go


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Four sonnet requests of 1M fresh tokens ($3.00 each): two on Monday 9 February
    (UTC), one at 23:30 UTC that day (the 10th in Berlin), one on 2 March."""
    write_transcript(
        tmp_path / "projects",
        [
            ("2026-02-09T10:00:00Z", 1_000_000),
            ("2026-02-09T11:00:00Z", 1_000_000),
            ("2026-02-09T23:30:00Z", 1_000_000),
            ("2026-03-02T08:00:00Z", 1_000_000),
        ],
    )
    return tmp_path


def _args(folder: Path, *more: str) -> list[str]:
    return [str(folder / "projects"), "--pricing", str(folder / "card.json"), *more]


class TestPeriods:
    def test_day_table_in_a_zone(self, run: Run, folder: Path) -> None:
        """In Berlin the 23:30 UTC request is on the 10th: 9th $6.00, 10th $3.00."""
        code, out, _ = run("report", *_args(folder, "-z", "Europe/Berlin", "--no-hindsight"))
        assert code == 0
        assert "By day, Europe/Berlin, each with its models:" in out
        section = out.split("By day, Europe/Berlin")[1]
        rows = [line.split() for line in section.splitlines()[3:8]]
        assert [(r[0], r[1], r[-3]) for r in rows] == [
            ("2026-02-09", "2", "$6.0000"),
            ("claude-sonnet-4-5", "2", "$6.0000"),
            ("2026-02-10", "1", "$3.0000"),
            ("claude-sonnet-4-5", "1", "$3.0000"),
            ("2026-03-02", "1", "$3.0000"),
        ]
        assert "2026-02-09T11:00:00+01:00 .. 2026-03-02T09:00:00+01:00" in out

    def test_week_and_month(self, run: Run, folder: Path) -> None:
        """Weeks from Monday: 9 Feb has 3 requests ($9.00), 2 Mar one; months likewise."""
        code, out, _ = run("report", *_args(folder, "--utc", "--period", "week"))
        assert code == 0
        section = out.split("By week (from Monday), UTC, each with its models:")[1]
        rows = [line.split() for line in section.splitlines()[3:7]]
        assert [(r[0], r[1], r[-3]) for r in rows] == [
            ("2026-02-09", "3", "$9.0000"),
            ("claude-sonnet-4-5", "3", "$9.0000"),
            ("2026-03-02", "1", "$3.0000"),
            ("claude-sonnet-4-5", "1", "$3.0000"),
        ]
        code, out, _ = run("report", *_args(folder, "--utc", "--period", "month", "--rows", "1"))
        assert "By month, UTC (latest 1 of 2), each with its models:" in out
        assert "2026-03 " in out and "2026-02 " not in out

    def test_since_without_offset_is_in_the_zone(self, run: Run, folder: Path) -> None:
        """--since 2026-02-10 in Berlin starts at 23:00 UTC on the 9th: 2 requests."""
        code, out, _ = run(
            "report", *_args(folder, "-z", "Europe/Berlin", "--since", "2026-02-10", "--json")
        )
        assert code == 0
        doc = json.loads(out)
        assert doc["total"]["requests"] == 2
        assert doc["timezone"] == "Europe/Berlin"
        assert [p["key"] for p in doc["periods"]["month"]] == ["2026-02", "2026-03"]

    def test_the_page_is_in_the_zone_too(self, run: Run, folder: Path, tmp_path: Path) -> None:
        """--html: the span in Berlin time; the span is over three days, so the charts
        have one bar per Berlin day (9 and 10 February, 2 March)."""
        page = tmp_path / "page.html"
        code, _, _ = run("report", *_args(folder, "-z", "Europe/Berlin", "--html", str(page)))
        assert code == 0
        html = page.read_text(encoding="utf-8")
        assert "2026-02-09T11:00:00+01:00 .. 2026-03-02T09:00:00+01:00" in html
        for day in ("02-09", "02-10", "03-02"):
            assert f'text-anchor="middle">{day}</text>' in html

    def test_unknown_zone_is_a_usage_error(self, run: Run, folder: Path) -> None:
        """Exit 2 with one line naming the zone; -z and --utc exclude each other."""
        code, _, err = run("report", *_args(folder, "-z", "Mars/Olympus"))
        assert code == 2 and "unknown time zone 'Mars/Olympus'" in err
        with pytest.raises(SystemExit) as stop:
            main(["report", *_args(folder, "-z", "UTC", "--utc")])
        assert stop.value.code == 2


class TestNothingLeft:
    @pytest.mark.parametrize("command", ["report", "blocks", "replay"])
    def test_filters_that_exclude_everything_exit_2(
        self, run: Run, folder: Path, command: str
    ) -> None:
        """Four requests read, none after 2027: the same message and exit 2 everywhere."""
        code, out, err = run(command, *_args(folder, "--utc", "--since", "2027-01-01"))
        assert (code, out) == (2, "")
        assert "4 requests read, all excluded by --since 2027-01-01" in err

    def test_two_filters_are_both_named(self, run: Run, folder: Path) -> None:
        """Each filter given is named."""
        code, _, err = run("report", *_args(folder, "--utc", "--model", "gpt", "--session", "s"))
        assert code == 2
        assert "4 requests read, all excluded by --session s and --model gpt" in err


class TestBlocks:
    def test_table_and_json(self, run: Run, folder: Path) -> None:
        """Blocks 10:00 (two requests, 2M tokens, $6.00, one hour apart: 33,333 tokens a
        minute, $6.00 an hour), 23:00 and 08:00 on 2 March; with --token-limit max (the
        largest ended block, 2,000,000) the first is at 100%."""
        code, out, _ = run(
            "blocks", *_args(folder, "--utc", "--as-of", "2026-04-01", "--token-limit", "max")
        )
        assert code == 0
        assert out.startswith("5-hour blocks, UTC, token limit 2,000,000 (the largest ended")
        rows = [line.split() for line in out.splitlines()[3:]]
        assert rows[0][:8] == [
            "2026-02-09",
            "10:00",
            "15:00",
            "done",
            "2",
            "2,000,000",
            "$6.0000",
            "100.0%",
        ]
        assert rows[0][8:10] == ["33,333", "$6.0000"]
        assert rows[1][0] == "(idle" and rows[2][:3] == ["2026-02-09", "23:00", "04:00"]
        code, out, _ = run("blocks", *_args(folder, "--utc", "--as-of", "2026-04-01", "--json"))
        doc = json.loads(out)
        assert doc["schema"] == "racs.blocks/1"
        assert [b["totalTokens"] for b in doc["blocks"]] == [2_000_000, 1_000_000, 1_000_000]
        assert [b["usd"]["total"] for b in doc["blocks"]] == pytest.approx([6.0, 3.0, 3.0])
        assert not any(b["active"] for b in doc["blocks"])

    def test_active_block_projection_and_warning(self, run: Run, folder: Path) -> None:
        """At 12:00 on 9 Feb the 10:00 block is active with 3 hours left: 2,000,000 +
        33,333.3 x 180 = 8,000,000 tokens, $6.00 + 3 x $6.00 = $24.00; over a limit of
        5,000,000 that is 160% and a warning."""
        code, out, _ = run(
            "blocks",
            *_args(folder, "--utc", "--as-of", "2026-02-09T12:00", "--active"),
            "--token-limit",
            "5000000",
        )
        assert code == 0
        assert "Active block: 2026-02-09 10:00 to 2026-02-09 15:00, 3h 00m left" in out
        assert "  So far: 2,000,000 tokens, $6.0000 (40.0% of the limit)" in out
        assert "  Projected by the end: 8,000,000 tokens, $24.0000 (160.0% of the limit)" in out
        assert "WARNING: the projection exceeds the token limit of 5,000,000 by 3,000,000" in out
        assert "23:00" not in out  # --active: the other blocks stay out

    def test_codex_only_is_not_cut_into_blocks(
        self, run: Run, shared: Callable[[str], Path]
    ) -> None:
        """The Codex rollout's 24 requests are OpenAI's: exit 2, saying why."""
        code, out, err = run("blocks", str(shared("traffic/codex")), "--utc")
        assert (code, out) == (2, "")
        assert "24 requests read, none of them Claude's (openai)" in err

    def test_no_active_block(self, run: Run, folder: Path) -> None:
        """--active when every block has ended says so and exits 0."""
        code, out, _ = run("blocks", *_args(folder, "--utc", "--as-of", "2026-04-01", "--active"))
        assert code == 0
        assert "No active block (the last ended 2026-03-02 13:00)." in out


class TestFindingsHeading:
    def test_the_heading_says_why_fewer_show(self, run: Run, shared: Callable[[str], Path]) -> None:
        """--rows 3 shows 3 of the sample's findings and says so; --top 5 keeps 5 and says
        that; the count is every finding the causes table counts."""
        sample = str(shared("traffic/claude-code"))
        code, out, _ = run("report", sample, "--json", "--no-hindsight")
        found = sum(c["count"] for c in json.loads(out)["causes"])
        assert found > 5
        code, out, _ = run("report", sample, "--utc", "--rows", "3", "--no-hindsight")
        assert code == 0
        assert f"Top findings (3 of {found}; --rows N shows more), most dollars first:" in out
        code, out, _ = run("report", sample, "--utc", "--top", "5", "--no-hindsight")
        heading = f"Top findings (5 of {found}; --top N keeps more than 5), most dollars first:"
        assert heading in out
        code, out, _ = run("report", sample, "--utc", "--rows", "3")
        assert (
            f"Top findings (3 of {found}; --rows N shows more), most savable dollars first:" in out
        )

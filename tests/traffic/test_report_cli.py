"""`racs report` end to end: terminal tables, --json, --html in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from racs.cli import main
from traffic.test_claude_code import S258


class TestTerminal:
    def test_tables_and_findings(
        self, transcripts: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["report", str(transcripts), "--utc"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"Read: {transcripts}\n455 requests in 5 sessions")
        assert "Spend $29.8164" in out  # the five sessions' exact sum, rounded to 4 places
        titles = ("By model:", "By session:", "By day, UTC, each with its models:")
        for title in (*titles, "What the misses cost, by cause:"):
            assert title in out
        assert "unexplained_miss" in out and "do: " in out

    def test_json_is_the_schema(
        self, transcripts: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["report", str(transcripts), "--json", "--session", S258[:8]]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["schema"] == "racs.report/1"
        assert doc["total"]["requests"] == 156
        assert doc["filters"]["session"] == S258[:8]

    def test_bad_input_is_reported_and_the_rest_stands(
        self, tmp_path: Path, transcripts: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"type":"user"}\n{"type":"assistant","message":{"usage":\n')
        assert main(["report", str(transcripts / "short.jsonl"), str(bad)]) == 0
        out = capsys.readouterr().out
        assert "\n1 requests in 1 sessions" in out
        assert "Unreadable input: 1" in out
        assert f"{bad}:2: unreadable line (JSONDecodeError)" in out

    def test_bad_option_exits_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exc:
            main(["report", "--since", "last tuesday"])
        assert exc.value.code == 2


class TestHtml:
    def test_page_renders_with_charts_and_no_console_errors(
        self,
        tmp_path: Path,
        transcripts: Path,
        capsys: pytest.CaptureFixture[str],
        chromium: Any,
    ) -> None:
        """The page opens offline in Chromium; every chart has data; nothing errs."""
        page_file = tmp_path / "report.html"
        assert main(["report", str(transcripts), "--html", str(page_file)]) == 0
        capsys.readouterr()
        html = page_file.read_text()
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "<script" not in html
        page = chromium.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri())
        assert "455 requests" in page.inner_text("#summary")
        # Three days of traffic: hourly buckets, one bar per class and hour.
        bars = page.locator("#chart-spend rect.bar")
        assert bars.count() > 0
        total = sum(float(bars.nth(i).get_attribute("data-usd") or 0) for i in range(bars.count()))
        assert total == pytest.approx(29.8164, abs=1e-4)
        assert page.locator("#chart-hit circle.point").count() > 1
        counts = page.locator("#chart-gaps rect.bar")
        assert (
            sum(int(counts.nth(i).get_attribute("data-count") or 0) for i in range(counts.count()))
            == 455 - 9
        )
        assert page.locator("#chart-gaps line.ttl").count() == 2
        assert page.locator("#chart-sessions rect.bar").count() == 5
        assert page.locator("#chart-causes rect.bar").count() == 4
        box = page.locator("#chart-spend").bounding_box()
        assert box is not None and box["width"] > 600
        assert page.locator("table").first.locator("tbody tr").count() == 5
        assert errors == []
        assert requests == [page_file.as_uri()]


class TestDefaults:
    def test_without_paths_claude_code_then_the_ledger(
        self,
        tmp_path: Path,
        transcripts: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """No path: $CLAUDE_CONFIG_DIR/projects when it exists, else RACS_LEDGER; neither
        is a one-line usage error (exit 2)."""
        monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
        monkeypatch.setenv("RACS_LEDGER", str(tmp_path / "none.db"))
        assert main(["report"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "nothing to read" in err
        ledger = tmp_path / "l.db"
        assert main(["ingest", str(transcripts / "short.jsonl"), "--ledger", str(ledger)]) == 0
        monkeypatch.setenv("RACS_LEDGER", str(ledger))
        capsys.readouterr()
        assert main(["report"]) == 0
        assert f"Read: {ledger}\n1 requests" in capsys.readouterr().out
        projects = tmp_path / "claude" / "projects" / "-home-me-app"
        projects.mkdir(parents=True)
        (projects / "s.jsonl").write_bytes((transcripts / "short.jsonl").read_bytes())
        assert main(["report", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["sources"] == [str(tmp_path / "claude" / "projects")]
        assert doc["total"]["requests"] == 1


class TestUsageErrors:
    @pytest.mark.parametrize("command", ["report", "ingest"])
    def test_a_missing_path_is_one_line_and_exit_2(
        self, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main([command, str(tmp_path / "nope.jsonl")]) == 2
        err = capsys.readouterr().err
        assert err == f"racs: no such file or folder: {tmp_path / 'nope.jsonl'}\n"

    def test_an_unwritable_page_is_one_line_and_exit_2(
        self, tmp_path: Path, transcripts: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        target = tmp_path / "missing-dir" / "r.html"
        assert main(["report", str(transcripts / "short.jsonl"), "--html", str(target)]) == 2
        assert capsys.readouterr().err.startswith(f"racs: cannot write {target}")
        assert not target.exists()


class TestProgress:
    def test_the_bar_counts_bytes_on_a_terminal(self) -> None:
        import io

        from racs.cli.render import ByteProgress

        class Tty(io.StringIO):
            def isatty(self) -> bool:
                return True

        out = Tty()
        bar = ByteProgress(2_000_000, "reading", stream=out, width=10)
        bar(1_000_000)
        bar(1_000_000)
        bar.close()
        assert out.getvalue() == (
            "\r[#####.....] reading  50% 1.0 MB\r[##########] reading 100% 2.0 MB\n"
        )

"""`racs report`, `replay` and `ingest` on odd input (issue 29): nothing hangs, nothing
raises, nothing out of bounds is priced, and the three commands agree on exit codes."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from racs.cli import main
from racs.core.errors import ERR_INVALID_INPUT, RacsError
from racs.providers import anthropic
from racs.traffic.problems import Problems
from racs.traffic.sources import read

T0_S = 1_770_000_000


def _assistant(msg_id: str) -> str:
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": "s1",
            "timestamp": "2026-02-10T21:11:59.186Z",
            "requestId": f"req_{msg_id}",
            "message": {
                "model": "claude-opus-4-6",
                "id": msg_id,
                "role": "assistant",
                "content": [{"type": "text", "text": "hi"}],
                "usage": {"input_tokens": 3, "cache_read_input_tokens": 100, "output_tokens": 7},
            },
        }
    )


def _span(count: Any, span_id: str = "s1") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "t1",
                                "spanId": span_id,
                                "startTimeUnixNano": str(T0_S * 10**9),
                                "attributes": [
                                    {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                                    {
                                        "key": "gen_ai.request.model",
                                        "value": {"stringValue": "gpt-4.1"},
                                    },
                                    {"key": "gen_ai.usage.input_tokens", "value": count},
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }


def _litellm(prompt: Any, start: Any = T0_S, provider: Any = "openai", rid: str = "r1") -> str:
    row = {
        "id": rid,
        "call_type": "completion",
        "response_cost": 0.01,
        "model": "gpt-4.1",
        "custom_llm_provider": provider,
        "prompt_tokens": prompt,
        "completion_tokens": 5,
        "startTime": start,
        "trace_id": f"trace-{rid}",
    }
    return json.dumps(row)


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A folder with one readable Claude Code session."""
    folder = tmp_path / "projects"
    folder.mkdir()
    (folder / "s1.jsonl").write_text(_assistant("m1") + "\n")
    return folder


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


COMMANDS = ("report", "replay", "ingest")


def _argv(command: str, folder: Path, tmp_path: Path) -> list[str]:
    if command == "ingest":
        return ["ingest", str(folder), "--ledger", str(tmp_path / "ledger.db")]
    return [command, str(folder), "--wide"]  # the temporary paths are long: no wrapping


class TestOddFiles:
    @pytest.mark.timeout(60)
    @pytest.mark.parametrize("command", COMMANDS)
    def test_a_fifo_is_skipped_and_named(
        self, command: str, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A FIFO named *.jsonl used to hang all three commands forever."""
        os.mkfifo(good / "pipe.jsonl")
        code, out, err = _run(_argv(command, good, tmp_path), capsys)
        assert code == 0
        assert f"{good / 'pipe.jsonl'}: not a regular file (skipped)" in out + err

    @pytest.mark.parametrize("command", COMMANDS)
    def test_a_symlink_loop_is_skipped_and_named(
        self, command: str, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A link loop used to abort the run with exit 2 and no report."""
        (good / "loop.jsonl").symlink_to(good / "loop.jsonl")
        (good / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")
        code, out, err = _run(_argv(command, good, tmp_path), capsys)
        assert code == 0
        assert f"{good / 'loop.jsonl'}: unreadable: Too many levels of symbolic links" in out + err
        assert f"{good / 'dangling.jsonl'}: unreadable: No such file or directory" in out + err

    @pytest.mark.parametrize("command", COMMANDS)
    def test_an_unreadable_file_is_skipped_and_named(
        self, command: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """chmod 000 used to abort the run with exit 2. Root reads any file, so as root the
        command runs in a forked child that drops to nobody (after a first run has loaded
        every module it needs: the interpreter's own files may be out of nobody's reach)."""
        work = Path(tempfile.mkdtemp(prefix="racs-unreadable-"))
        try:
            work.chmod(0o777)
            folder = work / "projects"
            folder.mkdir()
            (folder / "s1.jsonl").write_text(_assistant("m1") + "\n")
            for p in (folder, folder / "s1.jsonl"):
                p.chmod(0o777)
            assert main(_argv(command, folder, work / "warm")) == 0  # loads what it needs
            capsys.readouterr()
            secret = folder / "secret.jsonl"
            secret.write_text(_assistant("m2") + "\n")
            secret.chmod(0o000)
            code, text = _as_unprivileged(_argv(command, folder, work), work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        assert code == 0, text
        assert f"{secret}: unreadable: Permission denied" in text


def _as_unprivileged(argv: list[str], work: Path) -> tuple[int, str]:
    """Run the command in a child process as nobody when root (as this user otherwise);
    its exit code and everything it printed."""
    out = work / "out.txt"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = os.fdopen(1, "w", closefd=False)
            sys.stderr = sys.stdout
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            code = main(argv)
            sys.stdout.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.read_text()


class TestNothingReadable:
    @pytest.mark.parametrize("command", COMMANDS)
    def test_exit_2_and_the_problems_named(
        self, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Nothing readable: exit 2 in all three commands, with the reason on stderr."""
        folder = tmp_path / "junk"
        folder.mkdir()
        (folder / "bad.jsonl").write_text(
            '{"type":"user","sessionId":"s1"}\n{"type":"assistant","message":{"model":"m"\n'
        )
        code, _, err = _run(_argv(command, folder, tmp_path), capsys)
        assert code == 2
        assert f"no requests with usage found in {folder}" in err
        assert f"{folder / 'bad.jsonl'}:2: unreadable line (JSONDecodeError)" in err


class TestNoTraceback:
    def test_spans_that_are_not_a_list(self, tmp_path: Path) -> None:
        """``"spans": 5`` used to raise TypeError; it is named and the rest read."""
        f = tmp_path / "spans.jsonl"
        bad = {"resourceSpans": [{"scopeSpans": [{"spans": 5}]}]}
        f.write_text(json.dumps(bad) + "\n" + json.dumps(_span({"intValue": "100"})) + "\n")
        problems = Problems()
        requests = list(read([f], problems))
        assert len(requests) == 1
        assert problems.by_reason == {"spans is not a list": 1}

    def test_a_start_time_of_1e308(self, tmp_path: Path) -> None:
        """A LiteLLM startTime of 1e308 used to raise OverflowError."""
        f = tmp_path / "litellm.jsonl"
        f.write_text(_litellm(100, start=1e308) + "\n" + _litellm(100, rid="r2") + "\n")
        problems = Problems()
        assert len(list(read([f], problems))) == 1
        assert problems.by_reason == {"startTime missing or out of range": 1}

    @pytest.mark.parametrize("depth", [500, 1000])
    def test_a_deeply_nested_exchange(self, tmp_path: Path, depth: int) -> None:
        """A raw exchange nested 500-1,000 levels used to raise RecursionError."""
        nested = '{"a":' * depth + '"x"' + "}" * depth  # json.dumps itself would overflow
        exchange = (
            f'{{"timestamp": {T0_S}, "request": {{"model": "claude-sonnet-4-5", "messages": '
            f'[{{"role": "user", "content": [{nested}]}}]}}, '
            '"response": {"type": "message", "usage": {"input_tokens": 5}}}'
        )
        f = tmp_path / "ex.jsonl"
        f.write_text(exchange + "\n")
        problems = Problems()
        assert list(read([f], problems)) == []
        assert problems.by_reason == {"nested more than 200 levels deep": 1}

    def test_the_live_adapter_refuses_deep_nesting(self) -> None:
        """``segments_from`` used to overflow Python's stack at about 600 levels."""
        nested: Any = "x"
        for _ in range(1000):
            nested = [nested]
        request = {"model": "m", "messages": [{"role": "user", "content": nested}]}
        with pytest.raises(RacsError) as exc:
            anthropic.segments_from(request)
        assert exc.value.code == ERR_INVALID_INPUT


class TestOutOfBounds:
    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ({"intValue": str(10**12)}, "is out of bounds (over 4,294,967,295)"),
            ({"intValue": str(2**64)}, "is out of bounds (over 4,294,967,295)"),
            ({"doubleValue": 1e308}, "is out of bounds (over 4,294,967,295)"),
            ({"doubleValue": "Infinity"}, "is not an integer"),
            ({"doubleValue": math.inf}, "is not finite"),
        ],
    )
    def test_otlp_counts_are_refused_and_named_never_priced(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        value: dict[str, Any],
        reason: str,
    ) -> None:
        """1e12, 2**64, 1e308 and Infinity used to give $6,000,000, a 300-digit figure or
        $inf, and --json wrote Infinity."""
        f = tmp_path / "spans.jsonl"
        lines = [json.dumps(_span(value, "bad")), json.dumps(_span({"intValue": "1000"}))]
        f.write_text("\n".join(lines) + "\n")
        code, out, _ = _run(["report", str(f), "--json", "--no-hindsight"], capsys)
        assert code == 0
        assert "Infinity" not in out and "NaN" not in out
        doc = json.loads(out)
        assert doc["total"]["requests"] == 1
        assert doc["total"]["tokens"]["input"] == 1000
        assert doc["problems"]["byReason"] == {f"gen_ai.usage.input_tokens {reason}": 1}
        assert doc["problems"]["examples"][0]["where"] == f"{f}:1"

    @pytest.mark.parametrize(
        ("prompt", "reason"),
        [
            (-5, "prompt_tokens is negative"),
            (float("nan"), "prompt_tokens is not finite"),
            (10**12, "prompt_tokens is out of bounds (over 4,294,967,295)"),
        ],
    )
    def test_litellm_prompt_tokens_are_refused_not_replaced(
        self, tmp_path: Path, prompt: Any, reason: str
    ) -> None:
        f = tmp_path / "litellm.jsonl"
        f.write_text(_litellm(prompt) + "\n" + _litellm(100, rid="r2") + "\n")
        problems = Problems()
        [r] = list(read([f], problems))
        assert r.request_id == "r2"
        assert problems.by_reason == {reason: 1}

    def test_a_claude_code_line_cut_before_its_usage_is_counted(self, tmp_path: Path) -> None:
        line = _assistant("m2")
        f = tmp_path / "s1.jsonl"
        f.write_text(_assistant("m1") + "\n" + line[: line.index('"usage"')] + "\n")
        problems = Problems()
        assert len(list(read([f], problems))) == 1
        assert problems.by_reason == {"unreadable line (JSONDecodeError)": 1}
        assert problems.examples[0].where == f"{f}:2"


class TestReplayRest:
    def test_a_stream_that_cannot_be_replayed_is_named_and_the_rest_replayed(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A LiteLLM row without custom_llm_provider but with cache writes used to abort
        replay ("this provider offers auto")."""
        unknown = json.loads(_litellm(1000, provider=None, rid="r1"))
        unknown["metadata"] = {
            "usage_object": {"prompt_tokens": 1000, "cache_creation_input_tokens": 800}
        }
        f = tmp_path / "litellm.jsonl"
        f.write_text(json.dumps(unknown) + "\n" + _litellm(2000, rid="r2") + "\n")
        code, out, _ = _run(["replay", str(f), "--wide"], capsys)
        assert code == 0
        assert out.startswith("racs replay: 1 requests in 1 streams")
        assert f"e.g. {f}:1: stream not replayed: strategy 'recorded' chose tier" in out

    def test_unreadable_lines_are_named(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        f = tmp_path / "s1.jsonl"
        f.write_text(_assistant("m1") + '\n{"type":"assistant",\n')
        code, out, _ = _run(["replay", str(f), "--wide"], capsys)
        assert code == 0
        assert f"e.g. {f}:2: unreadable line (JSONDecodeError)" in out


@pytest.fixture(autouse=True)
def _no_default_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep every command away from the user's own folders."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("CODEX_HOME", raising=False)
    yield

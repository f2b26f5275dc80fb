"""The Claude Code importer on real transcripts and on broken input."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racs.core.accounting import Tokens
from racs.traffic.claude_code import discover
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.sources import read

S258 = "258c7280-ae70-4798-800f-63464d01a85d"
S6AD = "6adcf0da-e8ac-4760-8026-66fb75b5ee45"
SFA8 = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"
SSUB = "491e126e-1e71-469c-ade2-fcc8af567c74"  # subagent.jsonl
SSHORT = "55604662-cf2a-4331-851a-ec234028f8ca"  # short.jsonl

# Computed independently with jq over the raw lines: assistant lines plus agent_progress
# echoes, grouped on [message.id, requestId], usage of the first line, max output_tokens:
#   jq -c 'if .type=="assistant" and .message.usage then {k:[.message.id,.requestId],
#   u:.message.usage} elif .type=="progress" and .data.type=="agent_progress" and
#   .data.message.message.usage then {k:[...], u:...} else empty end' X.jsonl X/subagents/*
#   | jq -s 'group_by(.k) | map(...) | add'
# (requests, fresh, read, 5m writes, 1h writes, output)
EXPECTED = {
    S258: (156, 198, 14_972_534, 0, 394_137, 38_908),
    S6AD: (103, 119, 9_243_229, 211_249, 0, 17_345),
    SFA8: (178, 1_627, 16_175_673, 360_809, 0, 36_307),
    SSUB: (17, 1_600, 522_629, 0, 40_127, 1_593),
    SSHORT: (1, 3, 11_515, 0, 13_835, 13),
}


def _read(*paths: Path | str) -> tuple[list[Request], Problems]:
    problems = Problems()
    return list(read(list(paths), problems)), problems


def _totals(requests: list[Request]) -> dict[str, tuple[int, ...]]:
    sums: dict[str, Tokens] = {}
    counts: Counter[str] = Counter()
    for r in requests:
        sums[r.session] = sums.get(r.session, Tokens()) + r.tokens
        counts[r.session] += 1
    return {
        s: (counts[s], *(int(v) for v in (t.fresh, t.read, t.write_5m, t.write_1h, t.output)))
        for s, t in sums.items()
    }


class TestRealTranscripts:
    def test_per_session_totals_equal_the_deduplicated_usage(self, transcripts: Path) -> None:
        """Every session's request count and token classes match the jq computation."""
        requests, problems = _read(transcripts)
        assert not problems, problems.to_dict()
        assert _totals(requests) == EXPECTED

    def test_streams_and_kinds(self, transcripts: Path) -> None:
        """Subagents are streams of their own; compactions join the main conversation."""
        requests, _ = _read(transcripts / f"{S258}.jsonl")
        kinds = Counter((r.kind, r.stream, r.model) for r in requests)
        assert kinds == {
            ("main", S258, "claude-opus-4-6"): 152,
            ("compaction", S258, "claude-opus-4-6"): 1,
            ("subagent", f"{S258}/agent-a881341", "claude-sonnet-4-5-20250929"): 3,
        }
        compaction = next(r for r in requests if r.kind == "compaction")
        # It reads the main conversation's 166,758 cached tokens just before the boundary.
        assert compaction.tokens.read == 166_758
        assert compaction.agent == "acompact-fffbd0"

    def test_progress_echoes_stand_in_for_a_missing_subagent_file(self, transcripts: Path) -> None:
        """subagent.jsonl has no subagents folder: its 5 echoed responses still count."""
        requests, _ = _read(transcripts / "subagent.jsonl")
        streams = Counter(r.stream for r in requests)
        assert streams == {SSUB: 12, f"{SSUB}/agent-afb92ff": 5}

    def test_largest_output_per_response_and_time_order(self, transcripts: Path) -> None:
        """short.jsonl: one response written as several lines is one request."""
        requests, _ = _read(transcripts / "short.jsonl")
        assert len(requests) == 1
        assert requests[0].tokens == Tokens(3, 11_515, 0, 0, 13_835, 13)
        assert requests[0].request_id == "req_011CY15QS2LGwAeBxdfa6e1V"
        assert requests[0].source.endswith("short.jsonl:5")
        everything, _ = _read(transcripts)
        for session in EXPECTED:
            stamps = [r.timestamp_ms for r in everything if r.session == session]
            assert stamps == sorted(stamps)

    def test_discover_groups_subagents_with_their_session(self, transcripts: Path) -> None:
        groups = {
            g.main.name if g.main else None: len(g.subagents) for g in discover([transcripts])
        }
        assert groups == {
            f"{S258}.jsonl": 2,
            f"{S6AD}.jsonl": 0,
            f"{SFA8}.jsonl": 3,
            "short.jsonl": 0,
            "subagent.jsonl": 0,
        }

    def test_no_prompt_text_is_kept(self, transcripts: Path) -> None:
        """The records hold numbers and identifiers only."""
        requests, _ = _read(transcripts / "short.jsonl")
        assert "phx.server" not in repr(requests)


def _assistant(msg_id: str, usage: object, ts: str = "2026-02-10T21:11:59.186Z") -> str:
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": "s1",
            "timestamp": ts,
            "requestId": f"req_{msg_id}",
            "message": {"model": "claude-opus-4-6", "id": msg_id, "usage": usage},
        }
    )


GOOD = {
    "input_tokens": 3,
    "cache_read_input_tokens": 100,
    "output_tokens": 7,
    "cache_creation_input_tokens": 50,
    "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30},
}


class TestBadInput:
    def test_bad_lines_are_counted_and_named_and_the_rest_stands(self, tmp_path: Path) -> None:
        lines = [
            _assistant("m1", GOOD),
            _assistant("m2", GOOD)[:-20],  # truncated mid-usage
            _assistant("m3", {**GOOD, "input_tokens": "3"}),
            _assistant("m4", {**GOOD, "cache_read_input_tokens": -1}),
            _assistant("m5", {**GOOD, "output_tokens": 10**12}),
            _assistant("m6", {**GOOD, "cache_creation_input_tokens": 51}),
            _assistant("m7", GOOD, ts="yesterday"),
            _assistant("m8", "lots"),
            '[1, 2, "assistant"]',
            _assistant("m9", GOOD),
        ]
        f = tmp_path / "s1.jsonl"
        f.write_text("\n".join(lines) + "\n")
        requests, problems = _read(f)
        assert [r.request_id for r in requests] == ["req_m1", "req_m9"]
        assert requests[0].tokens == Tokens(3, 100, 20, 0, 30, 7)
        assert problems.by_reason == {
            "unreadable line (JSONDecodeError)": 1,
            "usage.input_tokens is not an integer": 1,
            "usage.cache_read_input_tokens is negative": 1,
            "usage.output_tokens is out of bounds (over 4,294,967,295)": 1,
            "usage.cache_creation does not add up to its total (50 of 51)": 1,
            "timestamp missing, not ISO-8601 or out of range": 1,
            "usage is not an object": 1,
            "not a JSON object": 1,
        }
        assert [p.where for p in problems.examples][:2] == [f"{f}:2", f"{f}:3"]

    def test_binary_file_is_skipped_and_counted(self, tmp_path: Path) -> None:
        f = tmp_path / "b.jsonl"
        f.write_bytes(b"\x7fELF\x00\x01\x02" + bytes(range(256)) * 10)
        good = tmp_path / "s1.jsonl"
        good.write_text(_assistant("m1", GOOD) + "\n")
        requests, problems = _read(f, good)
        assert len(requests) == 1
        assert problems.by_reason == {"binary file skipped": 1}

    def test_a_200_mb_line_is_streamed_skipped_and_counted(self, tmp_path: Path) -> None:
        """The long line is drained in chunks (never held whole); the next line is read."""
        f = tmp_path / "s1.jsonl"
        chunk = b'{"usage": "' + b"x" * (1 << 20)
        with f.open("wb") as out:
            for _ in range(200):
                out.write(chunk)
            out.write(b'"}\n' + _assistant("m1", GOOD).encode() + b"\n")
        requests, problems = _read(f)
        assert [r.request_id for r in requests] == ["req_m1"]
        assert problems.by_reason == {"line longer than 33554432 bytes skipped": 1}
        assert problems.examples[0].where == f"{f}:1"

    def test_a_missing_path_is_a_problem(self, tmp_path: Path) -> None:
        requests, problems = _read(tmp_path / "nope")
        assert requests == []
        assert problems.by_reason == {"no such file or folder": 1}

    @settings(
        max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        data=st.binary(max_size=2000),
        cut=st.integers(0, 400),
        noise=st.binary(max_size=40),
    )
    def test_never_crashes_on_arbitrary_bytes(
        self, tmp_path: Path, data: bytes, cut: int, noise: bytes
    ) -> None:
        """Random bytes, and valid usage lines with random bytes spliced in, yield
        requests or problems, never an exception."""
        line = _assistant("m1", GOOD).encode()
        spliced = line[:cut] + noise + line[cut + len(noise) :]
        f = tmp_path / "fuzz.jsonl"
        f.write_bytes(data + b"\n" + spliced + b"\n" + data.replace(b"\0", b""))
        requests, problems = _read(f)
        assert all(isinstance(r, Request) for r in requests)
        assert len(requests) + problems.total >= 0

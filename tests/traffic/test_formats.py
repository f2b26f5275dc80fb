"""OTLP JSON spans, LiteLLM logs and raw exchanges: recognised, read, priced by cause."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racs.core.accounting import Tokens
from racs.core.prices import PriceBook
from racs.report.build import build_report
from racs.traffic.model import Request
from racs.traffic.problems import Problems
from racs.traffic.sources import format_of, read

T0_S = 1_770_000_000  # 2026-02-02T02:40:00Z
T0_NS = T0_S * 1_000_000_000


def _jsonl(path: Path, *records: Any) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _read(*paths: Path) -> tuple[list[Request], Problems]:
    problems = Problems()
    return list(read(list(paths), problems)), problems


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"key": key, "value": {"stringValue": value}}
    return {"key": key, "value": {"intValue": str(value)}}  # OTLP/JSON: int64 as string


class TestOtlp:
    def test_current_attribute_names_in_an_otlp_export(self, tmp_path: Path) -> None:
        """Input is all-in under the current names: 10,000 = 9,000 read + 600 written + 400."""
        span = {
            "traceId": "t1",
            "spanId": "s1",
            "name": "chat claude-sonnet-4-5",
            "startTimeUnixNano": str(T0_NS),
            "attributes": [
                _attr("gen_ai.provider.name", "anthropic"),
                _attr("gen_ai.request.model", "claude-sonnet-4-5"),
                _attr("gen_ai.usage.input_tokens", 10_000),
                _attr("gen_ai.usage.cache_read.input_tokens", 9_000),
                _attr("gen_ai.usage.cache_creation.input_tokens", 600),
                _attr("gen_ai.usage.output_tokens", 250),
                _attr("gen_ai.conversation.id", "conv-1"),
                _attr("gen_ai.agent.name", "planner"),
            ],
        }
        http = {
            "traceId": "t1",
            "spanId": "s2",
            "startTimeUnixNano": str(T0_NS),
            "attributes": [_attr("http.method", "POST")],
        }
        export = {
            "resourceSpans": [
                {
                    "resource": {"attributes": [_attr("service.name", "support-bot")]},
                    "scopeSpans": [{"scope": {"name": "x"}, "spans": [span, http]}],
                }
            ]
        }
        f = _jsonl(tmp_path / "spans.jsonl", export)
        assert format_of(f) == "otlp"
        [r], problems = _read(f)
        assert not problems
        assert r.tokens == Tokens(400, 9_000, 600, 0, 0, 250)
        assert (r.session, r.stream, r.agent, r.project) == (
            "conv-1",
            "conv-1/planner",
            "planner",
            "support-bot",
        )
        assert r.timestamp_ms == T0_S * 1000

    def test_older_names_in_the_sdk_console_json(self, tmp_path: Path) -> None:
        """OpenLLMetry's Anthropic prompt count excludes the cache: 100 + 2,000 + 300."""
        span = {
            "name": "anthropic.chat",
            "context": {"trace_id": "0xabc", "span_id": "0x1"},
            "start_time": "2026-02-02T02:40:00.000000Z",
            "attributes": {
                "gen_ai.system": "Anthropic",
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.usage.prompt_tokens": 100,
                "gen_ai.usage.cache_read_input_tokens": 2_000,
                "gen_ai.usage.cache_creation_input_tokens": 300,
                "gen_ai.usage.completion_tokens": 40,
            },
        }
        f = _jsonl(tmp_path / "console.jsonl", span)
        [r], _ = _read(f)
        assert r.tokens == Tokens(100, 2_000, 300, 0, 0, 40)
        assert r.session == "0xabc"


class TestLiteLLM:
    def test_standard_logging_payload(self, tmp_path: Path) -> None:
        """prompt_tokens is all-in: 2,300 = 2,000 read + 200 written + 100 fresh."""
        payload = {
            "id": "chatcmpl-1",
            "call_type": "acompletion",
            "response_cost": 0.01,
            "model": "claude-sonnet-4-5",
            "custom_llm_provider": "anthropic",
            "prompt_tokens": 2_300,
            "completion_tokens": 50,
            "startTime": T0_S + 0.5,
            "trace_id": "trace-1",
            "metadata": {
                "usage_object": {
                    "prompt_tokens": 2_300,
                    "completion_tokens": 50,
                    "cache_read_input_tokens": 2_000,
                    "cache_creation_input_tokens": 200,
                }
            },
        }
        cached = {**payload, "id": "chatcmpl-2", "cache_hit": True}
        f = _jsonl(
            tmp_path / "litellm.jsonl", payload, cached, {"call_type": "x", "response_cost": 0}
        )
        assert format_of(f) == "litellm"
        [r], problems = _read(f)
        assert r.tokens == Tokens(100, 2_000, 200, 0, 0, 50)
        assert (r.provider, r.session, r.request_id) == ("anthropic", "trace-1", "chatcmpl-1")
        assert r.timestamp_ms == T0_S * 1000 + 500
        assert problems.by_reason == {"prompt_tokens is missing": 1}

    def test_spend_logs_csv(self, tmp_path: Path) -> None:
        """OpenAI: 5,000 prompt tokens of which 3,072 cached; metadata is a JSON string."""
        f = tmp_path / "spend.csv"
        meta = json.dumps(
            {"additional_usage_values": {"prompt_tokens_details": {"cached_tokens": 3_072}}}
        ).replace('"', '""')  # quoted as a CSV field
        f.write_text(
            "request_id,startTime,model,custom_llm_provider,prompt_tokens,completion_tokens,"
            "spend,session_id,metadata\n"
            f'r1,2026-02-02T02:40:00Z,gpt-4o,openai,5000,20,0.01,s1,"{meta}"\n'
            "r2,2026-02-02T02:41:00Z,gpt-4o,openai,lots,20,0.01,s1,{}\n"
        )
        assert format_of(f) == "litellm"
        [r], problems = _read(f)
        assert r.tokens == Tokens(1_928, 3_072, 0, 0, 0, 20)
        assert (r.session, r.request_id) == ("s1", "r1")
        assert [p.where for p in problems.examples] == [f"{f}:3"]

    def test_spend_logs_json_array(self, tmp_path: Path) -> None:
        rows = [
            {
                "request_id": "r1",
                "spend": 0.1,
                "startTime": "2026-02-02T02:40:00Z",
                "model": "gpt-4o",
                "custom_llm_provider": "openai",
                "prompt_tokens": 10,
                "completion_tokens": 1,
                "metadata": {},
            }
        ]
        f = tmp_path / "spend.json"
        f.write_text(json.dumps(rows))
        [r], _ = _read(f)
        assert r.tokens == Tokens(10, 0, 0, 0, 0, 1)


def _anthropic(system: str, read: int, write: int, minute: int) -> dict[str, Any]:
    return {
        "timestamp": (T0_S + 60 * minute) * 1000,
        "session": "chat-1",
        "request": {
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "tools": [{"name": "search", "input_schema": {"type": "object"}}],
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hello"}],
        },
        "response": {
            "id": f"msg_{minute}",
            "type": "message",
            "model": "claude-sonnet-4-5",
            "usage": {
                "input_tokens": 5,
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": write,
                "output_tokens": 9,
            },
        },
    }


class TestExchanges:
    def test_drift_is_named_where_the_structure_is_known(
        self, tmp_path: Path, prices: PriceBook
    ) -> None:
        """The system prompt changed a minute later: block 1 drifted inside the 3,000
        cached tokens; 3,000 written again at $3.75 instead of read at $0.30."""
        f = _jsonl(
            tmp_path / "exchanges.jsonl",
            _anthropic("You are helpful. Today is Monday.", 0, 3_000, 0),
            _anthropic("You are helpful. Today is Tuesday.", 0, 3_000, 1),
        )
        assert format_of(f) == "exchanges"
        requests, problems = _read(f)
        assert not problems
        assert [r.tokens for r in requests] == [Tokens(5, 0, 3_000, 0, 0, 9)] * 2
        first, second = requests
        assert first.blocks is not None and second.blocks is not None
        assert [b.digest == c.digest for b, c in zip(first.blocks, second.blocks, strict=True)] == [
            True,
            False,
            True,
        ]
        assert first.blocks[1].marker == "5m"
        report = build_report(iter(requests), prices, problems)
        drift = [x for x in report.findings if x.cause == "drift"]
        assert len(drift) == 1
        assert "block 1 changed" in drift[0].detail
        # new suffix 3,005 - 3,000 cached = 5, so 3,005 - 5 = 3,000 excess tokens.
        assert drift[0].excess_tokens == 3_000
        assert drift[0].usd == pytest.approx(3_000 * (3.75 - 0.30) / 1e6)

    def test_openai_chat_and_unknown_shapes(self, tmp_path: Path) -> None:
        chat = {
            "timestamp": "2026-02-02T02:40:00Z",
            "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            "response": {
                "object": "chat.completion",
                "model": "gpt-4o",
                "usage": {
                    "prompt_tokens": 4_000,
                    "completion_tokens": 7,
                    "prompt_tokens_details": {"cached_tokens": 2_560},
                },
            },
        }
        odd = {"request": {"foo": 1}, "response": {"bar": 2}}
        f = _jsonl(tmp_path / "ex.jsonl", chat, odd, [1, 2])
        [r], problems = _read(f)
        assert (r.provider, r.tokens) == ("openai", Tokens(1_440, 2_560, 0, 0, 0, 7))
        assert r.session == "ex" and r.blocks is not None
        assert problems.by_reason == {
            "unknown API (add an 'api' field)": 1,
            "not a {request, response} object": 1,
        }


class TestDetection:
    def test_unknown_and_binary_files_are_named(self, tmp_path: Path) -> None:
        _jsonl(tmp_path / "notes.jsonl", {"hello": "world"})
        (tmp_path / "blob.json").write_bytes(b"\x00\x01\x02")
        requests, problems = _read(tmp_path)
        assert requests == []
        assert problems.by_reason == {"format not recognised": 1, "binary file skipped": 1}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "model",
        "usage",
        "messages",
        "input",
        "contents",
        "system",
        "tools",
        "timestamp",
        "prompt_tokens",
        "completion_tokens",
        "metadata",
        "usage_object",
        "startTime",
        "attributes",
        "spans",
        "scopeSpans",
        "resourceSpans",
        "startTimeUnixNano",
        "cache_hit",
        "input_tokens",
        "cache_read_input_tokens",
        "usageMetadata",
        "object",
        "type",
        "value",
    ]
)
_shaped = st.recursive(
    _json,
    lambda inner: st.dictionaries(_keys, inner, max_size=5) | st.lists(inner, max_size=3),
    max_leaves=20,
)


class TestNeverCrashes:
    @settings(
        max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        kind=st.sampled_from(["exchange", "otlp", "litellm", "spend"]),
        body=st.dictionaries(_keys, _shaped, max_size=6),
        other=st.dictionaries(_keys, _shaped, max_size=6),
    )
    def test_arbitrary_records_yield_requests_or_problems(
        self, tmp_path: Path, kind: str, body: dict[str, Any], other: dict[str, Any]
    ) -> None:
        """Records shaped like each format, with arbitrary values anywhere."""
        if kind == "exchange":
            record: dict[str, Any] = {"request": body, "response": other, "timestamp": 1}
        elif kind == "otlp":
            record = {"resourceSpans": [{"scopeSpans": [{"spans": [body, other]}]}]}
        elif kind == "litellm":
            record = {**body, "call_type": "x", "response_cost": 0, "metadata": other}
        else:
            record = {**body, "request_id": "r", "spend": 0, "metadata": json.dumps(other)}
        f = tmp_path / "fuzz.jsonl"
        f.write_text(json.dumps(record) + "\n")
        requests, problems = _read(f)
        for r in requests:
            assert r.tokens.input >= 0 and r.tokens.output >= 0
        assert len(requests) + problems.total <= 2 or kind == "otlp"

"""Test helpers shipped to users: a settable clock, canned provider responses and a local
stub server.

The stub speaks just enough of the Anthropic, OpenAI, Gemini and Bedrock HTTP APIs for the
official SDKs to complete a call against it, streamed or not (server-sent events, and
AWS's binary event stream for ``converse_stream``), answering with recorded-shape
responses that carry cache usage (and lists the Gemini cached contents created, for a
``GET .../cachedContents``). It records every request body and refuses (HTTP 400, like the real
APIs) a body with more than four cache markers or with both ``prompt_cache_options`` and
``prompt_cache_retention``, so a test sees exactly what a provider would have rejected::

    with StubServer() as stub:
        client = anthropic.Anthropic(base_url=stub.url, api_key="test")
        ...
        assert stub.requests[-1].body["system"][-1]["cache_control"]
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import unquote

MAX_MARKERS: Final = 4
_CACHED_CONTENTS: Final = re.compile(r"[/:]cachedContents$")
_MARKER_KEYS: Final = ("cache_control", "cachePoint", "prompt_cache_breakpoint")

ANTHROPIC_USAGE: Final[Mapping[str, Any]] = {
    "input_tokens": 12,
    "output_tokens": 5,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 300,
    "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
}
OPENAI_CHAT_USAGE: Final[Mapping[str, Any]] = {
    "prompt_tokens": 2048,
    "completion_tokens": 5,
    "total_tokens": 2053,
    "prompt_tokens_details": {"cached_tokens": 1920},
}
OPENAI_RESPONSES_USAGE: Final[Mapping[str, Any]] = {
    "input_tokens": 2048,
    "output_tokens": 5,
    "total_tokens": 2053,
    "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 512},
    "output_tokens_details": {"reasoning_tokens": 0},
}
GEMINI_USAGE: Final[Mapping[str, Any]] = {
    "promptTokenCount": 5000,
    "cachedContentTokenCount": 4096,
    "candidatesTokenCount": 5,
    "totalTokenCount": 5005,
}
BEDROCK_USAGE: Final[Mapping[str, Any]] = {
    "inputTokens": 12,
    "outputTokens": 5,
    "totalTokens": 2317,
    "cacheReadInputTokens": 2000,
    "cacheWriteInputTokens": 300,
    "cacheDetails": [{"ttl": "5m", "inputTokens": 100}, {"ttl": "1h", "inputTokens": 200}],
}


class FakeClock:
    """A settable clock for ``create_racs(clock=...)`` and ``create_ledger(clock=...)``.

    ``now`` is milliseconds since the epoch; each reading then adds ``step`` (0: time
    stands still until ``advance``).
    """

    def __init__(self, now: int = 1_700_000_000_000, step: int = 0) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> int:
        value = self.now
        self.now += self.step
        return value

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += int(seconds * 1000)


def anthropic_message(model: str = "claude-sonnet-4-5", usage: Any = None) -> dict[str, Any]:
    """A recorded-shape Anthropic Messages response."""
    return {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": dict(ANTHROPIC_USAGE if usage is None else usage),
    }


def anthropic_stream(model: str = "claude-sonnet-4-5", usage: Any = None) -> list[dict[str, Any]]:
    """The events of a streamed Anthropic response (cache counts in ``message_start``)."""
    message = anthropic_message(model, usage)
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    return [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]


def openai_chat_completion(model: str = "gpt-4o", usage: Any = None) -> dict[str, Any]:
    """A recorded-shape Chat Completions response."""
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": dict(OPENAI_CHAT_USAGE if usage is None else usage),
    }


def openai_chat_chunks(model: str = "gpt-4o", usage: Any = None) -> list[dict[str, Any]]:
    """The chunks of a streamed Chat Completion with ``include_usage`` (usage comes last)."""
    base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 1, "model": model}
    return [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": dict(OPENAI_CHAT_USAGE if usage is None else usage)},
    ]


def openai_response(model: str = "gpt-5.6", usage: Any = None) -> dict[str, Any]:
    """A recorded-shape Responses API response."""
    return {
        "id": "resp_stub",
        "object": "response",
        "created_at": 1_760_000_000,
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_stub",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": dict(OPENAI_RESPONSES_USAGE if usage is None else usage),
    }


def gemini_response(model: str = "gemini-2.5-flash", usage: Any = None) -> dict[str, Any]:
    """A recorded-shape Gemini generateContent response (REST camelCase)."""
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": dict(GEMINI_USAGE if usage is None else usage),
        "modelVersion": model,
    }


def gemini_chunks(model: str = "gemini-2.5-flash", usage: Any = None) -> list[dict[str, Any]]:
    """The chunks of a streamed Gemini response: running counts first, the full usage last."""
    full = dict(GEMINI_USAGE if usage is None else usage)
    partial = {"promptTokenCount": full.get("promptTokenCount", 0)}
    first = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "o"}]}}],
        "usageMetadata": partial,
        "modelVersion": model,
    }
    last = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "k"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": full,
        "modelVersion": model,
    }
    return [first, last]


def bedrock_converse(usage: Any = None) -> dict[str, Any]:
    """A recorded-shape Bedrock Converse response."""
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": dict(BEDROCK_USAGE if usage is None else usage),
        "metrics": {"latencyMs": 12},
    }


def bedrock_stream_events(usage: Any = None) -> list[dict[str, Any]]:
    """The events of a Bedrock ConverseStream response (usage in the last, ``metadata``)."""
    return [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "ok"}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {
            "metadata": {
                "usage": dict(BEDROCK_USAGE if usage is None else usage),
                "metrics": {"latencyMs": 12},
            }
        },
    ]


def _eventstream_message(event_type: str, payload: Any) -> bytes:
    """One message of AWS's binary event stream: prelude, string headers, JSON payload, CRCs."""
    headers = b""
    for name, value in (
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ):
        raw = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07" + len(raw).to_bytes(2, "big") + raw
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = total.to_bytes(4, "big") + len(headers).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + headers + body
    return message + zlib.crc32(message).to_bytes(4, "big")


def count_markers(body: Any) -> int:
    """Cache markers in a request body: ``cache_control``, ``cachePoint`` and
    ``prompt_cache_breakpoint`` wherever they sit (top-level automatic one included)."""
    if isinstance(body, Mapping):
        own = sum(1 for k in _MARKER_KEYS if k in body)
        return own + sum(count_markers(v) for v in body.values())
    if isinstance(body, list):
        return sum(count_markers(v) for v in body)
    return 0


@dataclass
class Received:
    """One request the stub received."""

    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class StubServer:
    """A local HTTP server answering like the provider APIs (see the module docstring)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[Received] = []
        self.usage: dict[str, Any] = {}
        """Per-API usage overrides: keys ``anthropic``, ``chat``, ``responses``,
        ``gemini``, ``bedrock``."""
        self.fail_next: int | None = None
        """Answer the next request with this HTTP status (then reset)."""
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StubServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bodies(self, path_part: str) -> list[Any]:
        """Bodies of the received requests whose path contains ``path_part``."""
        return [r.body for r in self.requests if path_part in r.path]

    def receive(self, received: Received) -> tuple[int, Any, str]:
        """Log one request and answer it: (status, payload, kind), one request at a time."""
        with self._lock:
            self.requests.append(received)
            return self._answer(received)

    def _answer(self, received: Received) -> tuple[int, Any, str]:
        """(status, payload, kind) with kind ``json`` or one of the ``_sse`` kinds."""
        body = received.body if isinstance(received.body, Mapping) else {}
        path = received.path.split("?", 1)[0]
        if self.fail_next is not None:
            status, self.fail_next = self.fail_next, None
            return status, _error("stub failure"), "json"
        markers = count_markers(body)
        if markers > MAX_MARKERS:
            return 400, _error(f"{markers} cache markers; at most {MAX_MARKERS}"), "json"
        if "prompt_cache_options" in body and "prompt_cache_retention" in body:
            return 400, _error("prompt_cache_options and prompt_cache_retention together"), "json"
        usage = self.usage
        if path.endswith("/v1/messages"):
            model = body.get("model", "claude-sonnet-4-5")
            if body.get("stream"):
                return 200, anthropic_stream(model, usage.get("anthropic")), "sse-named"
            return 200, anthropic_message(model, usage.get("anthropic")), "json"
        if path.endswith("/chat/completions"):
            model = body.get("model", "gpt-4o")
            if body.get("stream"):
                return 200, openai_chat_chunks(model, usage.get("chat")), "sse"
            return 200, openai_chat_completion(model, usage.get("chat")), "json"
        if path.endswith("/responses"):
            model = body.get("model", "gpt-5.6")
            return 200, openai_response(model, usage.get("responses")), "json"
        match = re.search(r"/models/([^/:]+):generateContent$", path)
        if match:
            return 200, gemini_response(match.group(1), usage.get("gemini")), "json"
        match = re.search(r"/models/([^/:]+):streamGenerateContent$", path)
        if match:
            return 200, gemini_chunks(match.group(1), usage.get("gemini")), "sse-bare"
        if _CACHED_CONTENTS.search(path):  # LiteLLM's custom-base form: .../models/M:cachedContents
            if received.method == "GET":  # LiteLLM lists them to find one by display name
                return 200, {"cachedContents": self._cached_contents()}, "json"
            n = len(self._cached_contents())
            return 200, self._cached_contents()[n - 1] if n else {}, "json"
        if re.search(r"/model/[^/]+/converse$", path):
            return 200, bedrock_converse(usage.get("bedrock")), "json"
        if re.search(r"/model/[^/]+/converse-stream$", path):
            return 200, bedrock_stream_events(usage.get("bedrock")), "eventstream"
        return 404, _error(f"no stub route for {path}"), "json"

    def _cached_contents(self) -> list[dict[str, Any]]:
        """The cached contents created so far (``cachedContents/stub-<n>``, from 1)."""
        created = [
            r.body
            for r in self.requests
            if r.method == "POST" and _CACHED_CONTENTS.search(r.path.split("?", 1)[0])
        ]
        return [
            {
                "name": f"cachedContents/stub-{n}",
                "model": body.get("model") if isinstance(body, Mapping) else None,
                "displayName": body.get("displayName") if isinstance(body, Mapping) else None,
            }
            for n, body in enumerate(created, start=1)
        ]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read ``stub.requests`` instead."""

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                received = Received(
                    self.command, unquote(self.path), body, dict(self.headers.items())
                )
                status, payload, kind = stub.receive(received)
                if kind == "json":
                    data = json.dumps(payload).encode()
                    content_type = "application/json"
                elif kind == "eventstream":
                    data = b"".join(
                        _eventstream_message(name, body)
                        for event in payload
                        for name, body in event.items()
                    )
                    content_type = "application/vnd.amazon.eventstream"
                else:
                    data = b"".join(_sse(payload, kind))
                    content_type = "text/event-stream"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _sse(events: list[dict[str, Any]], kind: str) -> Iterator[bytes]:
    # "sse-named": Anthropic's named events; "sse": OpenAI's, ended by [DONE]; "sse-bare":
    # Gemini's, data lines only.
    for event in events:
        head = f"event: {event['type']}\n" if kind == "sse-named" else ""
        yield f"{head}data: {json.dumps(event)}\n\n".encode()
    if kind == "sse":
        yield b"data: [DONE]\n\n"


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}

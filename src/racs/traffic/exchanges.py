"""Raw exchanges: JSON lines of ``{request, response}`` for Anthropic Messages, OpenAI Chat
Completions and Responses, Gemini generateContent and Bedrock Converse, read through racs's
own adapters. These carry the prompt's structure, so each request gets its blocks (digests
and estimated tokens, never the text) and the report can tell drift from other misses.

Optional fields on a line: ``api`` (``anthropic``, ``openai-chat``, ``openai-responses``,
``gemini``, ``bedrock``; else guessed from the shapes), ``timestamp`` (ms, s or ISO),
``session``, ``stream``, ``agent``, ``project``, ``id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from racs.core.errors import RacsError
from racs.core.keys import blake2b64
from racs.core.limits import depth_exceeds
from racs.providers import anthropic, bedrock, gemini, openai
from racs.providers.common import MAX_REQUEST_DEPTH, UsageReader
from racs.providers.usage import UsageRefused
from racs.traffic.lines import Meter
from racs.traffic.model import Block, Request
from racs.traffic.problems import Problems
from racs.traffic.records import records, timestamp_ms

ADAPTERS: Final[dict[str, UsageReader]] = {
    "anthropic": anthropic.messages,
    "openai-chat": openai.chat,
    "openai-responses": openai.responses,
    "gemini": gemini.generate_content,
    "bedrock": bedrock.converse,
}


def is_exchange(record: Any) -> bool:
    """A ``{request, response}`` object."""
    return (
        isinstance(record, Mapping)
        and isinstance(record.get("request"), Mapping)
        and isinstance(record.get("response"), Mapping)
    )


def api_of(record: Mapping[str, Any]) -> str | None:
    """Which API an exchange used: its ``api`` field, else the request/response shapes."""
    named = record.get("api")
    if isinstance(named, str) and named in ADAPTERS:
        return named
    req, resp = record["request"], record["response"]
    usage = resp.get("usage") if isinstance(resp.get("usage"), Mapping) else {}
    if "contents" in req or "usageMetadata" in resp or "usage_metadata" in resp:
        return "gemini"
    if "inputTokens" in usage or ("output" in resp and "stopReason" in resp):
        return "bedrock"
    if "input" in req or resp.get("object") == "response":
        return "openai-responses"
    if "prompt_tokens" in usage or resp.get("object") == "chat.completion":
        return "openai-chat"
    if "messages" in req and ("input_tokens" in usage or resp.get("type") == "message"):
        return "anthropic"
    return None


def _estimate(content: str) -> int:
    # The engine's estimate without a tokenizer: a token per four UTF-16 code units.
    return -(-len(content.encode("utf-16-le", "surrogatepass")) // 8)


def _marker(content: str) -> str | None:
    """The cache marker a segment carries in the request as sent, if any."""
    if '"cache_control"' not in content and '"cachePoint"' not in content:
        return None
    return "1h" if '"ttl":"1h"' in content else "5m"


def read(path: Path, problems: Problems, meter: Meter | None = None) -> Iterator[Request]:
    """One request per exchange."""
    for where, record in records(path, problems, meter):
        if not is_exchange(record):
            problems.add(where, "not a {request, response} object")
            continue
        if depth_exceeds(record, MAX_REQUEST_DEPTH):
            problems.add(where, f"nested more than {MAX_REQUEST_DEPTH} levels deep")
            continue
        try:
            found = _request(record, where, path, problems)
        except UsageRefused as refused:
            problems.add(where, refused.message)
            continue
        except RacsError as exc:
            problems.add(where, f"unreadable exchange ({exc.message})"[:200])
            continue
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.add(where, f"unreadable exchange ({type(exc).__name__}: {exc})"[:200])
            continue
        if found is not None:
            yield found


def _request(
    record: Mapping[str, Any], where: str, path: Path, problems: Problems
) -> Request | None:
    api = api_of(record)
    if api is None:
        problems.add(where, "unknown API (add an 'api' field)")
        return None
    adapter = ADAPTERS[api]
    request, response = record["request"], record["response"]
    model = record.get("model") or request.get("model") or request.get("modelId")
    asked = model if isinstance(model, str) and model else None
    tokens, named = adapter.tokens_from(response, model=asked)
    stamp = timestamp_ms(
        record.get("timestamp", response.get("created_at", response.get("created")))
    )
    if stamp is None:
        problems.add(where, "timestamp missing or out of range (add a 'timestamp' field)")
        return None
    plan = adapter.segments_from(request)
    blocks = tuple(
        Block(blake2b64(s.content or ""), _estimate(s.content or ""), _marker(s.content or ""))
        for s in plan.segments
    )
    session = _text(record.get("session")) or path.stem
    return Request(
        timestamp_ms=stamp,
        provider=adapter.provider,
        model=_bare(asked or named or "unknown"),
        tokens=tokens,
        session=session,
        stream=_text(record.get("stream")) or session,
        request_id=_text(record.get("id")) or _text(response.get("id")),
        project=_text(record.get("project")),
        agent=_text(record.get("agent")),
        source=where,
        blocks=blocks,
    )


def _bare(model: str) -> str:
    return model.removeprefix("models/")  # Gemini's resource spelling of a model id


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

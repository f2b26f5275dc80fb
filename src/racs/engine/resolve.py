"""Prompt resolution: token counts and digests settled once, into a frozen value."""

from __future__ import annotations

import math
from collections.abc import Callable

from racs.core.errors import invalid
from racs.core.keys import combine
from racs.core.reference import utf16_length
from racs.planning.inputs import Prompt, ResolvedPrompt, ResolvedSeg
from racs.planning.lint import Facts, FactsCache

Tokenizer = Callable[[str], float]


class Resolver:
    """Counts and hashes segments, remembering both per distinct content."""

    def __init__(
        self, digest: Callable[[str], str], tokenizer: Tokenizer | None, facts: FactsCache
    ) -> None:
        self._digest = digest
        self._tokenizer = tokenizer
        self.facts = facts
        """The per-content memo shared with the analyzer (its lints read it too)."""

    def resolve(self, prompt: Prompt) -> ResolvedPrompt:
        """The prompt with each segment's tokens and (unless volatile) digest settled."""
        facts_get = self.facts.get
        tokenizer = self._tokenizer
        digest = self._digest
        boundary = prompt.boundary
        stable: float = 0
        total: float = 0
        resolved: list[ResolvedSeg] = []
        append = resolved.append
        for i, seg in enumerate(prompt.segments):
            content = seg.content
            facts: Facts | None = None
            tokens = seg.tokens
            if tokens is None:
                if content is None:
                    tokens = 0
                elif tokenizer is None:
                    if content.isascii():  # one UTF-16 unit per character
                        tokens = -(-len(content) // 4)
                    elif seg.stability == "volatile":
                        tokens = -(-utf16_length(content) // 4)
                    else:  # non-ASCII stable text: measure its UTF-16 length once
                        facts = facts_get(content)
                        if facts.tokens is None:
                            facts.tokens = -(-utf16_length(content) // 4)
                        tokens = facts.tokens
                else:
                    facts = facts_get(content)
                    if facts.tokens is None:
                        facts.tokens = _tokenize(tokenizer, content, seg.id)
                    tokens = facts.tokens
            seg_digest = seg.digest
            if seg_digest is None and seg.stability != "volatile":
                assert content is not None
                if facts is None:
                    facts = facts_get(content)
                if facts.digest is None:
                    facts.digest = digest(content)
                seg_digest = facts.digest
            append(
                ResolvedSeg(
                    seg.id,
                    seg.role,
                    seg.stability,
                    content,
                    tokens,
                    seg.blocks,
                    seg_digest,
                )
            )
            total += tokens
            if i < boundary:
                stable += tokens
        if not math.isfinite(total):
            raise invalid("segments: the token counts add up to more than a float can hold")
        return ResolvedPrompt(
            prompt.provider,
            prompt.model,
            prompt.agent_id,
            tuple(resolved),
            prompt.interval,
            prompt.calls_per_hour,
            prompt.reuse_declared,
            boundary,
            stable,
            total,
        )

    def prefix_key(self, prompt: ResolvedPrompt) -> str:
        """The key of the stable prefix: its digests, provider, model and agent."""
        parts = [seg.digest or "" for seg in prompt.segments[: prompt.boundary]]
        parts.append(prompt.provider)
        parts.append(prompt.model)
        parts.append(prompt.agent_id or "")
        return combine(parts, self._digest)


def _tokenize(tokenizer: Tokenizer, content: str, segment_id: str) -> float:
    try:
        tokens = tokenizer(content)
    except Exception as exc:
        raise invalid(f"tokenizer failed on segment {segment_id!r}: {exc}") from None
    if (
        isinstance(tokens, bool)
        or not isinstance(tokens, (int, float))
        or not (math.isfinite(tokens) and tokens >= 0)
    ):
        raise invalid(
            f"tokenizer returned {tokens!r} for segment {segment_id!r}; expected a count >= 0"
        )
    return tokens

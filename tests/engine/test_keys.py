"""Hashing schemes, prefix keys and plan ids: the spec's test vectors (engine.md s.2)."""

from __future__ import annotations

import pytest

import racs
from engine.helpers import plan_input, seg
from racs.core.keys import blake2b64, combine, fnv1a64, plan_id


class TestVectors:
    @pytest.mark.parametrize(
        ("text", "digest"),
        [
            ("", "cbf29ce484222325"),
            ("hello", "32964f71b2764b97"),
            ("héllo wörld ✓", "7346230171f01c52"),
            ("😀", "f39a100fb654058a"),
        ],
    )
    def test_fnv1a64_over_utf16_code_units(self, text: str, digest: str) -> None:
        """FNV-1a 64 feeds each UTF-16 code unit low byte first (surrogate pairs too)."""
        assert fnv1a64(text) == digest

    def test_combine_joins_with_unit_separator(self) -> None:
        """combine() hashes the parts joined by U+001F, so ["a","b"] != ["ab"]."""
        assert combine(["a", "b"], fnv1a64) == "ee0687e4b90f01f9"
        assert combine(["ab"], fnv1a64) == "ab40d7820d408076"

    def test_plan_ids(self) -> None:
        """Plan ids are rx-<n>-<base36 fnv1a64 of seed\\x1fn>."""
        assert plan_id(7, 1) == "rx-1-1cm0hgkbh4ono"
        assert plan_id(7, 2) == "rx-2-1cmsqoxxzukwf"
        assert plan_id(42, 1) == "rx-1-v7t5ws4ai5jp"

    def test_engine_plan_ids_follow_the_seed(self) -> None:
        """The engine numbers its plans from 1 and uses its seed (default 7)."""
        inp = plan_input([seg("s", tokens=10)])
        default = racs.create_racs()
        assert [default.plan(inp).plan_id for _ in range(2)] == [
            "rx-1-1cm0hgkbh4ono",
            "rx-2-1cmsqoxxzukwf",
        ]
        assert racs.create_racs(seed=42).plan(inp).plan_id == "rx-1-v7t5ws4ai5jp"

    def test_spec_prefix_key_vector(self) -> None:
        """Anthropic, claude-sonnet-4-5, system 'x'*8000 + volatile 'hi' (fnv1a64)."""
        engine = racs.create_racs(key_scheme="fnv1a64")
        plan = engine.plan(
            plan_input(
                [
                    seg("system", "system", "stable", content="x" * 8000),
                    seg("dynamic", "dynamic", "volatile", content="hi"),
                ]
            )
        )
        assert plan.prefix_key == "49cb617057f0722c"
        assert [d.to_dict() for d in plan.directives] == [
            {"kind": "breakpoint", "segmentId": "system", "ttl": "5m"}
        ]
        assert plan.stable_tokens == 2000  # ceil(8000 / 4)
        assert plan.total_tokens == 2001  # + ceil(2 / 4)


class TestBlake2b:
    def test_default_scheme_is_blake2b_8_bytes(self) -> None:
        """The default scheme is BLAKE2b with an 8-byte digest of the UTF-8 bytes."""
        import hashlib

        assert blake2b64("hello") == hashlib.blake2b(b"hello", digest_size=8).hexdigest()
        assert len(blake2b64("x")) == 16

    def test_prefix_key_differs_by_scheme_but_is_stable(self) -> None:
        """Each scheme gives its own key; the same scheme always gives the same one."""
        inp = plan_input([seg("s", content="abc" * 100)])
        a = racs.create_racs().plan(inp).prefix_key
        b = racs.create_racs().plan(inp).prefix_key
        c = racs.create_racs(key_scheme="fnv1a64").plan(inp).prefix_key
        assert a == b != c

    def test_agent_id_separates_prefix_keys(self) -> None:
        """Same content under different agents never shares a prefix key."""
        engine = racs.create_racs()
        segs = [seg("s", tokens=2000)]
        k1 = engine.plan(plan_input(segs, agentId="a")).prefix_key
        k2 = engine.plan(plan_input(segs, agentId="b")).prefix_key
        k3 = engine.plan(plan_input(segs)).prefix_key
        assert len({k1, k2, k3}) == 3

    def test_content_hash_wins_over_content(self) -> None:
        """With both given, contentHash keys the segment and content only feeds lints."""
        engine = racs.create_racs()
        a = engine.plan(plan_input([seg("s", content="one", contentHash="H")]))
        b = engine.plan(plan_input([seg("s", content="two", contentHash="H")]))
        assert a.prefix_key == b.prefix_key


class TestTokenEstimate:
    @pytest.mark.parametrize(
        ("content", "tokens"),
        [("", 0), ("abcd", 1), ("abcde", 2), ("héllo", 2), ("😀" * 4, 2), ("😀a", 1)],
    )
    def test_ceil_of_utf16_length_over_4(self, content: str, tokens: int) -> None:
        """ceil(length / 4) with JavaScript's length (UTF-16 code units): an emoji is 2."""
        plan = racs.create_racs().plan(plan_input([seg("s", content=content)]))
        assert plan.total_tokens == tokens

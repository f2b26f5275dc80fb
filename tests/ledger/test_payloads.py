"""One decoder per ledger payload and one pager: the rules every reader of the log shares."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.helpers import T0
from racs.core.model import CacheUsage
from racs.ledger import Ledger
from racs.ledger.payloads import COUNT_FIELDS, decode_usage, iter_events, iter_usages
from racs.ledger.projection import usage_row


class TestDecodeUsage:
    def test_missing_and_null_counts_are_zero(self) -> None:
        """Only the provider and model are required; absent or null counts read as 0."""
        u = decode_usage({"provider": "anthropic", "model": "m", "cache_read_tokens": None})
        assert (u.input_tokens, u.cache_read_tokens, u.writes) == (
            0,
            0,
            {"5m": 0, "30m": 0, "1h": 0},
        )

    @pytest.mark.parametrize("bad", [-1, 1.5, 2.0, True, "7", [1]])
    def test_a_count_that_is_not_a_whole_number_is_refused(self, bad: Any) -> None:
        """Negative numbers, floats, bools and strings are a ValueError naming the field."""
        with pytest.raises(ValueError, match="cache_write_tokens_1h is not a token count"):
            decode_usage({"provider": "p", "model": "m", "cache_write_tokens_1h": bad})

    def test_names_fall_back_to_the_runs_start(self) -> None:
        """Provider, model, prefix key, agent and workspace come from run.started if absent."""
        started = {"provider": "openai", "model": "gpt-4o", "agent_id": "a1", "prefix_key": "k"}
        u = decode_usage({"input_tokens": 10, "agent_id": "a2"}, started)
        assert (u.provider, u.model, u.agent_id, u.prefix_key, u.workspace_id) == (
            "openai",
            "gpt-4o",
            "a2",
            "k",
            None,
        )

    def test_no_provider_is_refused(self) -> None:
        with pytest.raises(ValueError, match="provider or model missing"):
            decode_usage({"model": "m", "input_tokens": 1})

    def test_uncached_and_group_key(self) -> None:
        """1,000 all-in = 600 read + 100 (5m) + 50 (30m) + 20 (1h) + 230 uncached."""
        u = decode_usage(
            {
                "provider": "anthropic",
                "model": "m",
                "input_tokens": 1000,
                "cache_read_tokens": 600,
                "cache_write_tokens_5m": 100,
                "cache_write_tokens_30m": 50,
                "cache_write_tokens_1h": 20,
            }
        )
        assert u.uncached_tokens == 230
        assert u.group_key == "anthropic:m"
        assert u.at(123) == 123

    @given(
        st.dictionaries(
            st.sampled_from([*COUNT_FIELDS, "provider", "model", "timestamp", "prefix_key"]),
            st.none() | st.booleans() | st.integers(-5, 10**12) | st.floats() | st.text(max_size=4),
        )
    )
    def test_arbitrary_payloads_decode_or_raise_value_error(self, payload: dict[str, Any]) -> None:
        """Whatever a hand-edited file holds, a reader gets a value or a ValueError."""
        try:
            u = decode_usage(payload)
        except ValueError:
            return
        assert all(getattr(u, name) >= 0 for name in COUNT_FIELDS)


def _usage(ledger: Ledger, i: int) -> None:
    ledger.record_cache_usage(
        provider="anthropic",
        model="claude-sonnet-4-5",
        input_tokens=5000 + i,
        cache_read_tokens=4000,
        cache_write_tokens_5m=100 * i,
        cache_write_tokens_30m=0,
        cache_write_tokens_1h=7 * i,
        timestamp=T0 + 60_000 * i,
        prefix_key=f"k{i % 2}",
        agent_id="agent",
    )


class TestOnePager:
    def test_iter_events_pages_through_everything(self, ledger: Ledger) -> None:
        """Five records read two at a time come back whole and in position order."""
        for i in range(5):
            _usage(ledger, i)
        every = ledger.query_events(limit=100)
        assert [e.position for e in ledger.iter_events(page=2)] == [e.position for e in every]
        assert [e.position for e in iter_events(ledger, page=2, limit=3)] == [
            e.position for e in every[:3]
        ]
        after = every[1].position
        assert [e.position for e in ledger.iter_events(after_position=after, page=2)] == [
            e.position for e in every[2:]
        ]

    def test_usage_rebuilt_from_the_ledger_keeps_every_write_tier(self, ledger: Ledger) -> None:
        """The learned policy's rebuild gets what was recorded, writes included."""
        for i in range(3):
            _usage(ledger, i)
        rebuilt = list(iter_usages(ledger, page=2))
        assert rebuilt == [
            CacheUsage(
                provider="anthropic",
                model="claude-sonnet-4-5",
                input_tokens=5000 + i,
                cache_read_tokens=4000,
                cache_write_tokens_5m=100 * i,
                cache_write_tokens_1h=7 * i,
                prefix_key=f"k{i % 2}",
                timestamp=T0 + 60_000 * i,
                agent_id="agent",
            )
            for i in range(3)
        ]

    def test_projection_rows_agree_with_the_decoder(self, ledger: Ledger) -> None:
        """The cache_usage table row is the decoded payload: 5,002 - 4,000 - 200 - 14."""
        for i in range(3):
            _usage(ledger, i)
        last = ledger.query_events(type="cache.usage", limit=10)[-1]
        row = usage_row(last.position, last.timestamp, None, last.payload)
        assert row[2:8] == ("k0", "anthropic", "claude-sonnet-4-5", "k0", "agent", None)
        assert row[9:] == (5002, 4000, 200, 0, 14, 788)

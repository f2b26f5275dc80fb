"""The Mooncake trace under the routing-key and passive families (one shared pool)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from racs.core.accounting import Rates
from racs.core.cache import rules_for
from racs.core.catalog import default_profile_of
from racs.core.errors import RacsError
from racs.replay.pool import replay_pool
from racs.traffic.mooncake import read_trace

OPENAI = rules_for(default_profile_of("openai", "gpt-4.1"))
RATES = Rates(input=2.0, read=0.5, write_5m=2.0, write_30m=2.0, write_1h=2.0, output=8.0)


def _trace(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_blocks_shared_across_conversations(tmp_path: Path) -> None:
    """Two conversations share blocks 0-2 (1536 tokens): the second reads 1536 (12 x 128).

    Cost: first 2000 fresh; second 1536 read + 464 fresh:
    (2000 + 464) x 2e-6 + 1536 x 0.5e-6 = 0.004928 + 0.000768 = 0.005696.
    """
    path = _trace(
        tmp_path,
        [
            {"timestamp": 0, "input_length": 2000, "output_length": 0, "hash_ids": [0, 1, 2, 3]},
            {
                "timestamp": 60_000,
                "input_length": 2000,
                "output_length": 0,
                "hash_ids": [0, 1, 2, 9],
            },
        ],
    )
    result = replay_pool(read_trace(path), OPENAI, RATES, "in_memory")
    assert result.read_tokens == 1536
    assert result.cost.total == pytest.approx(0.005696)


def test_expired_blocks_are_not_read(tmp_path: Path) -> None:
    """Eleven minutes later the in-memory pool is gone (10 min idle); 24h still reads."""
    rows = [
        {"timestamp": 0, "input_length": 2048, "output_length": 0, "hash_ids": [0, 1, 2, 3]},
        {"timestamp": 660_000, "input_length": 2048, "output_length": 0, "hash_ids": [0, 1, 2, 3]},
    ]
    path = _trace(tmp_path, rows)
    assert replay_pool(read_trace(path), OPENAI, RATES, "in_memory").read_tokens == 0
    assert replay_pool(read_trace(path), OPENAI, RATES, "24h").read_tokens == 2048


def test_bad_line_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"timestamp": 0}\n')
    with pytest.raises(RacsError):
        list(read_trace(path))


def test_the_shared_trace(shared: Callable[[str], Path]) -> None:
    """12,031 requests; 24h retention reads at least what in-memory reads, both above 0."""
    path = shared("traffic/mooncake/conversation_trace.jsonl")
    memory = replay_pool(read_trace(path), OPENAI, RATES, "in_memory")
    day = replay_pool(read_trace(path), OPENAI, RATES, "24h")
    none = replay_pool(read_trace(path), OPENAI, RATES, None)
    passive = rules_for(default_profile_of("deepseek", "deepseek-chat"))
    auto = replay_pool(read_trace(path, "deepseek", "deepseek-chat"), passive, RATES, "auto")
    assert memory.requests == day.requests == 12031
    assert none.read_tokens == 0
    assert 0 < memory.read_tokens <= day.read_tokens
    assert memory.hit_share == pytest.approx(0.323, abs=1e-3)
    assert day.hit_share == pytest.approx(0.347, abs=1e-3)
    assert auto.hit_share == pytest.approx(0.374, abs=1e-3)
    assert day.cost.total <= memory.cost.total < none.cost.total

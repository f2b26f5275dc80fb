"""Issue 22's case: three OpenAI chat exchanges, the third seven minutes after the second.

The same 3.6k-token system prompt; the second request reads 3,584 cached tokens (28 steps
of 128); the third comes 420 s later and reads none. OpenAI documents 5 to 10 minutes of
idle in-memory retention, so the cache model (``racs.core.cache``) keeps the entry alive
until 600 s in the neutral reading and calls a miss after more than 300 s an expiry the
documentation allows. The report, replay's calibration and replay's reconstruction through
the Python API must all say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from racs.core.catalog import default_profile_of
from racs.core.prices import PriceBook
from racs.replay.reconstruct import Follower
from racs.replay.run import replay
from racs.report.build import build_report
from racs.traffic.problems import Problems
from racs.traffic.sources import read

SYSTEM = ("You are a careful assistant for ACME support. Follow the policy. " * 250)[:14_400]
T0 = 1_767_225_600_000


def _exchanges(path: Path) -> Path:
    lines = []
    for i, (at, cached, question) in enumerate(
        [(0, 0, "Where is order 1?"), (30_000, 3_584, "And 2?"), (450_000, 0, "And 3?")]
    ):
        lines.append(
            json.dumps(
                {
                    "timestamp": T0 + at,
                    "session": "s1",
                    "request": {
                        "model": "gpt-4.1",
                        "messages": [
                            {"role": "system", "content": SYSTEM},
                            {"role": "user", "content": question},
                        ],
                    },
                    "response": {
                        "id": f"chatcmpl-{i}",
                        "object": "chat.completion",
                        "model": "gpt-4.1",
                        "usage": {
                            "prompt_tokens": 3_606,
                            "completion_tokens": 20,
                            "total_tokens": 3_626,
                            "prompt_tokens_details": {"cached_tokens": cached},
                        },
                    },
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def exchanges(tmp_path: Path) -> Path:
    return _exchanges(tmp_path / "openai.jsonl")


class TestSevenMinuteMiss:
    def test_replay_calibrates_it_with_no_error_tokens(self, exchanges: Path) -> None:
        """Free automatic writes are not compared; the read of 3,584 is predicted exactly;
        the third request is a named expiry, not an error."""
        result = replay(read([exchanges], Problems()), prices=PriceBook())
        cal = result.calibration
        assert cal.requests == 3
        assert cal.error_tokens == 0 and cal.errors == []
        assert cal.exact == 2
        assert cal.anomalies == {"expiry": 1}
        assert cal.anomaly_tokens == 3_584

    def test_report_names_the_same_cause(self, exchanges: Path) -> None:
        report = build_report(read([exchanges], Problems()), PriceBook(), Problems())
        assert [(f.cause, f.excess_tokens) for f in report.findings] == [("expiry", 3_584)]
        assert "in-memory retention 5m 00s to 10m 00s" in report.findings[0].detail
        assert "24h retention" in report.findings[0].action

    def test_the_python_reconstruction_agrees(self, exchanges: Path) -> None:
        """``Follower`` (what replay and the report's walk share) names the same request."""
        requests = list(read([exchanges], Problems()))
        profile = default_profile_of("openai", "gpt-4.1")
        assert profile is not None
        from racs.core.cache import rules_for

        follower = Follower(rules_for(profile))
        steps = [follower.step(r, None) for r in requests]
        assert [s.anomaly for s in steps] == [None, None, "expiry"]

"""``racs replay --strategy learned``: the replay strategy learns as it goes."""

from __future__ import annotations

from racs.core.accounting import Rates, Tokens
from racs.replay.learned import LearnedStrategy
from racs.replay.strategies import Decision, Situation, Strategy, make
from racs.traffic.model import Request

SONNET = Rates(input=3.0, read=0.3, write_5m=3.75, write_30m=3.75, write_1h=6.0)


def situations(gaps_s: list[float], prefix: int = 10_000, growth: int = 0) -> list[Situation]:
    """A stream: first request at t=0, then one after each gap; after the first, each
    request reads the previous prefix and adds ``growth`` tokens."""
    out = []
    t = 0.0
    for i, gap in enumerate([0.0, *gaps_s]):
        t += gap * 1000
        size = prefix + growth * i
        request = Request(t, "anthropic", "claude-sonnet-4-5", Tokens(fresh=10), "s", "s")
        out.append(
            Situation(
                request=request,
                index=i,
                stream="s",
                family="breakpoint",
                options=("5m", "1h", None),
                prefix_tokens=size,
                read_tokens=0 if i == 0 else size - growth,
                live=(),
                gap_s=None if i == 0 else gap,
                rates=SONNET,
                recorded=Decision("5m"),
            )
        )
    return out


def test_it_is_a_replay_strategy_by_name() -> None:
    """replay's registry builds it with no arguments."""
    strategy = make("learned")
    assert isinstance(strategy, LearnedStrategy)
    assert isinstance(strategy, Strategy)
    assert strategy.name == "learned"


def test_cron_goes_to_the_hour_tier_once_a_long_gap_was_read() -> None:
    """Nothing learned: the reference 5m. Here every request reads the previous prefix
    although 7 minutes passed, as if something had kept it warm: each such read saved a
    5m rewrite, which pays for the 1h premium on the 200 new tokens from then on."""
    strategy = LearnedStrategy()
    got = [strategy.decide(s).tier for s in situations([420] * 6, growth=200)]
    assert got == ["5m"] + ["1h"] * 6


def test_a_request_that_writes_nothing_keeps_the_entry_tier() -> None:
    """A fixed prompt writes nothing after its first request: the 5m entry it reads lives
    on as 5m whatever the decision says, so the policy does not pretend it is 1h."""
    strategy = LearnedStrategy()
    got = [strategy.decide(s).tier for s in situations([420] * 6)]
    assert got == ["5m"] * 7


def test_keep_warm_is_spaced_one_ttl_apart_in_replay() -> None:
    """Replay touches at expiry: 20-minute pauses on a 5m-only model need 3 touches (at
    300, 600, 900 s; alive until 1200 s). The budgets weighed are 0, 1, 2, 4, 8 touches:
    the smallest that covers the gap is 4, i.e. keep warm 4 x 300 s (replay sends 3)."""
    strategy = LearnedStrategy()
    stream = situations([1200] * 5)
    stream = [
        Situation(**{**{f: getattr(s, f) for f in s.__dataclass_fields__}, "options": ("5m", None)})
        for s in stream
    ]
    got = [strategy.decide(s) for s in stream]
    assert got[-1] == Decision("5m", 1200.0)


def test_end_stream_forgets_the_stream() -> None:
    """A new stream under the same key starts cold."""
    strategy = LearnedStrategy()
    for s in situations([420] * 4):
        strategy.decide(s)
    strategy.end_stream("s")
    assert strategy.decide(situations([])[0]).tier == "5m"

"""Days, weeks and months in a time zone, each with its models, summing to the total."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racs.core.prices import PriceBook
from racs.report.build import build_report
from racs.report.periods import PERIODS, Calendar, clock, zone_name, zone_named
from racs.report.wire import to_json
from racs.traffic.problems import Problems
from report_views.conftest import CARD, HAIKU, SONNET, ms, request

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")


class TestCalendar:
    def test_a_late_utc_evening_is_the_next_day_in_berlin(self) -> None:
        """23:30 UTC on Sunday 8 February is 00:30 on Monday the 9th in Berlin (UTC+1):
        another day and another week (weeks start on Monday)."""
        t = ms("2026-02-08T23:30:00+00:00")
        assert Calendar(UTC).keys(t) == ("2026-02-08", "2026-02-02", "2026-02")
        assert Calendar(BERLIN).keys(t) == ("2026-02-09", "2026-02-09", "2026-02")

    def test_half_hour_offsets(self) -> None:
        """Kolkata is UTC+5:30: 18:29 UTC is 23:59 there, 18:30 UTC is midnight."""
        cal = Calendar(KOLKATA)
        assert cal.keys(ms("2026-01-31T18:29:59+00:00"))[0] == "2026-01-31"
        assert cal.keys(ms("2026-01-31T18:30:00+00:00")) == ("2026-02-01", "2026-01-26", "2026-02")

    def test_bounds_follow_daylight_saving(self) -> None:
        """Berlin's 29 March 2026 has 23 hours (clocks go forward at 02:00); its week starts
        on Monday the 23rd at 23:00 UTC the day before; December ends a month, a year."""
        cal = Calendar(BERLIN)
        start, end = cal.bounds("day", "2026-03-29")
        assert start == ms("2026-03-28T23:00:00+00:00")
        assert (end - start) / 3_600_000 == 23
        assert cal.bounds("week", "2026-03-23")[0] == ms("2026-03-22T23:00:00+00:00")
        assert cal.bounds("month", "2026-12") == (
            ms("2026-11-30T23:00:00+00:00"),
            ms("2026-12-31T23:00:00+00:00"),
        )

    def test_zone_names(self) -> None:
        """IANA names and UTC are accepted; an unknown name says what is expected."""
        assert zone_name(zone_named("Europe/Berlin")) == "Europe/Berlin"
        assert zone_name(zone_named("utc")) == "UTC"
        with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
            zone_named("Mars/Olympus")

    def test_clock(self) -> None:
        """Printed times carry the zone's offset (Z for UTC)."""
        t = ms("2026-02-10T09:00:00+00:00")
        assert clock(t, UTC) == "2026-02-10T09:00:00Z"
        assert clock(t, BERLIN) == "2026-02-10T10:00:00+01:00"
        assert clock(t, BERLIN, seconds=False) == "2026-02-10 10:00"


class TestPeriodsInTheReport:
    def test_days_with_their_models_in_dollars(self, card: PriceBook) -> None:
        """Three requests: 1M fresh sonnet tokens ($3.00) at 22:30 UTC on the 9th, 2M
        haiku ($2.00) at 23:30 UTC and 1M sonnet at 10:00 UTC on the 10th. In UTC the
        9th has $5.00 (sonnet $3, haiku $2) and the 10th $3.00; in Berlin the 23:30 request
        is on the 10th: $3.00, then $5.00 (haiku $2 after sonnet $3)."""
        requests = [
            request("2026-02-09T22:30:00+00:00", 1_000_000),
            request("2026-02-09T23:30:00+00:00", 2_000_000, model=HAIKU),
            request("2026-02-10T10:00:00+00:00", 1_000_000),
        ]
        utc = build_report(requests, card, Problems())
        berlin = build_report(requests, card, Problems(), zone=BERLIN)
        days = {p.key: p for p in utc.periods["day"]}
        assert days["2026-02-09"].total.cost.total == pytest.approx(5.0)
        assert days["2026-02-09"].models[SONNET].cost.total == pytest.approx(3.0)
        assert days["2026-02-09"].models[HAIKU].cost.total == pytest.approx(2.0)
        assert days["2026-02-10"].total.cost.total == pytest.approx(3.0)
        days = {p.key: p for p in berlin.periods["day"]}
        assert days["2026-02-09"].total.cost.total == pytest.approx(3.0)
        assert days["2026-02-10"].total.requests == 2
        assert days["2026-02-10"].total.cost.total == pytest.approx(5.0)
        assert set(berlin.by["day"]) == {"2026-02-09", "2026-02-10"}
        [month] = berlin.periods["month"]
        assert (month.key, month.total.requests) == ("2026-02", 3)
        assert month.total.cost.total == pytest.approx(8.0)
        # The 9th is a Monday: one week in either zone.
        assert [p.key for p in berlin.periods["week"]] == ["2026-02-09"]

    def test_json_carries_the_periods(self, card: PriceBook) -> None:
        """``timezone`` and ``periods`` join the schema; the existing fields stay."""
        requests = [request("2026-02-09T23:30:00+00:00", 1_000_000)]
        doc = to_json(build_report(requests, card, Problems(), zone=BERLIN))
        assert doc["schema"] == "racs.report/1"
        assert doc["timezone"] == "Europe/Berlin"
        [day] = doc["periods"]["day"]
        assert day["key"] == "2026-02-10"
        assert day["startMs"] == ms("2026-02-10T00:00:00+01:00")
        assert day["endMs"] == ms("2026-02-11T00:00:00+01:00")
        assert day["usd"]["total"] == pytest.approx(3.0)
        assert [m["key"] for m in day["models"]] == [SONNET]
        assert set(doc["periods"]) == set(PERIODS)
        assert doc["by"]["day"][0]["key"] == "2026-02-10"


ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    stamps=st.lists(
        st.tuples(
            st.integers(int(ms("2000-01-01T00:00:00+00:00")), int(ms("2040-01-01T00:00:00+00:00"))),
            st.integers(0, 10_000),
            st.sampled_from([SONNET, HAIKU]),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_every_request_is_in_one_period_of_each_kind(
    zone: str, stamps: list[tuple[int, int, str]]
) -> None:
    """Whatever the zone: each kind's periods add up to the total (requests, tokens,
    dollars), each period's models add up to it, and every request lies in its period's
    bounds (the first is found by the calendar of the exact time, not the cache)."""
    prices = PriceBook(CARD, database=False)
    requests = [request(t, n, model=m) for t, n, m in stamps]
    report = build_report(requests, prices, Problems(), zone=zone_named(zone))
    total = report.total
    for kind in PERIODS:
        periods = report.periods[kind]
        assert sum(p.total.requests for p in periods) == total.requests == len(requests)
        assert sum(p.total.tokens.fresh for p in periods) == total.tokens.fresh
        assert sum(p.total.cost.total for p in periods) == pytest.approx(total.cost.total)
        for p in periods:
            assert sum(b.requests for b in p.models.values()) == p.total.requests
            assert p.start_ms <= (p.total.first_ms or 0) <= (p.total.last_ms or 0) < p.end_ms
        keys = [p.key for p in periods]
        assert keys == sorted(set(keys))


class TestTheEndOfTime:
    """The last moment racs accepts (9999-12-31T23:59:59.999Z) in any zone: no overflow."""

    def test_the_last_periods_end_at_the_last_moment(self) -> None:
        from datetime import timedelta, timezone

        from racs.report.periods import Calendar

        last = 253_402_300_799_999
        east = Calendar(timezone(timedelta(hours=14)))
        assert east.keys(last) == ("9999-12-31", "9999-12-27", "9999-12")
        for kind, key in (("day", "9999-12-31"), ("week", "9999-12-27"), ("month", "9999-12")):
            start, end = Calendar(timezone(timedelta(hours=-5))).bounds(kind, key)
            assert start < last < end == last + 1

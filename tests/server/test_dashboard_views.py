"""The dashboard's data routes (/traffic/...) against the report and replay they mirror.

Every figure is checked against ``racs report --ledger`` / ``racs.replay.run.replay`` over
the same ledger (real SQLite files and PostgreSQL schemas), never against constants the
routes could share a mistake with.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import racs
from racs.cli.app import main
from racs.core.prices import PriceBook
from racs.ledger import create_ledger
from racs.ledger.views import HOUR_MS, Scope
from racs.ledger.viewstore import ViewStore
from racs.replay.run import replay
from racs.report.build import Filters, build_report
from racs.server.fold import Fold, requests_in
from racs.server.insights import Insights
from racs.traffic import ledger as traffic_ledger
from racs.traffic.ingest import ingest
from racs.traffic.problems import Problems
from racs.traffic.sources import read
from server.conftest import Served
from traffic.conftest import _postgres_target

T0 = 1_770_000_000_000  # 2026-02-02T02:40Z


def _line(session: str, msg: str, at_ms: int, read_t: int, written: int, **extra: Any) -> str:
    usage = {
        "input_tokens": 3,
        "cache_read_input_tokens": read_t,
        "cache_creation_input_tokens": written,
        "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 20,
    }
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": session,
            "cwd": extra.get("cwd", "/home/u/proj-a"),
            "timestamp": stamp,
            "requestId": f"req_{msg}",
            "message": {
                "model": extra.get("model", "claude-sonnet-4-5"),
                "id": msg,
                "usage": usage,
            },
        }
    )


def _transcripts(root: Path) -> Path:
    """Two sessions over three days: warm reads, a 10-minute pause (an expiry), a model
    switch in the second session, two projects."""
    root.mkdir(parents=True, exist_ok=True)
    s1 = [
        _line("s1", "a1", T0, 0, 20_000),
        _line("s1", "a2", T0 + 60_000, 20_000, 500),
        _line("s1", "a3", T0 + 120_000, 20_500, 400),
        _line("s1", "a4", T0 + 720_000, 0, 21_000),  # 10 min later: expired
        _line("s1", "a5", T0 + 780_000, 21_000, 300),
    ]
    later = T0 + 2 * 24 * HOUR_MS + 5 * HOUR_MS
    s2 = [
        _line("s2", "b1", later, 0, 9_000, cwd="/home/u/proj-b"),
        _line("s2", "b2", later + 30_000, 9_000, 200, cwd="/home/u/proj-b"),
        _line("s2", "b3", later + 60_000, 0, 9_300, cwd="/home/u/proj-b", model="claude-opus-4-5"),
        _line(
            "s2", "b4", later + 90_000, 9_300, 100, cwd="/home/u/proj-b", model="claude-opus-4-5"
        ),
    ]
    (root / "s1.jsonl").write_text("\n".join(s1) + "\n")
    (root / "s2.jsonl").write_text("\n".join(s2) + "\n")
    return root


def _ingest(source: Path, target: str) -> None:
    done = ingest(
        read([source], Problems()),
        lambda clock: create_ledger(target, clock=clock),
        PriceBook(),
    )
    assert done.added > 0


def _folded(target: str) -> tuple[ViewStore, Fold]:
    store = ViewStore(target)
    with create_ledger(target) as ledger:  # migrated, and its location as the CLI names it
        location = ledger.location
    fold = Fold(store, PriceBook(), location)
    fold.catch_up()
    return store, fold


def _report_json(target: str, *args: str, capsys: pytest.CaptureFixture[str]) -> Any:
    capsys.readouterr()
    assert main(["report", "--ledger", target, "--json", "--no-hindsight", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh ledger: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
    else:
        yield from _postgres_target()


class TestFoldIsTheReport:
    def test_every_request_as_the_report_reads_it(self, target: str, tmp_path: Path) -> None:
        """The folded requests are the ledger reader's, in its order: the report over them
        equals the report over the ledger, bucket, cause and finding alike."""
        _ingest(_transcripts(tmp_path / "cc"), target)
        store, _ = _folded(target)
        try:
            ours = build_report(requests_in(store, Scope()), PriceBook(), Problems())
            theirs = build_report(traffic_ledger.read(target, Problems()), PriceBook(), Problems())
            assert ours.total.to_dict() == theirs.total.to_dict()
            assert ours.total.requests == 9
            assert {k: b.to_dict() for k, b in ours.by["session"].items()} == {
                k: b.to_dict() for k, b in theirs.by["session"].items()
            }
            assert [(f.cause, f.usd, f.request) for f in ours.findings] == [
                (f.cause, f.usd, f.request) for f in theirs.findings
            ]
            assert "expiry" in ours.causes and "model_switch" in ours.causes
        finally:
            store.close()

    def test_open_runs_and_held_records_count_until_they_close(self, target: str) -> None:
        """A run not yet ended and a usage record without a run are in the report at the
        head (the reader flushes them): the fold shows them too, and takes them back when
        the run ends, so the sums never count a request twice."""
        with create_ledger(target) as ledger:
            rid = ledger.start_run(workspace_id="ws", agent_id="a", provider="anthropic",
                                   model="claude-sonnet-4-5")  # fmt: skip
            ledger.record_cache_usage(provider="anthropic", model="claude-sonnet-4-5",
                                      input_tokens=5_000, cache_read_tokens=4_000, run_id=rid,
                                      agent_id="a", workspace_id="ws")  # fmt: skip
            ledger.record_cache_usage(provider="anthropic", model="claude-sonnet-4-5",
                                      input_tokens=3_000, cache_read_tokens=0,
                                      cache_write_tokens_5m=2_000, agent_id="b")  # fmt: skip
        store, fold = _folded(target)
        try:

            def both() -> tuple[dict[str, Any], dict[str, Any]]:
                fold.catch_up()
                ours = build_report(requests_in(store, Scope()), PriceBook(), Problems())
                theirs = build_report(
                    traffic_ledger.read(target, Problems()), PriceBook(), Problems()
                )
                return ours.total.to_dict(), theirs.total.to_dict()

            ours, theirs = both()
            assert ours == theirs and ours["requests"] == 2 and ours["tokens"]["output"] == 0
            with create_ledger(target) as ledger:
                ledger.complete_run(rid, output_tokens=700)
            ours, theirs = both()
            assert ours == theirs and ours["requests"] == 2 and ours["tokens"]["output"] == 700
            from racs.ledger import views

            sums = store.read(lambda tx: views.totals(tx, Scope()))
            assert sums[0] == 2  # the hourly sums: no provisional row left behind
        finally:
            store.close()

    def test_folding_in_small_steps_equals_one_fold(self, tmp_path: Path) -> None:
        """Steps of a few events (runs cut mid-way) end where one big fold does."""
        src = _transcripts(tmp_path / "cc")
        a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
        _ingest(src, a)
        _ingest(src, b)
        store_a, _ = _folded(a)
        store_b = ViewStore(b)
        fold_b = Fold(store_b, PriceBook(), a)  # same location text: same sources
        try:
            while True:
                status = fold_b.step(budget=2)
                if status.position >= status.head:
                    break
            rows = lambda s: [r[1:] for r in s.read(lambda tx: tx.rows(  # noqa: E731
                "SELECT * FROM traffic_requests ORDER BY seq"))]  # fmt: skip
            assert rows(store_a) == rows(store_b)
            hours = lambda s: s.read(lambda tx: tx.rows(  # noqa: E731
                "SELECT * FROM traffic_hours ORDER BY 1, 2, 3, 4, 5"))  # fmt: skip
            assert hours(store_a) == hours(store_b)
        finally:
            store_a.close()
            store_b.close()

    def test_other_prices_fold_again(self, tmp_path: Path) -> None:
        """Rows priced with one price book are refolded when the server's prices change."""
        target = str(tmp_path / "l.db")
        _ingest(_transcripts(tmp_path / "cc"), target)
        store, _ = _folded(target)
        try:
            card = {"claude-sonnet-4-5": {"inputPerMTok": 100, "cacheReadPerMTok": 10}}
            from racs.core.accounting import parse_pricing_table

            dear = PriceBook(parse_pricing_table(card))
            Fold(store, dear, target).catch_up()
            ours = build_report(requests_in(store, Scope()), dear, Problems())
            theirs = build_report(traffic_ledger.read(target, Problems()), dear, Problems())
            assert ours.total.cost.total == pytest.approx(theirs.total.cost.total, abs=1e-9)
            from racs.ledger import views

            usd = store.read(lambda tx: views.totals(tx, Scope()))
            assert sum(usd[8:14]) == pytest.approx(theirs.total.cost.total, abs=1e-9)
        finally:
            store.close()


def _serve(serve: Callable[..., Served], target: str) -> tuple[Served, Any]:
    ledger = create_ledger(target)
    engine = racs.create_racs(ledger=ledger)
    return serve(engine=engine, ledger=ledger), ledger


class TestRoutes:
    def test_overview_is_the_report_total_and_its_time_series(
        self, serve: Callable[..., Served], target: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        """Totals equal `racs report --ledger`'s to the cent; the series adds up to them;
        the axis covers the traffic's own hours (February 2026), not the wall clock."""
        _ingest(_transcripts(tmp_path / "cc"), target)
        report = _report_json(target, capsys=capsys)
        served, ledger = _serve(serve, target)
        try:
            with served.client() as c:
                ov = c.get("/traffic/overview").json()
            assert ov["total"]["requests"] == report["total"]["requests"] == 9
            assert ov["total"]["usd"]["total"] == pytest.approx(report["total"]["usd"]["total"])
            assert ov["total"]["tokens"] == report["total"]["tokens"]
            assert ov["total"]["hitRatio"] == pytest.approx(report["total"]["hitRatio"])
            assert ov["extent"] == {"firstMs": T0, "lastMs": T0 + 53 * HOUR_MS + 90_000}
            assert ov["range"]["startMs"] == T0 // HOUR_MS * HOUR_MS
            assert ov["range"]["endMs"] == ov["extent"]["lastMs"] // HOUR_MS * HOUR_MS + HOUR_MS
            assert ov["bucketMs"] == HOUR_MS
            assert sum(p["requests"] for p in ov["series"]) == 9
            spend = sum(p["usd"]["total"] for p in ov["series"])
            assert spend == pytest.approx(report["total"]["usd"]["total"])
            assert all(isinstance(p["t"], int) for p in ov["series"])
        finally:
            ledger.close()

    def test_ranges_and_filters_are_the_reports(
        self, serve: Callable[..., Served], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """24 h ends at the hour after the newest request; each filter gives the numbers
        `racs report` gives with the same --since/--until/--model/--project/--session."""
        target = str(tmp_path / "l.db")
        _ingest(_transcripts(tmp_path / "cc"), target)
        served, ledger = _serve(serve, target)
        try:
            with served.client() as c:
                day = c.get("/traffic/overview?range=24h").json()
                end = (T0 + 53 * HOUR_MS + 90_000) // HOUR_MS * HOUR_MS + HOUR_MS
                assert day["range"]["untilMs"] == end
                assert day["range"]["sinceMs"] == end - 24 * HOUR_MS
                assert day["total"]["requests"] == 4  # session s2 only
                for query, flags in (
                    ("range=24h", ["--since", _iso(end - 24 * HOUR_MS), "--until", _iso(end)]),
                    ("model=opus", ["--model", "opus"]),
                    ("project=proj-a", ["--project", "proj-a"]),
                    ("session=s", ["--session", "s"]),
                    ("session=s2", ["--session", "s2"]),
                ):
                    ov = c.get(f"/traffic/overview?{query}").json()
                    rep = c.get(f"/traffic/report?{query}").json()
                    cli = _report_json(target, *flags, capsys=capsys)
                    assert ov["total"]["requests"] == cli["total"]["requests"], query
                    assert ov["total"]["usd"]["total"] == pytest.approx(
                        cli["total"]["usd"]["total"]
                    ), query
                    assert rep["status"] == "ready"
                    assert rep["causes"] == cli["causes"], query
                    assert [_key(f) for f in rep["findings"]] == [
                        _key(f) for f in cli["findings"]
                    ], query
                    assert rep["gaps"] == cli["gaps"], query
                by_agent = c.get("/traffic/overview?agent=(main)").json()
                assert by_agent["total"]["requests"] == 9
                assert c.get("/traffic/overview?agent=nobody").json()["total"]["requests"] == 0
        finally:
            ledger.close()

    def test_sessions_models_and_options(
        self, serve: Callable[..., Served], tmp_path: Path
    ) -> None:
        """Breakdowns list the most dollars first with the report's per-session figures."""
        target = str(tmp_path / "l.db")
        _ingest(_transcripts(tmp_path / "cc"), target)
        theirs = build_report(traffic_ledger.read(target, Problems()), PriceBook(), Problems())
        served, ledger = _serve(serve, target)
        try:
            with served.client() as c:
                rows = c.get("/traffic/breakdown?dim=session").json()["rows"]
                options = c.get("/traffic/options").json()
                models = c.get("/traffic/breakdown?dim=model&limit=1").json()["rows"]
                bad = c.get("/traffic/breakdown?dim=secret")
            assert [r["key"] for r in rows] == sorted(
                theirs.by["session"], key=lambda k: -theirs.by["session"][k].cost.total
            )
            for r in rows:
                b = theirs.by["session"][r["key"]]
                assert r["requests"] == b.requests
                assert r["usd"]["total"] == pytest.approx(b.cost.total)
                assert r["firstMs"] == b.first_ms and r["lastMs"] == b.last_ms
            assert set(options["models"]) == {"claude-sonnet-4-5", "claude-opus-4-5"}
            assert options["projects"] == ["/home/u/proj-a", "/home/u/proj-b"] or set(
                options["projects"]
            ) == {"/home/u/proj-a", "/home/u/proj-b"}
            assert options["agents"] == ["(main)"]
            assert len(models) == 1
            assert bad.status_code == 400
        finally:
            ledger.close()

    def test_session_page(self, serve: Callable[..., Served], tmp_path: Path) -> None:
        """A session's requests in order with their gaps, and its findings as the report
        filtered to it finds them."""
        target = str(tmp_path / "l.db")
        _ingest(_transcripts(tmp_path / "cc"), target)
        theirs = build_report(
            traffic_ledger.read(target, Problems()), PriceBook(), Problems(), Filters(session="s1")
        )
        served, ledger = _serve(serve, target)
        try:
            with served.client() as c:
                s = c.get("/traffic/session?id=s1").json()
                missing = c.get("/traffic/session")
            assert [r["t"] for r in s["requests"]] == [
                T0, T0 + 60_000, T0 + 120_000, T0 + 720_000, T0 + 780_000
            ]  # fmt: skip
            assert [r["gapSeconds"] for r in s["requests"]] == [None, 60, 60, 600, 60]
            assert s["requests"][3]["written"] == 21_000 and s["requests"][3]["read"] == 0
            assert s["total"]["usd"]["total"] == pytest.approx(theirs.total.cost.total)
            assert [(f["cause"], f["usd"]) for f in s["findings"]] == [
                (f.cause, f.usd) for f in theirs.findings
            ]
            assert {lt["tier"] for lt in s["lifetimes"]} >= {"5m", "1h"}
            assert s["command"].endswith("--session s1")
            assert missing.status_code == 400
        finally:
            ledger.close()

    def test_what_if_is_replay(self, serve: Callable[..., Served], tmp_path: Path) -> None:
        """Strategy costs and captured shares equal replay over the ledger's requests."""
        target = str(tmp_path / "l.db")
        _ingest(_transcripts(tmp_path / "cc"), target)
        theirs = replay(traffic_ledger.read(target, Problems()), prices=PriceBook())
        served, ledger = _serve(serve, target)
        try:
            with served.client() as c:
                w = c.get("/traffic/whatif").json()
            assert w["status"] == "ready"
            for setting in theirs.settings:
                for name, cost in theirs.totals[setting].items():
                    got = w["strategies"][setting][name]
                    assert got["totalUsd"] == pytest.approx(cost.total), (setting, name)
                    assert got["capturedShare"] == pytest.approx(theirs.captured(name, setting))
        finally:
            ledger.close()

    def test_bad_queries_and_no_ledger(self, serve: Callable[..., Served], tmp_path: Path) -> None:
        """Bad ranges are 400 with a reason; a server without a ledger answers 404."""
        target = str(tmp_path / "l.db")
        _ingest(_transcripts(tmp_path / "cc"), target)
        served, ledger = _serve(serve, target)
        bare = serve()
        try:
            with served.client() as c:
                for query in ("range=week", "range=custom", "range=custom&since=9&until=3",
                              "since=-4&range=custom", "model=" + "m" * 201):  # fmt: skip
                    r = c.get(f"/traffic/overview?{query}")
                    assert r.status_code == 400, query
                    assert r.json()["code"] == "ERR_INVALID_INPUT"
                ok = c.get(f"/traffic/overview?range=custom&since={T0}&until={T0 + 1}").json()
                assert ok["range"]["sinceMs"] == T0 // HOUR_MS * HOUR_MS
                assert ok["range"]["untilMs"] == ok["range"]["sinceMs"] + HOUR_MS
                assert ok["total"]["requests"] == 5  # the whole hour 02:00-03:00: all of s1
            with bare.client() as c:
                r = c.get("/traffic/overview")
                assert r.status_code == 404 and r.json()["code"] == "ERR_NO_LEDGER"
        finally:
            ledger.close()

    def test_new_runs_show_without_a_restart(
        self, serve: Callable[..., Served], tmp_path: Path
    ) -> None:
        """Runs appended after the page loaded are in the next answer."""
        target = str(tmp_path / "l.db")
        _ingest(_transcripts(tmp_path / "cc"), target)
        served, ledger = _serve(serve, target)
        try:
            with served.client() as c:
                assert c.get("/traffic/overview").json()["total"]["requests"] == 9
                rid = ledger.start_run(workspace_id="w", agent_id="x", provider="anthropic",
                                       model="claude-sonnet-4-5")  # fmt: skip
                ledger.complete_run(rid, input_tokens=1_000, output_tokens=10,
                                    cache_read_tokens=900)  # fmt: skip
                ov = c.get("/traffic/overview").json()
                assert ov["total"]["requests"] == 10
                assert ov["fold"]["behind"] == 0
        finally:
            ledger.close()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


def _key(f: dict[str, Any]) -> tuple[Any, ...]:
    return (f["cause"], f["usd"], f["excessTokens"], f["requestId"], round(f["timestampMs"]))


class TestLargeRanges:
    def test_too_large_offers_the_command_and_large_ranges_compute_in_the_background(
        self, tmp_path: Path
    ) -> None:
        """Past the limit: the CLI command; past the synchronous size: 'computing' first,
        then the result, and the last result (with its age) while a newer one computes."""
        target = str(tmp_path / "l.db")
        _ingest(_transcripts(tmp_path / "cc"), target)
        store, fold = _folded(target)
        try:
            status = fold.status()
            small = Insights(store, PriceBook(), target, report_limit=5, replay_limit=5)
            big = small.get("report", Scope(), status.position, status.seq)
            assert big["status"] == "too_large" and big["requests"] == 9
            assert big["command"] == f"racs report --ledger {target}"
            scoped = small.get("whatif", Scope(since=T0 // HOUR_MS * HOUR_MS + HOUR_MS * 50),
                               status.position, status.seq)  # fmt: skip
            assert scoped["status"] == "ready"  # 4 requests: under the limit
            slow = Insights(store, PriceBook(), target, sync_limit=0)
            first = slow.get("report", Scope(), status.position, status.seq)
            assert first["status"] in ("computing", "ready")
            slow._pool.shutdown(wait=True)  # the background walk ends
            again = slow.get("report", Scope(), status.position, status.seq)
            assert again["status"] == "ready" and again["total"]["requests"] == 9
            slow._pool = __import__("concurrent.futures").futures.ThreadPoolExecutor(1)
            newer = slow.get("report", Scope(), status.position + 1, status.seq)
            assert newer["status"] in ("stale", "ready")
            assert newer["total"]["requests"] == 9
        finally:
            store.close()


def test_centuries_of_usage_still_draw_in_a_few_points(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    """Usage stamped in 1971 and in 9000 (timestamps are the caller's): the series stays
    at most 120 buckets of whole days, and the answer is quick to encode."""
    target = str(tmp_path / "l.db")
    with create_ledger(target) as ledger:
        for stamp in (31_536_000_000, 221_845_392_000_000):
            ledger.record_cache_usage(provider="anthropic", model="claude-sonnet-4-5",
                                      input_tokens=1_000, cache_read_tokens=500,
                                      timestamp=stamp)  # fmt: skip
    served, ledger = _serve(serve, target)
    try:
        with served.client() as c:
            ov = c.get("/traffic/overview").json()
        assert ov["total"]["requests"] == 2
        assert len(ov["series"]) <= 120
        assert ov["bucketMs"] % (24 * HOUR_MS) == 0
        assert sum(p["requests"] for p in ov["series"]) == 2
    finally:
        ledger.close()

"""verify() checks the evidence behind every claim: projections, storage, guard, anchors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ledger.helpers import FakeClock, Store, history, start
from ledger.tamper import (
    PROJECTION_EDITS,
    content,
    corrupt_page,
    detected,
    edit_events,
    rewrite_and_rechain,
    truncate,
)
from racs.core.errors import ERR_CONFLICT, ERR_INVALID_INPUT, RacsError
from racs.ledger import Ledger, create_ledger, parse_anchor


class TestProjections:
    """verify() replays runs, roll-ups, histogram and usage rows and compares them."""

    @pytest.mark.parametrize("case", sorted(PROJECTION_EDITS))
    def test_an_edited_projection_is_found(self, ledger: Ledger, store: Store, case: str) -> None:
        """The chain is intact; the projection differs; verify names the table."""
        history(ledger)
        assert ledger.verify().ok
        store.raw(PROJECTION_EDITS[case])
        result = ledger.verify()
        assert not result.ok
        assert result.checked == 14  # the chain itself verified
        assert (result.reason or "").startswith("projection differs: ")
        table = (result.reason or "").split()[2]
        assert table in {"runs", "run_rollup", "run_histogram", "cache_usage", "usage_rollup"}
        ledger.rebuild()
        assert ledger.verify().ok

    def test_the_issue_s_cost_edit(self, ledger: Ledger, store: Store) -> None:
        """Stats report $2000 instead of $20 after a roll-up edit: verify says where."""
        run_id = start(ledger)
        ledger.complete_run(run_id, cost_usd=20.0)
        store.raw("UPDATE run_rollup SET cost_usd = 2000")
        assert ledger.get_usage_stats().cost_usd == 2000.0
        result = ledger.verify()
        assert result.reason == (
            "projection differs: run_rollup row workspace_id=ws_1, hour_start=1704067200000, "
            "provider=anthropic, model=claude-3-5-sonnet has a cost_usd that differs from "
            "the events; rebuild() restores it"
        )

    def test_the_first_difference_is_reported(self, ledger: Ledger, store: Store) -> None:
        """Two usage rows edited: the one of the earlier event (13, then 14) is named."""
        history(ledger)
        store.raw("UPDATE cache_usage SET input_tokens = input_tokens + 1")
        assert "cache_usage row of event 13 " in (ledger.verify().reason or "")

    def test_the_reason_never_quotes_payload_text(self, ledger: Ledger, store: Store) -> None:
        """A tampered metadata column is named, its content is not."""
        start(ledger, metadata={"secret": "hunter2"})
        store.raw("""UPDATE runs SET metadata = '{"secret":"hunter3"}'""")
        reason = ledger.verify().reason or ""
        assert "metadata" in reason and "hunter" not in reason

    def test_a_ledger_of_many_pages_verifies(self, ledger: Ledger) -> None:
        """More events than one page of the replay (10,000): clean, and still exact."""
        with ledger.batch() as batch:
            for n in range(5_200):
                run_id = start(batch, workspace_id=f"ws_{n % 7}")
                batch.complete_run(run_id, input_tokens=n, cost_usd=n / 3, latency_ms=n)
            for n in range(300):
                batch.record_cache_usage(
                    provider="p", model="m", input_tokens=n, cache_read_tokens=n // 2
                )
        result = ledger.verify()
        assert (result.ok, result.checked) == (True, 10_700)


class TestStorage:
    """The storage itself and the append-only guard."""

    def test_a_removed_guard_is_found(self, ledger: Ledger, store: Store) -> None:
        """Dropped (SQLite) or disabled (PostgreSQL) triggers: verify fails naming them."""
        history(ledger)
        if store.kind == "sqlite":
            store.raw("DROP TRIGGER events_no_update")
        else:
            store.raw("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
        result = ledger.verify()
        assert not result.ok
        assert "events_no_update" in (result.reason or "")

    def test_a_damaged_index_is_found(self, tmp_path: Path) -> None:
        """A runs index page zeroed: the chain reads fine, SQLite's integrity check does not."""
        path = tmp_path / "ledger.db"
        with create_ledger(path, clock=FakeClock()) as ledger:
            for _ in range(400):
                start(ledger, metadata={"pad": "x" * 200})
        page_size = 4096
        conn = __import__("sqlite3").connect(path)
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'runs_workspace'"
        ).fetchone()[0]
        conn.close()
        corrupt_page(path, root, page_size, "garbage", 1)
        with create_ledger(path) as ledger:
            assert detected(ledger.verify)


class TestAnchors:
    """An anchor kept elsewhere finds truncation and rewrite + rechain."""

    def test_truncation_passes_without_an_anchor(self, ledger: Ledger, store: Store) -> None:
        """Why anchors exist: a shortened, rebuilt ledger is self-consistent."""
        history(ledger)
        anchor = ledger.anchor()
        truncate(store, ledger, keep=10)
        assert ledger.verify().ok
        result = ledger.verify([anchor])
        assert (result.ok, result.first_bad_position) == (False, 11)
        assert "removed from its end" in (result.reason or "")

    def test_rewrite_and_rechain_is_found(self, ledger: Ledger, store: Store) -> None:
        """A payload rewritten at 5 and every later hash recomputed: only the anchor sees it."""
        history(ledger)
        anchor = ledger.anchor()
        rewrite_and_rechain(store, ledger, 5, "200", "500")
        assert ledger.verify().ok
        result = ledger.verify([anchor])
        assert (result.ok, result.first_bad_position) == (False, 14)
        assert "rewritten" in (result.reason or "")

    def test_a_ledger_that_grew_extends_its_anchors(self, ledger: Ledger) -> None:
        """Appends after an anchor are what anchors allow: every older anchor holds."""
        anchors = []
        for n in range(3):
            start(ledger, metadata={"n": n})
            anchors.append(ledger.anchor())
        start(ledger)
        assert ledger.verify(anchors).ok

    def test_anchor_documents_round_trip(self, ledger: Ledger) -> None:
        """to_json and parse_anchor agree; the MAC binds every field to the key."""
        history(ledger)
        key = b"kept-off-the-ledger-host"
        anchor = ledger.anchor(key)
        document = json.loads(anchor.to_json())
        assert document["position"] == 14 and document["mac"].startswith("hmac-sha256:")
        assert parse_anchor(anchor.to_json(), key) == anchor
        assert ledger.verify([parse_anchor(anchor.to_json(), key)]).ok
        forged = dict(document, position=13)
        for bad, bad_key in ((forged, key), (document, b"another key")):
            with pytest.raises(RacsError) as caught:
                parse_anchor(json.dumps(bad), bad_key)
            assert caught.value.code == ERR_INVALID_INPUT
            assert "MAC" in caught.value.message

    @pytest.mark.parametrize(
        "document",
        ["not json", "[]", '{"format": "racs.ledger.anchor", "version": 9}', "[" * 100_000],
    )
    def test_malformed_anchors_are_refused(self, document: str) -> None:
        """Never a traceback, never the document quoted back."""
        with pytest.raises(RacsError) as caught:
            parse_anchor(document)
        assert caught.value.code == ERR_INVALID_INPUT
        assert document[:8] not in caught.value.message

    def test_a_broken_or_empty_ledger_is_not_anchored(self, ledger: Ledger, store: Store) -> None:
        """Anchoring enshrines the head, so it must verify first (and exist)."""
        with pytest.raises(RacsError) as caught:
            ledger.anchor()
        assert caught.value.code == ERR_CONFLICT
        history(ledger)
        edit_events(store, "UPDATE events SET ts = ts + 1 WHERE position = 3")
        with pytest.raises(RacsError) as caught:
            ledger.anchor()
        assert caught.value.code == ERR_CONFLICT


def test_verify_changes_nothing(tmp_path: Path) -> None:
    """The replay works beside the stored projections: after verify() every table and
    row of the file are as before, and a second verify() gives the same result."""
    path = tmp_path / "ledger.db"
    with create_ledger(path, clock=FakeClock()) as ledger:
        history(ledger)
    before = content(path)
    with create_ledger(path) as ledger:
        first = ledger.verify()
        assert first.ok and ledger.verify() == first
    assert content(path) == before


def test_single_page_damage_is_found_or_harmless(tmp_path: Path, capsys: Any) -> None:
    """Every third page of a small ledger, zeroed, filled with garbage or with one byte
    flipped: verify() fails, or nothing a reader sees changed (a byte in free space)."""
    pristine = tmp_path / "pristine.db"
    with create_ledger(pristine, clock=FakeClock()) as ledger:
        for n in range(60):
            run_id = start(ledger, metadata={"n": n})
            ledger.record_cache_usage(
                provider="p", model="m", input_tokens=n, cache_read_tokens=n, run_id=run_id
            )
            ledger.complete_run(run_id, input_tokens=n, cost_usd=n / 7, latency_ms=n)
    reference = content(pristine)
    page_size = 4096
    pages = pristine.stat().st_size // page_size
    outcomes: dict[str, int] = {"detected": 0, "harmless": 0, "missed": 0}
    for page in range(1, pages + 1, 3):
        for mode in ("zero", "garbage", "flip"):
            case = tmp_path / "case.db"
            shutil.copy(pristine, case)
            corrupt_page(case, page, page_size, mode, page)
            if detected(lambda path=case: _verify(path)):
                outcomes["detected"] += 1
            elif content(case) == reference:
                outcomes["harmless"] += 1
            else:
                outcomes["missed"] += 1
    with capsys.disabled():
        tried = sum(outcomes.values())
        print(f"\nsingle-page damage: {tried} tried, {outcomes}")
    assert outcomes["missed"] == 0
    assert outcomes["detected"] >= tried * 2 // 3


def _verify(path: Path) -> Any:
    with create_ledger(path) as ledger:
        return ledger.verify()

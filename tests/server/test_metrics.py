"""``GET /metrics``: parsed by prometheus_client's own parser, its counters equal ``/stats``,
its labels bounded, and it is protected like the other read routes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from racs import create_racs
from server.conftest import Served, open_ledger, plan_input

PRICING = {
    "claude-sonnet-4-5": {"inputPerMTok": 3, "cacheReadPerMTok": 0.3, "cacheWrite5mPerMTok": 3.75}
}
GRAFANA = Path(__file__).parents[2] / "examples" / "grafana-racs.json"
LABELS = {"provider", "model", "class", "family", "action", "kind"}


def samples(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics by (name, labels), through prometheus_client's parser."""
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def usage(model: str, read: int, write: int, fresh: int, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "anthropic",
        "model": model,
        "inputTokens": read + write + fresh,
        "cacheReadTokens": read,
        "cacheWriteTokens5m": write,
        **extra,
    }


def _at(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


@pytest.fixture(params=["no-ledger", "ledger"])
def served(request: pytest.FixtureRequest, serve: Callable[..., Served], tmp_path: Path) -> Served:
    ledger = open_ledger(tmp_path / "ledger.db") if request.param == "ledger" else None
    return serve(engine=create_racs(ledger=ledger, pricing=PRICING), ledger=ledger)


class TestMetrics:
    def test_usage_counters_equal_stats(self, served: Served) -> None:
        """Calls, hits, tokens by class and USD by class, per model, and the hit ratio are
        the numbers /stats gives (3 records: 4000 fresh+write, then two reads of 3000)."""
        with served.client() as c:
            for record in (
                usage("claude-sonnet-4-5", 0, 3000, 1000),
                usage("claude-sonnet-4-5", 3000, 0, 1000, prefixKey="p1"),
                usage("claude-sonnet-4-5", 3000, 0, 1000, prefixKey="p1"),
                usage("unpriced-model", 500, 0, 500),
            ):
                assert c.post("/usage", json=record).status_code == 200
            stats = c.get("/stats").json()
            got = samples(c)
        sonnet = _at(provider="anthropic", model="claude-sonnet-4-5")
        by_model: dict[str, dict[str, float]] = {}
        for p in stats["prefixes"]:
            m = by_model.setdefault(p["model"], {})
            for key in ("calls", "hits", "readTokens", "writeTokens", "uncachedTokens"):
                m[key] = m.get(key, 0) + p[key]
            for key in ("savedUsd", "writeSpendUsd", "storageSpendUsd"):
                if key in p:
                    m[key] = m.get(key, 0) + p[key]
        for model, m in by_model.items():
            at = _at(provider="anthropic", model=model)
            assert got[("racs_usage_calls_total", at)] == m["calls"]
            assert got[("racs_usage_hits_total", at)] == m["hits"]
            for cls, key in (("read", "readTokens"), ("write", "writeTokens")):
                assert got[("racs_usage_tokens_total", at | {("class", cls)})] == m[key]
            assert (
                got[("racs_usage_tokens_total", at | {("class", "uncached")})]
                == m["uncachedTokens"]
            )
        m = by_model["claude-sonnet-4-5"]
        assert (m["calls"], m["readTokens"], m["writeTokens"], m["uncachedTokens"]) == (
            3,
            6000,
            3000,
            3000,
        )
        assert got[("racs_usage_dollars_total", sonnet | {("class", "saved")})] == pytest.approx(
            m["savedUsd"]
        )
        premium = sonnet | {("class", "write_premium")}
        assert got[("racs_usage_dollars_total", premium)] == pytest.approx(m["writeSpendUsd"])
        # No USD for a model no price covers, as /stats says.
        unpriced = _at(provider="anthropic", model="unpriced-model", **{"class": "saved"})
        assert ("racs_usage_dollars_total", unpriced) not in got
        assert got[("racs_hit_ratio_overall", frozenset())] == pytest.approx(stats["hitRatio"])
        assert got[("racs_net_savings_dollars", frozenset())] == pytest.approx(stats["netUsd"])

    def test_plans_by_family_and_action(self, served: Served) -> None:
        """Two Anthropic plans (breakpoint) and two Gemini plans of one prompt (create,
        then reuse) are counted by family and action."""
        gemini = {**plan_input(system="Contract clause. " * 4000), "provider": "google"}
        gemini["model"] = "gemini-2.5-pro"
        with served.client() as c:
            for body in (plan_input("a"), plan_input("b"), gemini, gemini):
                assert c.post("/plan", json=body).status_code == 200
            got = samples(c)
        assert got[("racs_plans_total", _at(family="breakpoint", action="breakpoint"))] == 2
        assert got[("racs_plans_total", _at(family="resource", action="create"))] == 1
        assert got[("racs_plans_total", _at(family="resource", action="reuse"))] == 1

    def test_labels_are_bounded(self, served: Served) -> None:
        """25 models and a made-up provider: 20 models keep their name, the rest are
        'other'; no prefix key, agent or run ever becomes a label."""
        with served.client() as c:
            for i in range(25):
                record = usage(f"model-{i:02d}", 10, 0, 10, prefixKey=f"secret-{i}", agentId="a")
                assert c.post("/usage", json=record).status_code == 200
            odd = {**usage("model-00", 1, 0, 1), "provider": "made-up"}
            assert c.post("/usage", json=odd).status_code == 200
            got = samples(c)
        models = {dict(labels).get("model") for name, labels in got if name.startswith("racs_")}
        assert len(models - {None, "other"}) == 20 and "other" in models
        assert ("racs_usage_calls_total", _at(provider="other", model="model-00")) in got
        assert {k for _, labels in got for k, _ in labels} <= LABELS
        assert not any("secret" in str(labels) for _, labels in got)
        calls = sum(v for (name, _), v in got.items() if name == "racs_usage_calls_total")
        assert calls == 26  # folded, not dropped

    def test_protected_by_the_token(self, serve: Callable[..., Served]) -> None:
        """With a token, /metrics is 401 without the bearer, like /stats."""
        served = serve(token="s3cret")
        with httpx.Client(base_url=served.url) as anonymous:
            assert anonymous.get("/metrics").status_code == 401
        with served.client() as c:
            assert c.get("/metrics").status_code == 200


class TestLedgerMetrics:
    def test_appends_chain_and_verify(self, serve: Callable[..., Served], tmp_path: Path) -> None:
        """Appends are counted by kind; the chain head follows them; the last verify's
        outcome is reported once one ran."""
        ledger = open_ledger(tmp_path / "ledger.db")
        served = serve(engine=create_racs(ledger=ledger, pricing=PRICING), ledger=ledger)
        with served.client() as c:
            start = {"workspaceId": "w", "agentId": "a", "provider": "anthropic", "model": "m"}
            run_id = c.post("/ledger/runs", json=start).json()["runId"]
            assert c.post("/usage", json=usage("m", 1, 0, 1, runId=run_id)).status_code == 200
            before = samples(c)
            assert c.get("/ledger/verify").json()["ok"] is True
            after = samples(c)
        assert before[("racs_ledger_appends_total", _at(kind="run.started"))] == 1
        assert before[("racs_ledger_appends_total", _at(kind="cache_usage"))] == 1
        assert before[("racs_ledger_chained_events", frozenset())] == 2
        assert before[("racs_ledger_sequencer_lag_events", frozenset())] == 0
        assert ("racs_ledger_verify_ok", frozenset()) not in before
        assert after[("racs_ledger_verify_ok", frozenset())] == 1
        assert after[("racs_ledger_verify_checked_events", frozenset())] == 2


class TestGrafana:
    def test_every_panel_queries_a_metric_the_server_exposes(
        self, serve: Callable[..., Served], tmp_path: Path
    ) -> None:
        """examples/grafana-racs.json is valid JSON whose every query names a metric that
        /metrics of a server with a ledger (after a verify) exposes."""
        dashboard = json.loads(GRAFANA.read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        wanted = {m for e in exprs for m in re.findall(r"\b(?:racs|process)_[a-z_]+", e)}
        ledger = open_ledger(tmp_path / "ledger.db")
        served = serve(engine=create_racs(ledger=ledger, pricing=PRICING), ledger=ledger)
        with served.client() as c:
            c.post("/plan", json=plan_input())
            c.post("/usage", json=usage("claude-sonnet-4-5", 1, 0, 1))
            c.get("/ledger/verify")
            exposed = {name for name, _ in samples(c)}
        assert len(wanted) >= 12
        assert wanted <= exposed, wanted - exposed

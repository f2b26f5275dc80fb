"""Every engine endpoint over a real socket, in the camelCase wire form."""

from __future__ import annotations

import dataclasses
import inspect
import re
import time

import httpx
from starlette.routing import Route

from racs.core.model import LINT_CODES, CacheUsage, camel
from racs.ledger import Ledger
from racs.server import create_app, openapi_document
from racs.server.schemas import REQUEST_RULES, RESPONSE_RULES
from server.conftest import Served, plan_input


class TestHealth:
    def test_healthz_reports_ok_and_counters(self, client: httpx.Client) -> None:
        """GET /healthz answers ok, the version, the plan count and whether a ledger is on."""
        body = client.get("/healthz").json()
        assert body["ok"] is True
        assert body["plansCreated"] == 0
        assert body["ledger"] is False


class TestPlan:
    def test_plan_returns_a_cache_plan(self, client: httpx.Client) -> None:
        """POST /plan turns a PlanInput into a CachePlan with the seed's first plan id."""
        r = client.post("/plan", json=plan_input())
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        plan = r.json()
        assert plan["planId"] == "rx-1-1cm0hgkbh4ono"  # engine.md: seed 7, first plan
        assert plan["family"] == "breakpoint"
        assert plan["stableTokens"] == 2250  # ceil(9000 / 4)
        assert plan["directives"] == [{"kind": "breakpoint", "segmentId": "system", "ttl": "5m"}]
        assert plan["breakEven"]["profitable"] is True

    def test_plan_counter_advances(self, client: httpx.Client) -> None:
        """A second plan gets the second plan id and /healthz counts both."""
        client.post("/plan", json=plan_input("a"))
        second = client.post("/plan", json=plan_input("b")).json()
        assert second["planId"] == "rx-2-1cmsqoxxzukwf"
        assert client.get("/healthz").json()["plansCreated"] == 2

    def test_json_charset_parameter_is_accepted(self, client: httpx.Client) -> None:
        """application/json with a charset parameter is still JSON."""
        import json

        r = client.post(
            "/plan",
            content=json.dumps(plan_input()),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert r.status_code == 200


class TestLint:
    def test_lint_returns_findings(self, client: httpx.Client) -> None:
        """POST /lint returns a bare array of findings, as @takk/racs does, and creates no
        plan."""
        data = plan_input()
        data["segments"].reverse()  # volatile turn first: segment-order + volatile-early
        r = client.post("/lint", json=data)
        assert r.status_code == 200
        codes = [f["code"] for f in r.json()]
        assert codes[:2] == ["segment-order", "volatile-early"]
        assert client.get("/healthz").json()["plansCreated"] == 0


class TestUsageAndStats:
    def test_usage_then_stats(self, client: httpx.Client) -> None:
        """Recorded usage shows up in /stats totals and per prefix."""
        key = client.post("/plan", json=plan_input()).json()["prefixKey"]
        for read, write in ((0, 2250), (2250, 0), (2250, 0)):
            r = client.post(
                "/usage",
                json={
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "prefixKey": key,
                    "inputTokens": 2260,
                    "cacheReadTokens": read,
                    "cacheWriteTokens5m": write,
                },
            )
            assert r.json() == {"ok": True}
        stats = client.get("/stats").json()
        assert stats["calls"] == 3
        # read 4500 / (4500 read + 2250 written + 30 uncached) = 4500 / 6780
        assert abs(stats["hitRatio"] - 4500 / 6780) < 1e-12
        assert stats["uncachedTokens"] == 30
        assert stats["prefixes"][0]["prefixKey"] == key
        assert "netUsd" in stats  # pricing is configured for this model

    def test_stats_filters(self, client: httpx.Client) -> None:
        """prefixKey and provider query parameters filter the stats."""
        for provider, model in (("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o")):
            client.post(
                "/usage",
                json={
                    "provider": provider,
                    "model": model,
                    "inputTokens": 100,
                    "cacheReadTokens": 50,
                },
            )
        assert client.get("/stats", params={"provider": "openai"}).json()["calls"] == 1
        only = client.get("/stats", params={"prefixKey": "openai:gpt-4o"}).json()
        assert [p["prefixKey"] for p in only["prefixes"]] == ["openai:gpt-4o"]

    def test_stats_time_window_without_ledger_is_400(self, client: httpx.Client) -> None:
        """A time window needs a ledger: 400 with the reason."""
        r = client.get("/stats", params={"since": "1"})
        assert r.status_code == 400
        assert "ledger" in r.json()["error"]

    def test_history_samples_totals(self, client: httpx.Client) -> None:
        """/stats/history holds periodic samples of the totals, oldest first."""
        client.post(
            "/usage",
            json={
                "provider": "openai",
                "model": "gpt-4o",
                "inputTokens": 100,
                "cacheReadTokens": 50,
            },
        )
        deadline = time.monotonic() + 5
        while True:
            history = client.get("/stats/history").json()
            if history["samples"] and history["samples"][-1]["calls"] == 1:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert history["intervalSeconds"] == 0.2
        assert history["samples"][-1]["hitRatio"] == 0.5


class TestKeepWarm:
    def test_schedule_refreshed_and_invalidate(self, server: Served) -> None:
        """A planned breakpoint is due at 90% of its TTL; /refreshed slides it; /invalidate
        forgets it."""
        with server.client() as c:
            key = c.post("/plan", json=plan_input()).json()["prefixKey"]
            now = time.time() * 1000
            assert c.get("/schedule").json() == []  # a bare array, as in @takk/racs
            due = c.get("/schedule", params={"now": int(now + 280_000)}).json()
            assert [e["prefixKey"] for e in due] == [key]
            assert due[0]["ttl"] == "5m"
            r = c.post("/refreshed", json={"prefixKey": key, "now": int(now + 280_000)})
            assert r.json() == {"ok": True, "refreshed": True}
            assert c.get("/schedule", params={"now": int(now + 290_000)}).json() == []
            assert c.post("/refreshed", json={"prefixKey": "nope"}).json()["refreshed"] is False
            assert c.post("/invalidate", json={"prefixKey": key}).json() == {"invalidated": 1}
            assert c.post("/invalidate", json={}).json() == {"invalidated": 0}

    def test_invalidate_with_an_empty_body_clears_everything(self, client: httpx.Client) -> None:
        """An empty JSON body is no filter (the @takk/racs behaviour): 200, every prefix
        cleared; an empty body that is not declared JSON is still 415."""
        json_type = {"Content-Type": "application/json"}
        assert client.post("/invalidate", headers=json_type).json() == {"invalidated": 0}
        client.post("/plan", json=plan_input("a", system="One. " * 900))
        client.post("/plan", json=plan_input("b", system="Two. " * 900))
        r = client.post("/invalidate", content=b"", headers=json_type)
        assert r.status_code == 200 and r.json() == {"invalidated": 2}
        assert client.post("/invalidate").status_code == 415

    def test_invalidate_by_provider(self, client: httpx.Client) -> None:
        """/invalidate with only a provider clears that provider's prefixes."""
        client.post("/plan", json=plan_input())
        assert client.post("/invalidate", json={"provider": "openai"}).json()["invalidated"] == 0
        assert client.post("/invalidate", json={"provider": "anthropic"}).json()["invalidated"] == 1


class TestDrifts:
    def test_drift_is_reported(self, client: httpx.Client) -> None:
        """Changing the stable system prompt of one agent is a drift naming the segment."""
        client.post("/plan", json=plan_input(agent="a"))
        client.post("/plan", json=plan_input(agent="a", system="Different. " * 900))
        drifts = client.get("/drifts").json()["drifts"]
        assert len(drifts) == 1
        assert drifts[0]["changedSegmentIds"] == ["system"]
        assert drifts[0]["agentId"] == "a"
        assert client.get("/drifts", params={"limit": 0}).json() == {"drifts": []}


class TestDocuments:
    def test_openapi_document_lists_every_route_with_its_methods(
        self, server: Served, client: httpx.Client
    ) -> None:
        """/openapi.json describes exactly the API routes the app serves, method for method
        (the dashboard and the document itself aside)."""
        doc = client.get("/openapi.json").json()
        assert doc["openapi"] == "3.1.0"
        app = create_app(server.engine)
        served = {
            (re.sub(r"\{run_id\}", "{runId}", route.path), method.lower())
            for route in app.routes
            if isinstance(route, Route) and route.path not in ("/", "/favicon.ico")
            and not route.path.startswith(("/static/", "/openapi"))
            for method in route.methods or ()
            if method != "HEAD"
        }  # fmt: skip
        documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
        assert documented == served

    def test_openapi_schemas_follow_the_code(self, client: httpx.Client) -> None:
        """The schemas are the code's: every lint code, the ledger calls' exact fields,
        every CacheUsage field, the bare arrays of /lint and /schedule."""
        doc = client.get("/openapi.json").json()
        schemas = doc["components"]["schemas"]
        codes = schemas["LintFinding"]["properties"]["code"]["enum"]
        assert "lookback-miss" in codes and set(LINT_CODES) == set(codes)
        for name, method in (("RunStart", Ledger.start_run), ("RunComplete", Ledger.complete_run)):
            params = {  # the keyword arguments; the seed-style options mapping is positional
                p.name
                for p in inspect.signature(method).parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.name != "run_id"
            }
            assert set(schemas[name]["properties"]) == {camel(p) for p in params}, name
            assert schemas[name]["additionalProperties"] is False  # unknown fields are a 400
        usage = set(schemas["CacheUsage"]["properties"])
        assert usage == {camel(f.name) for f in dataclasses.fields(CacheUsage)}
        assert {"cacheWriteTokens30m", "runId"} <= usage
        lint = doc["paths"]["/lint"]["post"]["responses"]["200"]["content"]
        assert lint["application/json"]["schema"]["type"] == "array"
        schedule = doc["paths"]["/schedule"]["get"]["responses"]["200"]["content"]
        assert schedule["application/json"]["schema"]["type"] == "array"

    def test_openapi_rules_name_real_fields(self) -> None:
        """Each validation rule added to a generated schema names a property the code has
        (a rename in a dataclass fails here, not silently in the document)."""
        schemas = openapi_document()["components"]["schemas"]
        for rules in (REQUEST_RULES, RESPONSE_RULES):
            for name, props in rules.items():
                assert set(props) <= set(schemas[name]["properties"]), name

    def test_dashboard_is_self_contained(self, client: httpx.Client) -> None:
        """GET / is HTML whose assets come from racs itself, never a CDN."""
        r = client.get("/")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert "http://" not in r.text and "https://" not in r.text
        assert "default-src 'none'" in r.headers["content-security-policy"]
        for asset in ("/static/dashboard.js", "/static/dashboard.css", "/favicon.ico"):
            res = client.get(asset)
            assert res.status_code == 200, asset
            assert "https://" not in res.text
        assert client.get("/static/nope.js").status_code == 404

"""Token counts and epoch milliseconds are JSON integers in everything racs writes.

Three checks: the OpenAPI document types every token and time field of a response as an
integer; every HTTP response of a server driven through all its routes holds a JSON
integer (never ``1000.0``) wherever its schema says integer; and every ``--json`` output of
the CLI holds integers in its token and time fields (named by the same rule).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from racs import create_racs
from racs.cli import main as cli_main
from racs.server.openapi import openapi_document
from server.conftest import Served, open_ledger, plan_input

SHARED = Path(os.environ.get("RACS_SHARED", Path(__file__).parents[3] / "shared"))
TRAFFIC = SHARED / "traffic" / "claude-code"

INTEGER_NAME = re.compile(
    r"(Tokens(5m|1h|30m)?|_tokens(_5m|_1h|_30m)?|^tokens|^timestamp|[a-z]At|_at|^t|^since"
    r"|^until|^calls|^hits|^requests)$"
)
"""Field names that hold token counts, counts of calls, or epoch milliseconds."""
NOT_COUNTS = frozenset({"writePremiumTokens", "write_premium_tokens"})
"""Token *equivalents* (a premium times a multiplier): fractional by nature."""


def integer_fields(name: str) -> bool:
    """True for a field that must be a JSON integer."""
    return bool(INTEGER_NAME.search(name)) and name not in NOT_COUNTS


def floats_in(value: Any, path: str = "$") -> Iterator[str]:
    """Paths of integer-named fields holding a float (a JSON number with a point)."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if isinstance(item, float) and integer_fields(str(key)):
                yield f"{here}={item!r}"
            yield from floats_in(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from floats_in(item, f"{path}[{i}]")


# --- the OpenAPI document ---------------------------------------------------------------


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    found = {kind} if isinstance(kind, str) else set(kind or ())
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            found |= _types(option)
    return found - {"null"}


def _response_schemas(doc: dict[str, Any]) -> set[str]:
    """Names of the component schemas reachable from a response."""
    schemas = doc["components"]["schemas"]
    seen: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    seen.add(name)
                    visit(schemas[name])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for item in doc["paths"].values():
        for op in item.values():
            visit(op["responses"])
    return seen


class TestOpenAPI:
    def test_token_and_time_fields_of_responses_are_integers(self) -> None:
        """Every response field named as a token count or a time is typed integer."""
        doc = openapi_document()
        schemas = doc["components"]["schemas"]
        wrong = []
        checked = 0
        for name in sorted(_response_schemas(doc)):
            for prop, schema in schemas[name].get("properties", {}).items():
                if integer_fields(prop):
                    checked += 1
                    if _types(schema) != {"integer"}:
                        wrong.append(f"{name}.{prop}: {sorted(_types(schema))}")
        assert wrong == []
        assert checked >= 40  # tokens, calls and times of stats, plans, runs, events...


# --- HTTP responses ---------------------------------------------------------------------


def _integers_by_schema(
    value: Any, schema: dict[str, Any], schemas: dict[str, Any], path: str = "$"
) -> Iterator[str]:
    """Paths where the schema says integer and the JSON holds a float."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = schemas[ref.rsplit("/", 1)[-1]]
    options = [*schema.get("anyOf", []), *schema.get("oneOf", [])]
    if options:
        for option in options:
            yield from _integers_by_schema(value, option, schemas, path)
        return
    kind = schema.get("type")
    if (kind == "integer" or (isinstance(kind, list) and "integer" in kind)) and isinstance(
        value, float
    ):
        yield f"{path}={value!r}"
    elif isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield from _integers_by_schema(item, sub, schemas, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _integers_by_schema(item, schema["items"], schemas, f"{path}[{i}]")


def _drive(served: Served, *, ledger: bool) -> Iterator[tuple[str, str, Any]]:
    """Every route with data behind it: (method, route template, parsed JSON body)."""
    with served.client() as c:

        def get(route: str, url: str | None = None) -> tuple[str, str, Any]:
            r = c.get(url or route)
            assert r.status_code == 200, (route, r.text)
            return "get", route, r.json()

        def post(route: str, body: Any, url: str | None = None) -> tuple[str, str, Any]:
            r = c.post(url or route, json=body)
            assert r.status_code in (200, 201), (route, r.text)
            return "post", route, r.json()

        yield get("/healthz")
        reuse = {"reuse": {"intervalSeconds": 60}}  # keep-warm entries for /schedule
        yield post("/plan", {**plan_input("first", agent="a"), **reuse})
        changed = plan_input("second", agent="a", system="Changed. " * 700)
        yield post("/plan", {**changed, **reuse})  # a drift
        yield post("/lint", plan_input())
        run_id = None
        if ledger:
            started = post(
                "/ledger/runs",
                {"workspaceId": "w", "agentId": "a", "provider": "anthropic", "model": "m"},
            )
            yield started
            run_id = started[2]["runId"]
        for n, read in enumerate((0, 3000, 3000)):
            usage = {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "inputTokens": 4000,
                "cacheReadTokens": read,
                "cacheWriteTokens5m": 3000 - read,
                "timestamp": 1_767_000_000_000 + n * 1000,
                **({"runId": run_id} if run_id else {}),
            }
            yield post("/usage", usage)
        yield get("/stats")
        yield get("/stats/history")
        due = time.time_ns() // 1_000_000 + 285_000  # 95 percent of the 5m TTL after the plan
        yield get("/schedule", f"/schedule?now={due}")
        yield post("/refreshed", {"prefixKey": "x"})
        yield get("/drifts")
        if ledger:
            runs = f"/ledger/runs/{run_id}"
            event = {"type": "provider-call", "payload": {"status": 200, "latencyMs": 812}}
            yield post("/ledger/runs/{runId}/events", event, f"{runs}/events")
            done = {"status": "completed", "inputTokens": 4000, "outputTokens": 10}
            yield post("/ledger/runs/{runId}/complete", done, f"{runs}/complete")
            yield get("/stats", "/stats?since=0&until=253402300799999")
            yield get("/ledger/runs")
            yield get("/ledger/runs/{runId}", runs)
            yield get("/ledger/runs/{runId}/events", f"{runs}/events")
            yield get("/ledger/events")
            yield get("/ledger/stats")
            yield get("/ledger/verify")
            # The dashboard's routes over the same ledger.
            yield get("/traffic/overview")
            yield get("/traffic/breakdown")
            yield get("/traffic/options")
            yield get("/traffic/report")
            yield get("/traffic/whatif")
            yield get("/traffic/session", f"/traffic/session?id={run_id}")
        yield post("/invalidate", {})


class TestHTTP:
    @pytest.mark.parametrize("with_ledger", [True, False], ids=["ledger", "no-ledger"])
    def test_every_response_holds_integers_where_its_schema_says_integer(
        self, serve: Callable[..., Served], tmp_path: Path, with_ledger: bool
    ) -> None:
        """A server driven through every route: no integer field of any response is
        written as a float (``"writeTokens": 0.0`` and ``"refreshAt": 1.7e12`` fail)."""
        ledger = open_ledger(tmp_path / "ledger.db") if with_ledger else None
        engine = create_racs(
            ledger=ledger,
            pricing={"claude-sonnet-4-5": {"inputPerMTok": 3, "cacheReadPerMTok": 0.3}},
        )
        served = serve(engine=engine, ledger=ledger)
        doc = openapi_document()
        schemas = doc["components"]["schemas"]
        bad = []
        routes = set()
        seen: dict[str, Any] = {}
        for method, route, body in _drive(served, ledger=with_ledger):
            seen[route] = body
            routes.add(route)
            responses = doc["paths"][route][method]["responses"]
            ok = responses.get("200") or responses["201"]
            schema = ok["content"]["application/json"]["schema"]
            bad += [
                f"{method.upper()} {route}: {p}" for p in _integers_by_schema(body, schema, schemas)
            ]
            bad += [f"{method.upper()} {route}: {p}" for p in floats_in(body)]
        assert bad == []
        assert seen["/schedule"] and seen["/drifts"]["drifts"]  # times were written
        assert seen["/stats"]["prefixes"]
        documented = {
            p
            for p, item in doc["paths"].items()
            if (with_ledger or not p.startswith(("/ledger/", "/traffic/")))
            and "text/plain" not in str(item)
        }
        assert routes == documented  # every route was walked


# --- CLI --json outputs -----------------------------------------------------------------


def _cli(*argv: str) -> Any:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(list(argv))
    assert code in (0, 1), (argv, code)
    text = out.getvalue()
    if argv[:2] == ("ledger", "export"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


class TestCLI:
    def test_every_json_output_holds_integer_token_and_time_fields(self, tmp_path: Path) -> None:
        """analyze, models, ledger runs/show/events/stats/verify/export, report and replay
        with --json: no token count, count of calls or time is written as a float."""
        if not TRAFFIC.is_dir():
            if os.environ.get("CI"):
                pytest.fail(f"shared traffic missing: {TRAFFIC}")
            pytest.skip("shared traffic not here")
        ledger_path = tmp_path / "ledger.db"
        ledger = open_ledger(ledger_path)
        engine = create_racs(ledger=ledger)
        run_id = ledger.start_run(
            workspace_id="w", agent_id="a", provider="anthropic", model="claude-sonnet-4-5"
        )
        engine.record(
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "inputTokens": 4000,
                "cacheReadTokens": 3000,
                "runId": run_id,
            }
        )
        ledger.complete_run(run_id, status="completed", input_tokens=4000, output_tokens=10)
        engine.close()
        ledger.close()
        prompts = tmp_path / "prompts.json"
        prompts.write_text(json.dumps([plan_input(), plan_input("other")]))
        sample = TRAFFIC / "short.jsonl"
        outputs = {
            "analyze": _cli("analyze", "--input", str(prompts), "--format", "json"),
            "models": _cli("models", "--json"),
            "report": _cli("report", str(sample), "--json"),
            "replay": _cli("replay", str(sample), "--json"),
        }
        for action in ("runs", "events", "stats", "verify", "export"):
            outputs[f"ledger {action}"] = _cli(
                "ledger", action, "--ledger", str(ledger_path), "--json"
            )
        outputs["ledger show"] = _cli(
            "ledger", "show", str(run_id), "--ledger", str(ledger_path), "--json"
        )
        bad = [f"{name}: {p}" for name, value in outputs.items() for p in floats_in(value)]
        assert bad == []


# --- snapshots and fractional input --------------------------------------------------------


class TestSnapshots:
    def test_a_restored_snapshot_is_saved_with_integers(self, tmp_path: Path) -> None:
        """Counts and times restored as floats (``1000.0`` from an older snapshot, a float
        clock) are saved as JSON integers, as @takk/racs writes them."""
        from racs import file_state

        path = tmp_path / "state.json"
        engine = create_racs(state=file_state(str(path)), clock=lambda: 1_767_000_000_000.0)
        engine.plan({**plan_input(agent="a"), "reuse": {"intervalSeconds": 60}})
        engine.plan(plan_input("later", agent="a", system="Changed. " * 700))
        engine.record(
            {"provider": "anthropic", "model": "m", "inputTokens": 1000.0, "cacheReadTokens": 0}
        )
        engine.close()
        again = create_racs(state=file_state(str(path)), clock=lambda: 1_767_000_001_000.0)
        again.mark_refreshed(again.snapshot()["data"]["keepWarm"][0]["prefixKey"], 1.767e12)
        again.close()
        saved = json.loads(path.read_text())
        assert saved["data"]["usage"] and saved["data"]["drifts"] and saved["data"]["keepWarm"]
        assert list(floats_in(saved)) == []
        assert saved["data"]["keepWarm"][0]["lastWriteAt"] == 1_767_000_000_000


class TestFractionalTokens:
    def test_a_fractional_count_is_rounded_half_to_even(self) -> None:
        """@takk/racs takes any number; racs rounds a fractional token count to whole
        tokens where it enters: 1000.5 -> 1000, 1001.5 -> 1002, 0.4 -> 0 (sum 2002)."""
        engine = create_racs()
        for tokens in (1000.5, 1001.5, 0.4):
            engine.record(
                {"provider": "anthropic", "model": "m", "inputTokens": tokens, "cacheReadTokens": 0}
            )
        stats = engine.stats().to_dict()
        assert stats["uncachedTokens"] == 2002 and isinstance(stats["uncachedTokens"], int)

    def test_a_fractional_count_reaches_the_ledger_whole(self, tmp_path: Path) -> None:
        """With a ledger (which refuses fractional counts) the rounded record is accepted."""
        ledger = open_ledger(tmp_path / "ledger.db")
        engine = create_racs(ledger=ledger)
        engine.record(
            {"provider": "anthropic", "model": "m", "inputTokens": 10.5, "cacheReadTokens": 2.5}
        )
        stats = engine.stats().to_dict()
        assert (stats["readTokens"], stats["uncachedTokens"]) == (2, 8)  # 10 - 2
        engine.close()
        ledger.close()

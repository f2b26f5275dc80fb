"""The replay as JSON (schema ``racs.replay/1``) and as cumulative cost series."""

from __future__ import annotations

from typing import Any

from racs.replay.run import OPTIMUM, Replay, StreamResult, captured_share

SCHEMA = "racs.replay/1"


def _figures(costs: dict[str, Any], name: str) -> dict[str, Any]:
    total = costs[name].total
    return {
        "totalUsd": total,
        "capturedShare": captured_share(costs, name),
        "gapUsd": total - costs[OPTIMUM].total,
    }


def _stream(s: StreamResult) -> dict[str, Any]:
    return {
        "key": s.key,
        "session": s.session,
        "provider": s.provider,
        "model": s.model,
        "family": s.family,
        "requests": s.requests,
        "billedUsd": s.billed.total,
        "priced": s.priced,
        "strategies": {
            setting: {name: _figures(costs, name) for name in costs}
            for setting, costs in s.costs.items()
        },
        "calibration": s.calibration.to_dict(),
        "anomalies": [{"source": src, "kind": kind} for src, kind in s.anomalies],
        "optimumWidth": s.width,
    }


def _requests(s: StreamResult) -> list[dict[str, Any]]:
    rows = []
    for i, step in enumerate(s.steps):
        row: dict[str, Any] = {
            "stream": s.key,
            "source": step.request.source if step.request else "",
            "timestampMs": step.t_ms,
            "prefixTokens": step.prefix,
            "anomaly": step.anomaly,
            "strategies": {},
        }
        for name, outcomes in s.detail.items():
            o = outcomes[i]
            row["strategies"][name] = {
                "tier": o.decision.tier,
                "keepWarmS": o.decision.keep_warm_s,
                "read": o.read,
                "written": o.written,
                "touches": o.touches,
                "usd": o.cost.total,
            }
        rows.append(row)
    return rows


def to_json(result: Replay, *, requests: bool = False) -> dict[str, Any]:
    """The wire form of a replay (``requests``: every request's choices and costs)."""
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "requests": result.requests,
        "streams": result.stream_count,
        "billedUsd": result.billed.total,
        "settings": list(result.settings),
        "strategies": {
            setting: {name: _figures(costs, name) for name in costs}
            for setting, costs in result.totals.items()
        },
        "calibration": result.calibration.to_dict(),
        "unpriced": list(result.unpriced),
        "perStream": [_stream(s) for s in result.streams],
    }
    if requests:
        out["perRequest"] = [row for s in result.streams for row in _requests(s)]
    return out


def cumulative(result: Replay) -> dict[str, list[tuple[float, float]]]:
    """Strategy -> (time ms, cumulative USD) over every request of every kept stream,
    neutral setting (needs a replay run with ``detail``)."""
    points: dict[str, list[tuple[float, float]]] = {}
    for s in result.streams:
        for name, outcomes in s.detail.items():
            series = points.setdefault(name, [])
            series.extend(
                (step.t_ms, o.cost.total) for step, o in zip(s.steps, outcomes, strict=True)
            )
    out: dict[str, list[tuple[float, float]]] = {}
    for name, series in points.items():
        series.sort(key=lambda p: p[0])
        total = 0.0
        acc = []
        for t, usd in series:
            total += usd
            acc.append((t, total))
        out[name] = acc
    return out

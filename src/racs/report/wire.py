"""The report's JSON form: versioned, documented in the README ("Traffic report")."""

from __future__ import annotations

from typing import Any, Final

from racs.report.buckets import Bucket
from racs.report.build import DIMENSIONS, Report
from racs.report.findings import ACTIONS, CAUSES
from racs.report.periods import zone_name
from racs.report.walk import GAP_EDGES_S

SCHEMA: Final = "racs.report/1"
"""Bumped on any change that removes or changes the meaning of a field."""


def to_json(report: Report) -> dict[str, Any]:
    """The whole report as plain JSON values (camelCase keys, USD floats, ms timestamps)."""
    f = report.filters
    return {
        "schema": SCHEMA,
        "sources": report.sources,
        "filters": {
            "sinceMs": f.since_ms,
            "untilMs": f.until_ms,
            "project": f.project,
            "session": f.session,
            "model": f.model,
        },
        "timezone": zone_name(report.zone),
        "total": report.total.to_dict(),
        "by": {
            dim: [{"key": k, **b.to_dict()} for k, b in ranked(report.by[dim], dim)]
            for dim in DIMENSIONS
        },
        "periods": {
            kind: [p.to_dict() for p in periods] for kind, periods in report.periods.items()
        },
        "hourly": [{"hourMs": h, **b.to_dict()} for h, b in report.hourly.items()],
        "causes": [
            {
                "cause": cause,
                "meaning": CAUSES[cause],
                "action": ACTIONS[cause],
                "count": s.count,
                "excessTokens": s.excess_tokens,
                "usd": s.usd,
                "unpriced": s.unpriced,
            }
            for cause, s in report.causes.items()
        ],
        "findings": [x.to_dict() for x in report.findings],
        "gaps": {
            "edgesSeconds": list(GAP_EDGES_S),
            "counts": list(report.gaps.counts),
            "cachedTokens": [int(t) for t in report.gaps.tokens],
        },
        "unpricedModels": report.unpriced_models,
        "problems": report.problems.to_dict(),
        "duplicates": report.problems.duplicates.to_dict(),
    }


def ranked(buckets: dict[str, Bucket], dim: str) -> list[tuple[str, Bucket]]:
    """Days in date order; any other breakdown most dollars first, then most tokens."""
    if dim == "day":
        return sorted(buckets.items())
    return sorted(buckets.items(), key=lambda kv: (-kv[1].cost.total, -kv[1].tokens.input, kv[0]))

"""Restoring damaged snapshots: a bad section degrades alone, nothing else raises."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import racs
from engine.helpers import FakeClock, plan_input, seg

NOW = 1_700_000_000_000
TAKK_SECTIONS = ("ledger", "fingerprints", "keeper", "resources", "drifts")
SECTIONS = ("planCounter", "usage", "fingerprints", "keepWarm", "resources", "drifts", "prefixes")

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
"""Any JSON value, and the non-finite floats Python's json module reads too (NaN, Infinity)."""


def _healthy() -> dict[str, Any]:
    """A snapshot with every section filled: usage, a drift, keep-warm and a resource."""
    clock = FakeClock(NOW)
    engine = racs.create_racs(clock=clock)
    for content in ("v1", "v2"):
        plan = engine.plan(
            plan_input(
                [seg("s", tokens=2000, content=content), seg("t", "dynamic", "volatile", 5)],
                agentId="a",
            )
        )
        engine.record(
            {
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "prefixKey": plan.prefix_key,
                "inputTokens": 2005,
                "cacheReadTokens": 2000,
            }
        )
    engine.plan(
        plan_input([seg("g", tokens=5000)], provider="google", model="gemini-2.5-pro", agentId="g")
    )
    return engine.snapshot()


HEALTHY = _healthy()


def _restore(snapshot: dict[str, Any]) -> racs.Racs:
    state = racs.memory_state()
    state.save(snapshot)
    return racs.create_racs(state=state, clock=lambda: NOW + 1000)


def _sections(engine: racs.Racs) -> dict[str, Any]:
    data: dict[str, Any] = engine.snapshot()["data"]
    return data


def _exercise(engine: racs.Racs) -> None:
    """Every read and write the memories serve, and a strict JSON save."""
    engine.plan(
        plan_input(
            [seg("s", tokens=2000, content="v2"), seg("t", "dynamic", "volatile")], agentId="a"
        )
    )
    engine.plan(
        plan_input([seg("g", tokens=5000)], provider="google", model="gemini-2.5-pro", agentId="g")
    )
    engine.record(
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "inputTokens": 10,
            "cacheReadTokens": 0,
        }
    )
    engine.stats()
    engine.schedule(NOW + 10**9)
    engine.mark_refreshed("x" * 16)
    engine.drifts()
    engine.invalidate(provider="google")
    json.dumps(engine.snapshot(), allow_nan=False)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(value)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return out


class TestDamagedSections:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(SECTIONS), JSON)
    def test_any_value_in_one_section_spares_the_others(self, name: str, value: Any) -> None:
        """Whatever one section holds, the others restore exactly and the engine works."""
        damaged = copy.deepcopy(HEALTHY)
        damaged["data"][name] = value
        engine = _restore(damaged)
        restored = _sections(engine)
        for other in SECTIONS:
            if other != name:
                assert restored[other] == HEALTHY["data"][other]
        _exercise(engine)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(SECTIONS), st.data(), JSON)
    def test_one_damaged_field_spares_the_others(
        self, name: str, data: st.DataObject, value: Any
    ) -> None:
        """One field of one entry replaced by any JSON value (NaN and infinities too): the
        other sections restore exactly, and the engine works."""
        paths = _leaves(HEALTHY["data"][name])
        path = data.draw(st.sampled_from(paths))
        damaged = copy.deepcopy(HEALTHY)
        damaged["data"][name] = _replace(HEALTHY["data"][name], path, value)
        engine = _restore(damaged)
        restored = _sections(engine)
        for other in SECTIONS:
            if other != name:
                assert restored[other] == HEALTHY["data"][other]
        _exercise(engine)

    @pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
    @pytest.mark.parametrize("name", ["usage", "keepWarm", "resources", "fingerprints", "drifts"])
    def test_non_finite_numbers_make_a_section_corrupt(
        self, name: str, bad: float, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A NaN or an infinity anywhere in a section: that section starts empty, named in
        the warning; the numbers never reach the engine's memories."""
        damaged = copy.deepcopy(HEALTHY)
        path = _leaves(damaged["data"][name])[-1]
        damaged["data"][name] = _replace(damaged["data"][name], path, bad)
        engine = _restore(damaged)
        assert _sections(engine)[name] == []
        assert f"snapshot section {name!r} is corrupt (ValueError)" in caplog.text


class TestDamagedEnvelope:
    @settings(max_examples=150, deadline=None)
    @given(JSON)
    def test_any_snapshot_raises_at_most_a_racs_error(self, value: Any) -> None:
        """Restoring any JSON value raises nothing but RacsError (an unknown version)."""
        try:
            engine = _restore(value)
        except racs.RacsError as err:
            assert err.code == "ERR_STATE_VERSION"
            return
        _exercise(engine)

    @settings(max_examples=150, deadline=None)
    @given(JSON)
    def test_any_data_object_raises_nothing(self, value: Any) -> None:
        """A version-1 envelope around any data restores (degrading) and the engine works."""
        _exercise(_restore({"version": 1, "savedAt": 0, "data": value}))

    @settings(max_examples=150, deadline=None)
    @given(st.fixed_dictionaries({}, optional=dict.fromkeys(TAKK_SECTIONS, JSON)))
    def test_any_reference_layout_raises_nothing(self, data: dict[str, Any]) -> None:
        """Sections in @takk/racs's layout holding anything: restored or degraded, never
        raised, and the engine works."""
        _exercise(_restore({"version": 1, "savedAt": 0, "data": {"ledger": {}, **data}}))

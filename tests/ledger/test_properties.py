"""Properties over many generated inputs (hypothesis)."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.helpers import Store, projections
from racs.core.errors import ERR_CONFLICT, ERR_NOT_FOUND, RacsError
from racs.ledger import Ledger
from racs.ledger.hashing import canonical_json, event_json
from racs.ledger.row import value_bucket

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)

RUNS = 3
operations = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.integers(0, RUNS - 1)),
        st.tuples(
            st.just("record"),
            st.integers(0, RUNS - 1),
            st.sampled_from(["auth", "policy", "routing", "call", "retry"]),
        ),
        st.tuples(
            st.just("complete"),
            st.integers(0, RUNS - 1),
            st.sampled_from(["completed", "failed"]),
            st.integers(0, 10**6),
            st.floats(0, 1e5),
        ),
        st.tuples(st.just("cancel"), st.integers(0, RUNS - 1)),
        st.tuples(
            st.just("usage"), st.integers(-1, RUNS - 1), st.integers(0, 5000), st.integers(0, 5000)
        ),
    ),
    max_size=25,
)


def _apply(ledger: Ledger, prefix: str, op: tuple[Any, ...]) -> None:
    run_id = f"{prefix}-{op[1]}"
    kind = op[0]
    if kind == "start":
        ledger.start_run(workspace_id="w", agent_id="a", provider="p", model="m", run_id=run_id)
    elif kind == "record":
        record = {
            "auth": lambda: ledger.record_auth_validation(run_id, {"ok": True}),
            "policy": lambda: ledger.record_policy_evaluation(run_id, [], policy_override=True),
            "routing": lambda: ledger.record_routing(run_id, {"to": "x"}),
            "call": lambda: ledger.record_provider_call(run_id, {"n": 1}),
            "retry": lambda: ledger.record_retry(run_id, {}),
        }
        record[op[2]]()
    elif kind == "complete":
        ledger.complete_run(run_id, status=op[2], input_tokens=op[3], latency_ms=op[4])
    elif kind == "cancel":
        ledger.cancel_run(run_id)
    else:
        ledger.record_cache_usage(
            provider="p",
            model="m",
            input_tokens=op[2],
            cache_read_tokens=op[3],
            run_id=None if op[1] < 0 else run_id,
        )


def _expected_error(states: dict[int, str], op: tuple[Any, ...]) -> str | None:
    """What the rules say about ``op`` given the run states so far (and update them)."""
    kind, key = op[0], op[1]
    state = states.get(key)
    if kind == "usage":
        return None if key < 0 or state is not None else ERR_NOT_FOUND
    if kind == "start":
        if state is not None:
            return ERR_CONFLICT
        states[key] = "started"
        return None
    if state is None:
        return ERR_NOT_FOUND
    if state != "started":
        return ERR_CONFLICT
    if kind == "complete":
        states[key] = op[2]
    elif kind == "cancel":
        states[key] = "cancelled"
    return None


class TestProperties:
    """Whatever valid or refused calls are made, the ledger stays consistent."""

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(ops=operations)
    def test_any_history_verifies_and_rebuilds(self, store: Store, ops: list[Any]) -> None:
        """Rules refuse exactly what the model refuses; verify() is clean; rebuild is identical.

        Examples share the store (one schema per test), so each uses fresh run ids.
        """
        prefix = uuid.uuid4().hex
        states: dict[int, str] = {}
        with store.open() as ledger:
            for op in ops:
                expected = _expected_error(states, op)
                try:
                    _apply(ledger, prefix, op)
                    assert expected is None, op
                except RacsError as exc:
                    assert exc.code == expected, op
            for key, status in states.items():
                run = ledger.get_run(f"{prefix}-{key}")
                assert run is not None and run.status == status
            assert ledger.verify().ok
            before = projections(store)
            ledger.rebuild()
            assert projections(store) == before

    @given(
        payload=st.dictionaries(st.text(), json_values, max_size=5),
        position=st.integers(1, 2**53),
        run_id=st.none() | st.text(min_size=1),
        seq=st.none() | st.integers(1, 10**9),
        type_=st.text(min_size=1),
        timestamp=st.integers(0, 2**53),
    )
    def test_event_form_is_canonical_json(
        self,
        payload: dict[str, Any],
        position: int,
        run_id: str | None,
        seq: int | None,
        type_: str,
        timestamp: int,
    ) -> None:
        """The hashed form equals json.dumps(sort_keys, compact, ensure_ascii=False)."""
        event = {
            "payload": payload,
            "position": position,
            "run_id": run_id,
            "seq": seq,
            "timestamp": timestamp,
            "type": type_,
        }
        expected = json.dumps(
            event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        assert (
            event_json(position, run_id, seq, type_, timestamp, canonical_json(payload)) == expected
        )

    @given(
        st.floats(min_value=0, allow_nan=False, allow_infinity=False),
        st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    )
    def test_buckets_preserve_order(self, a: float, b: float) -> None:
        """A smaller duration never lands in a larger bucket (percentiles rely on it)."""
        low, high = sorted((a, b))
        assert value_bucket(low) <= value_bucket(high)  # type: ignore[operator]

    @given(json_values)
    def test_non_finite_numbers_are_refused_anywhere(self, value: Any) -> None:
        """NaN nested anywhere in a payload makes it invalid."""
        nested = {"outer": [value, {"x": math.nan}]}
        try:
            canonical_json(nested)
        except RacsError as exc:
            assert "payload" in exc.message
        else:
            raise AssertionError("NaN was encoded")

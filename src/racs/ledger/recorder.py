"""The lifecycle and record calls: what a run's life looks like to the caller.

Each call validates its input completely and turns it into one pending event;
``Ledger`` appends it at once (returning its position) and ``Batch`` gathers it for one
transaction. Rules that depend on stored state are checked where the event is appended.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from racs.core.errors import ERR_CONFLICT, RacsError, invalid
from racs.ledger import events as ev
from racs.ledger import validate as v
from racs.ledger.ids import UlidFactory
from racs.ledger.model import (
    RUN_AUTH_VALIDATED,
    RUN_PROVIDER_CALLED,
    RUN_RETRIED,
    RUN_ROUTED,
    Instant,
)
from racs.ledger.seed import COMPLETE_DEFAULTS, START_DEFAULTS, seed_options

R = TypeVar("R", int, None)


class Recorder(Generic[R]):
    """The lifecycle and record calls, shared by ``Ledger`` (returns positions) and ``Batch``.

    A subclass sets ``_clock`` and ``_ids`` and says what submitting an event means.
    """

    _clock: Callable[[], int]
    _ids: UlidFactory

    def _submit(self, event: ev.PendingEvent) -> R:
        raise NotImplementedError

    def _start(self, event: ev.PendingEvent, *, chosen_id: bool) -> None:
        # A generated run id cannot collide, so its start has nothing to report back.
        self._submit(event)

    def _now(self) -> int:
        now = self._clock()
        if type(now) is int:
            return now
        if isinstance(now, bool) or not isinstance(now, int | float):
            raise invalid(f"the ledger clock must return ms since the epoch, got {now!r}")
        return int(now)

    def start_run(
        self,
        options: Mapping[str, Any] | None = None,
        /,
        *,
        workspace_id: str | None = None,
        agent_id: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        auth_type: str = "api",
        execution_mode: str = "interactive",
        compliance_mode: str = "recommended",
        policy_override: bool = False,
        metadata: Mapping[str, Any] | None = None,
        prefix_key: str | None = None,
        plan_id: str | None = None,
        run_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Start a run and return its id (a ULID unless ``run_id`` is given).

        The fields come as keywords or, in the @relayplane/ledger seed's style, as one
        mapping ``start_run({"workspace_id": ..., ...})`` (snake_case or camelCase keys);
        ``workspace_id``, ``agent_id``, ``provider`` and ``model`` are required either way.

        With ``idempotency_key`` (unique per workspace) a retried call returns the run the
        first call started instead of starting another; the run id is then derived from
        the workspace and the key (see ``idempotent_run_id``). Reusing a key for a run with
        different fields is ERR_CONFLICT. In a batch, a key already used fails the commit.
        """
        if options is not None:
            given = {
                "workspace_id": workspace_id,
                "agent_id": agent_id,
                "provider": provider,
                "model": model,
                "auth_type": auth_type,
                "execution_mode": execution_mode,
                "compliance_mode": compliance_mode,
                "policy_override": policy_override,
                "metadata": metadata,
                "prefix_key": prefix_key,
                "plan_id": plan_id,
                "run_id": run_id,
                "idempotency_key": idempotency_key,
            }
            return self.start_run(**seed_options("start_run", options, given, START_DEFAULTS))
        required = {"workspace_id": workspace_id, "agent_id": agent_id}
        required.update(provider=provider, model=model)
        missing = [name for name, value in required.items() if value is None]
        if missing:
            raise invalid(f"start_run: missing required field(s): {', '.join(missing)}")
        now = self._now()
        if idempotency_key is not None:
            if run_id is not None:
                raise invalid("give run_id or idempotency_key, not both")
            rid = idempotent_run_id(
                v.identifier("workspace_id", workspace_id),
                v.identifier("idempotency_key", idempotency_key),
            )
        else:
            rid = self._ids.new(now) if run_id is None else v.identifier("run_id", run_id)
        event = ev.run_started(
            rid,
            now,
            workspace_id=workspace_id,
            agent_id=agent_id,
            provider=provider,
            model=model,
            auth_type=auth_type,
            execution_mode=execution_mode,
            compliance_mode=compliance_mode,
            policy_override=policy_override,
            metadata=metadata,
            prefix_key=prefix_key,
            plan_id=plan_id,
            idempotency_key=idempotency_key,
        )
        try:
            self._start(event, chosen_id=run_id is not None or idempotency_key is not None)
        except RacsError as exc:
            if idempotency_key is None or exc.code != ERR_CONFLICT:
                raise
            self._replayed(rid, event)
        return rid

    def _replayed(self, run_id: str, event: ev.PendingEvent) -> None:
        """Accept a start whose idempotency key already started ``run_id``, or raise."""
        raise RacsError(ERR_CONFLICT, f"run {run_id!r} already exists")

    def complete_run(
        self,
        run_id: str,
        options: Mapping[str, Any] | None = None,
        /,
        *,
        status: str = "completed",
        latency_ms: float | None = None,
        ttft_ms: float | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        total_tokens: int | None = None,
        cost_usd: float | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens_5m: int | None = None,
        cache_write_tokens_30m: int | None = None,
        cache_write_tokens_1h: int | None = None,
        error: Mapping[str, str] | BaseException | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> R:
        """End a run as ``completed`` or ``failed`` (with ``error`` code and message).

        ``cache_write_tokens_30m`` counts cache writes billed on the 30-minute tier (OpenAI).
        The fields may also come as one mapping, ``complete_run(run_id, {...})`` (the seed's
        style).
        """
        metrics = {
            "latency_ms": latency_ms,
            "ttft_ms": ttft_ms,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": total_tokens,
            "cost_usd": cost_usd,
            "cache_read_tokens": cache_read_tokens,
            "cache_write_tokens_5m": cache_write_tokens_5m,
            "cache_write_tokens_30m": cache_write_tokens_30m,
            "cache_write_tokens_1h": cache_write_tokens_1h,
        }
        if options is not None:
            given = {"status": status, **metrics, "error": error, "metadata": metadata}
            fields = seed_options("complete_run", options, given, COMPLETE_DEFAULTS)
            return self.complete_run(run_id, **fields)
        return self._submit(
            ev.run_ended(
                run_id, self._now(), status=status, metrics=metrics, error=error, metadata=metadata
            )
        )

    def cancel_run(self, run_id: str, reason: str | None = None) -> R:
        """End a run as ``cancelled``."""
        return self._submit(ev.run_cancelled(run_id, self._now(), reason))

    def record_auth_validation(self, run_id: str, payload: Mapping[str, Any]) -> R:
        """Record the result of the run's auth check."""
        return self._submit(ev.run_record(RUN_AUTH_VALIDATED, run_id, self._now(), payload))

    def record_policy_evaluation(
        self, run_id: str, decisions: Sequence[Any], policy_override: bool | None = None
    ) -> R:
        """Record policy decisions; ``policy_override=True`` marks the run as overridden."""
        return self._submit(ev.policy_evaluated(run_id, self._now(), decisions, policy_override))

    def record_routing(self, run_id: str, decision: Mapping[str, Any]) -> R:
        """Record the routing decision (the run keeps the provider and model it started with)."""
        return self._submit(ev.run_record(RUN_ROUTED, run_id, self._now(), decision))

    def record_provider_call(self, run_id: str, payload: Mapping[str, Any]) -> R:
        """Record a request sent to the provider (timing, status, ...)."""
        return self._submit(ev.run_record(RUN_PROVIDER_CALLED, run_id, self._now(), payload))

    def record_retry(self, run_id: str, payload: Mapping[str, Any]) -> R:
        """Record a retry attempt; the run's ``retries`` counts them."""
        return self._submit(ev.run_record(RUN_RETRIED, run_id, self._now(), payload))

    def record_cache_usage(
        self,
        *,
        provider: str,
        model: str,
        input_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens_5m: int = 0,
        cache_write_tokens_30m: int = 0,
        cache_write_tokens_1h: int = 0,
        timestamp: Instant | float | None = None,
        prefix_key: str | None = None,
        agent_id: str | None = None,
        workspace_id: str | None = None,
        run_id: str | None = None,
    ) -> R:
        """Append a ``cache.usage`` record (the planning engine's usage accounting).

        ``input_tokens`` is all-in (cached tokens included). ``timestamp`` is when the usage
        happened (default: now) and is what ``cache_usage_totals`` windows filter on. A
        ``run_id`` must name an existing run, which may already have ended. Cache writes are
        split by billing tier: 5 minutes, 30 minutes (OpenAI) and 1 hour.
        """
        return self._submit(
            ev.cache_usage(
                self._now(),
                provider=provider,
                model=model,
                input_tokens=input_tokens,
                cache_read_tokens=cache_read_tokens,
                cache_write_tokens_5m=cache_write_tokens_5m,
                cache_write_tokens_30m=cache_write_tokens_30m,
                cache_write_tokens_1h=cache_write_tokens_1h,
                usage_timestamp=timestamp,
                prefix_key=prefix_key,
                agent_id=agent_id,
                workspace_id=workspace_id,
                run_id=run_id,
            )
        )


def idempotent_run_id(workspace_id: str, key: str) -> str:
    """The run id a start with idempotency ``key`` gets in ``workspace_id``.

    A digest, so every process and host derives the same id and the runs primary key
    itself refuses the duplicate, with no lookup table to keep in step.
    """
    digest = hashlib.sha256(f"{workspace_id}\n{key}".encode()).hexdigest()
    return "idem-" + digest[:32]

"""One plan's round trip to a shared (fleet) state: the fleet's answer replaces the local one."""

from __future__ import annotations

from typing import Final

from racs.core.model import Pricing, ProviderProfile, ResourceDirective, TelemetryEvent
from racs.engine.memories import Memories, fingerprint, lineage_of
from racs.planning import planner
from racs.planning.inputs import ResolvedPrompt
from racs.planning.keepwarm import ResourceRecord, keepwarm_ttl
from racs.state.shared import PlanRound, SharedState

_FLEET_RESOURCE_STATE: Final[dict[str, planner.ResourceState]] = {
    "create": "absent",
    "reuse": "live",
    "refresh": "due",
}


class Fleet:
    """This host's side of a shared state's plan rounds."""

    def __init__(self, shared: SharedState, memories: Memories, seed: int) -> None:
        self._shared = shared
        self._memories = memories
        self._seed = seed

    def round(
        self,
        prompt: ResolvedPrompt,
        profile: ProviderProfile,
        pricing: Pricing | None,
        prefix_key: str,
        anchor: int | None,
        outcome: planner.Outcome,
        tracked: bool,
        now: float,
        events: list[TelemetryEvent],
    ) -> tuple[planner.Outcome, str]:
        """Tell the fleet about this plan in one round trip; take its resource action, plan
        id and the lineage's previous fingerprint in place of the local ones."""
        lineage = lineage_of(prompt)
        resource = next((d for d in outcome.directives if isinstance(d, ResourceDirective)), None)
        action = None if resource is None or resource.action == "delete" else resource.action
        ttl = None if resource is None else float(resource.ttl_seconds)
        reply = self._shared.plan_round(
            PlanRound(
                now=now,
                prefix_key=prefix_key,
                provider=prompt.provider,
                model=prompt.model,
                lineage=lineage,
                fingerprint=fingerprint(prompt, prefix_key, outcome.directives),
                resource_ttl=None if action is None else ttl,
                resource_tokens=prompt.stable_tokens,
                local_action=action,
                keepwarm=keepwarm_ttl(outcome.directives),
            ),
            self._seed,
            events,
        )
        for key, provider in reply.forget:
            self._memories.forget(key, provider)
        if not reply.fleet:
            return outcome, reply.plan_id
        self._memories.adopt(lineage, reply.previous)
        fleet_action = reply.resource_action
        if fleet_action is not None and fleet_action != action:
            last_write = reply.resource_last_write
            if fleet_action == "reuse" and tracked and ttl is not None and last_write is not None:
                self._memories.adopt_resource(
                    ResourceRecord(
                        prefix_key,
                        prompt.provider,
                        prompt.model,
                        ttl,
                        last_write,
                        prompt.stable_tokens,
                    )
                )
            state = _FLEET_RESOURCE_STATE[fleet_action]
            outcome = planner.plan_family(prompt, profile, pricing, prefix_key, state, anchor)
        return outcome, reply.plan_id

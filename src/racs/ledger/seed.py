"""The @relayplane/ledger seed's calling style: one mapping of fields per call.

``start_run({"workspace_id": ...})`` and ``complete_run(run_id, {...})`` map onto the
keyword arguments of ``Ledger``; keys may be snake_case (the seed's) or camelCase (the wire
form). The defaults mirror the keyword defaults of those two methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from racs.core.errors import invalid

START_DEFAULTS: Final[Mapping[str, Any]] = {
    "workspace_id": None,
    "agent_id": None,
    "provider": None,
    "model": None,
    "auth_type": "api",
    "execution_mode": "interactive",
    "compliance_mode": "recommended",
    "policy_override": False,
    "metadata": None,
    "prefix_key": None,
    "plan_id": None,
    "run_id": None,
    "idempotency_key": None,
}
COMPLETE_DEFAULTS: Final[Mapping[str, Any]] = {
    "status": "completed",
    "latency_ms": None,
    "ttft_ms": None,
    "input_tokens": None,
    "output_tokens": None,
    "total_tokens": None,
    "cost_usd": None,
    "cache_read_tokens": None,
    "cache_write_tokens_5m": None,
    "cache_write_tokens_30m": None,
    "cache_write_tokens_1h": None,
    "error": None,
    "metadata": None,
}


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def seed_options(
    method: str,
    options: object,
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
) -> dict[str, Any]:
    """One mapping of fields (snake_case or camelCase), the seed's calling style."""
    if not isinstance(options, Mapping):
        raise invalid(f"{method}: options must be a mapping of fields")
    if any(given.get(name, default) != default for name, default in defaults.items()):
        raise invalid(f"{method}: pass the fields either as one mapping or as keywords")
    out: dict[str, Any] = {}
    for key, value in options.items():
        name = _snake(key) if isinstance(key, str) else None
        if name is not None and name not in defaults:  # cacheWriteTokens5m and its tiers
            name = name[:-2] + "_" + name[-2:] if name[-2:] in ("5m", "1h") else name
            name = name[:-3] + "_" + name[-3:] if name.endswith("30m") else name
        if name is None or name not in defaults:
            raise invalid(f"{method}: unknown field {key!r}")
        out[name] = value
    return out

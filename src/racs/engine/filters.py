"""The filters of ``stats`` and ``invalidate``, in racs's and @takk/racs's calling styles.

racs takes keyword arguments (``stats(prefix_key=...)``); the reference takes one object
(``stats({prefixKey})``). Both spellings of each option are accepted; an unknown option
raises instead of silently matching nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from racs.core.errors import invalid

INVALIDATE_OPTIONS: Final = {
    "prefixKey": "prefix_key",
    "prefix_key": "prefix_key",
    "provider": "provider",
}
STATS_OPTIONS: Final = {
    **INVALIDATE_OPTIONS,
    "model": "model",
    "agentId": "agent_id",
    "agent_id": "agent_id",
    "since": "since",
    "until": "until",
}


def filter_options(
    method: str, options: Mapping[str, Any], others: tuple[Any, ...], known: Mapping[str, str]
) -> dict[str, Any]:
    """One mapping of filter options (either spelling), the @takk/racs calling style."""
    if any(other is not None for other in others):
        raise invalid(f"{method}: pass the filter either as one mapping or as arguments")
    out: dict[str, Any] = {}
    for key, value in options.items():
        name = known.get(key) if isinstance(key, str) else None
        if name is None:
            names = ", ".join(k for k in known if "_" not in k)
            raise invalid(f"{method}: unknown option {key!r}; expected {names}")
        if value is not None:
            out[name] = value
    return out


def check_filter(prefix_key: object, provider: object) -> None:
    """Refuse a prefix key or provider filter that is not a string."""
    if prefix_key is not None and not isinstance(prefix_key, str):
        raise invalid(f"prefix_key must be a string, got {type(prefix_key).__name__}")
    if provider is not None and not isinstance(provider, str):
        raise invalid(f"provider must be a string, got {type(provider).__name__}")

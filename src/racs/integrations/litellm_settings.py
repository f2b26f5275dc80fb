"""The racs block of a LiteLLM proxy's ``config.yaml``: global, per-model and per-key.

::

    litellm_settings:
      callbacks: racs.integrations.litellm.proxy_hook
      racs_settings:
        ledger: os.environ/RACS_LEDGER        # path or postgresql:// URL
        redis: redis://127.0.0.1:6379/0       # engine state shared by every worker
        reuse_policy: learned
        stability: {history: stable}
        models:
          claude-*: {reuse: {interval_seconds: 600}}
        keys:
          batch-jobs: {enabled: false}

Request settings (``enabled``, ``stability``, ``reuse``, ``agent_id``, ``workspace_id``,
``injection_points``) apply globally, then per model group (exact name or a prefix ending
in ``*``; the longest pattern wins), then per virtual key (its alias under ``keys``, then
a ``racs`` mapping in the key's own metadata). A later layer replaces the settings it
names; ``stability`` mappings merge. Engine settings (``ledger``, ``redis``,
``redis_prefix``, ``reuse_policy``, ``key_scheme``) are global: one engine per proxy worker.
A value ``os.environ/NAME`` reads the environment variable, as LiteLLM's own settings do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from racs.core.errors import invalid
from racs.core.model import STABILITIES

_REQUEST_KEYS: Final = frozenset(
    {"enabled", "stability", "reuse", "agent_id", "workspace_id", "injection_points"}
)
_ENGINE_KEYS: Final = frozenset(
    {"ledger", "redis", "redis_prefix", "reuse_policy", "key_scheme", "models", "keys"}
)
_ROLES: Final = frozenset({"tools", "system", "history", "dynamic"})
INJECTION_POLICIES: Final = ("defer", "combine")
"""``defer``: where LiteLLM's ``cache_control_injection_points`` are configured, they place
the markers and racs adds none; ``combine``: racs marks first, LiteLLM's points fill the
slots left (LiteLLM never marks a message already marked, nor goes past 4)."""


@dataclass(frozen=True, slots=True)
class RequestSettings:
    """What racs does for one request."""

    enabled: bool = True
    stability: Mapping[str, str] = field(default_factory=dict)
    """Stability by segment id (``tools``, ``msg-3``) or role (``system``, ``history``,
    ``dynamic``, ``tools``); the segment id wins."""
    reuse: Mapping[str, float] | None = None
    agent_id: str | None = None
    workspace_id: str = "default"
    injection_points: str = "defer"

    def stability_override(self) -> Callable[[str, str, str], str | None] | None:
        """The adapters' stability override for these settings (``None``: defaults)."""
        if not self.stability:
            return None
        table = self.stability

        def override(segment_id: str, role: str, default: str) -> str | None:
            return table.get(segment_id) or table.get(role)

        return override


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The whole racs block, validated."""

    defaults: RequestSettings = field(default_factory=RequestSettings)
    models: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    keys: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ledger: str | None = None
    redis: str | None = None
    redis_prefix: str = "racs:"
    reuse_policy: str = "reference"
    key_scheme: str = "blake2b"

    def for_request(
        self,
        model_group: str | None,
        key_alias: str | None = None,
        key_metadata: Mapping[str, Any] | None = None,
    ) -> RequestSettings:
        """The settings of one request: global, then its model group, then its key."""
        settings = self.defaults
        if model_group:
            match = _best_match(self.models, model_group)
            if match is not None:
                settings = _merge(settings, match)
        if key_alias and key_alias in self.keys:
            settings = _merge(settings, self.keys[key_alias])
        own = key_metadata.get("racs") if isinstance(key_metadata, Mapping) else None
        if isinstance(own, Mapping):
            settings = _merge(settings, _request_layer(own, "key metadata racs"))
        return settings


def parse_settings(raw: Any, where: str = "racs_settings") -> ProxySettings:
    """Validate a ``racs_settings`` mapping; ``ERR_INVALID_INPUT`` names the bad entry."""
    if raw is None:
        return ProxySettings()
    if not isinstance(raw, Mapping):
        raise invalid(f"{where} must be a mapping")
    unknown = set(raw) - _REQUEST_KEYS - _ENGINE_KEYS
    if unknown:
        raise invalid(f"{where}: unknown setting {sorted(unknown)[0]!r}")
    defaults = _merge(RequestSettings(), _request_layer(raw, where, engine_keys=True))
    models = []
    for pattern, layer in _mapping(raw.get("models"), f"{where}.models").items():
        models.append((str(pattern), _request_layer(layer, f"{where}.models.{pattern}")))
    keys = {
        str(alias): _request_layer(layer, f"{where}.keys.{alias}")
        for alias, layer in _mapping(raw.get("keys"), f"{where}.keys").items()
    }
    policy = _text(raw, "reuse_policy", where) or "reference"
    if policy not in ("reference", "learned"):
        raise invalid(f"{where}.reuse_policy must be 'reference' or 'learned'")
    scheme = _text(raw, "key_scheme", where) or "blake2b"
    if scheme not in ("blake2b", "fnv1a64"):
        raise invalid(f"{where}.key_scheme must be 'blake2b' or 'fnv1a64'")
    return ProxySettings(
        defaults=defaults,
        models=tuple(models),
        keys=keys,
        ledger=_text(raw, "ledger", where),
        redis=_text(raw, "redis", where),
        redis_prefix=_text(raw, "redis_prefix", where) or "racs:",
        reuse_policy=policy,
        key_scheme=scheme,
    )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid(f"{where} must be a mapping")
    return value


def _text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise invalid(f"{where}.{key} must be a non-empty string")
    if value.startswith("os.environ/"):
        name = value.removeprefix("os.environ/")
        resolved = os.environ.get(name)
        if not resolved:
            raise invalid(f"{where}.{key}: environment variable {name} is not set")
        return resolved
    return value


def _request_layer(raw: Any, where: str, *, engine_keys: bool = False) -> dict[str, Any]:
    """The request settings one layer sets, validated."""
    if not isinstance(raw, Mapping):
        raise invalid(f"{where} must be a mapping")
    allowed = _REQUEST_KEYS | (_ENGINE_KEYS if engine_keys else frozenset())
    unknown = set(raw) - allowed
    if unknown:
        name = sorted(unknown)[0]
        hint = " (engine settings are global)" if name in _ENGINE_KEYS else ""
        raise invalid(f"{where}: unknown setting {name!r}{hint}")
    layer: dict[str, Any] = {}
    if "enabled" in raw:
        if not isinstance(raw["enabled"], bool):
            raise invalid(f"{where}.enabled must be true or false")
        layer["enabled"] = raw["enabled"]
    if "stability" in raw:
        layer["stability"] = _stability(raw["stability"], f"{where}.stability")
    if "reuse" in raw:
        layer["reuse"] = _reuse(raw["reuse"], f"{where}.reuse")
    for key in ("agent_id", "workspace_id"):
        if key in raw:
            layer[key] = _text(raw, key, where)
    if "injection_points" in raw:
        if raw["injection_points"] not in INJECTION_POLICIES:
            raise invalid(f"{where}.injection_points must be 'defer' or 'combine'")
        layer["injection_points"] = raw["injection_points"]
    return layer


def _stability(raw: Any, where: str) -> dict[str, str]:
    table = _mapping(raw, where)
    out: dict[str, str] = {}
    for key, value in table.items():
        name = str(key)
        if name not in _ROLES and not (name.startswith("msg-") and name[4:].isdigit()):
            raise invalid(f"{where}: {name!r} is neither a role {sorted(_ROLES)} nor msg-<n>")
        if value not in STABILITIES:
            raise invalid(f"{where}.{name} must be one of {list(STABILITIES)}")
        out[name] = value
    return out


def _reuse(raw: Any, where: str) -> dict[str, float] | None:
    if raw is None:
        return None
    table = _mapping(raw, where)
    out: dict[str, float] = {}
    for key, value in table.items():
        if key not in ("interval_seconds", "calls_per_hour", "intervalSeconds", "callsPerHour"):
            raise invalid(f"{where}: unknown setting {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise invalid(f"{where}.{key} must be a positive number")
        out[key] = float(value)
    return out


def _best_match(
    patterns: tuple[tuple[str, Mapping[str, Any]], ...], name: str
) -> Mapping[str, Any] | None:
    """The layer of the exact name, else of the longest ``prefix*`` pattern matching."""
    best: tuple[int, Mapping[str, Any]] | None = None
    for pattern, layer in patterns:
        if pattern == name:
            return layer
        wider = pattern.endswith("*") and name.startswith(pattern[:-1])
        if wider and (best is None or len(pattern) > best[0]):
            best = (len(pattern), layer)
    return best[1] if best is not None else None


def _merge(settings: RequestSettings, layer: Mapping[str, Any]) -> RequestSettings:
    changes = {k: v for k, v in layer.items() if k in _REQUEST_KEYS}
    if "stability" in changes:
        changes["stability"] = {**settings.stability, **changes["stability"]}
    return replace(settings, **changes)

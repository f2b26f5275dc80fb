"""Old module paths of racs 0.1 that moved when the package was laid out by layer.

``import racs.accounting`` (and every other name below) still works for one release: it
gives a module that forwards to the new one and warns once with a ``DeprecationWarning``.
A forwarding module rather than the new module itself, because the import system would
overwrite the real module's ``__spec__`` (which ``importlib.resources`` reads).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any, Final

# Not importlib.abc / importlib.util: importing them loads importlib.resources (pathlib,
# tempfile, ...), about 40 ms that every `racs` command would pay; a finder and a loader
# only need these methods.

MOVED: Final[dict[str, str]] = {
    "racs.accounting": "racs.core.accounting",
    "racs.catalog": "racs.core.catalog",
    "racs.errors": "racs.core.errors",
    "racs.filters": "racs.engine.filters",
    "racs.inputs": "racs.planning.inputs",
    "racs.keepwarm": "racs.planning.keepwarm",
    "racs.keys": "racs.core.keys",
    "racs.learning.replay": "racs.replay.learned",
    "racs.ledgerstats": "racs.engine.stats",
    "racs.limits": "racs.core.limits",
    "racs.lint": "racs.planning.lint",
    "racs.loop": "racs.integrations.loop",
    "racs.model": "racs.core.model",
    "racs.planner": "racs.planning.planner",
    "racs.prices": "racs.core.prices",
    "racs.private": "racs.core.files",
    "racs.profiles": "racs.core.profiles",
    "racs.replay.cache": "racs.core.cache",
    "racs.replay.family": "racs.core.cache",
    "racs.providers._common": "racs.providers.common",
    "racs.drift": "racs.planning.drift",
    "racs.tiers": "racs.core.tiers",
    "racs.usage": "racs.planning.usage",
}
"""Old dotted name -> where the module lives now."""


class _Forwarder:
    """Finds the old names and loads a module forwarding attribute access to the new one."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for an old name, ``None`` for everything else."""
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)  # type: ignore[arg-type]

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        """A fresh module; ``exec_module`` makes it forward."""
        return types.ModuleType(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        """Warn, then forward every attribute to the module's new home."""
        new = MOVED[module.__name__]
        warnings.warn(
            f"{module.__name__} moved to {new}; the old name will be removed in racs 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        target = importlib.import_module(new)

        def forward(name: str) -> Any:
            return getattr(target, name)

        module.__getattr__ = forward  # type: ignore[method-assign]
        module.__dict__["__all__"] = [n for n in dir(target) if not n.startswith("_")]
        module.__doc__ = f"Deprecated alias of {new}."


def install() -> None:
    """Put the forwarder on the import path once (idempotent)."""
    if not any(isinstance(f, _Forwarder) for f in sys.meta_path):
        sys.meta_path.append(_Forwarder())

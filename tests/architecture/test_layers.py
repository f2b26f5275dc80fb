"""The package's rooms import only downwards, and no module reaches into another's privates.

The layers are written down in ``layers.LAYERS`` (and in the README's Development section):
facts and money at the bottom (``racs.core``), then the planner's pieces and the adapters,
the ledger and the state, the engine, traffic, replay and the simulation, the report and
the integrations, and the command line and the service on top.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from tests.architecture import layers

SRC = Path(__file__).resolve().parents[2] / "src"

KNOWN: frozenset[str] = frozenset()
"""Violations still being removed, without line numbers (empty: none are tolerated)."""


def _unknown(found: list[str]) -> set[str]:
    return {f for f in found if re.sub(r":\d+ ", " ", f) not in KNOWN}


class TestLayers:
    def test_no_import_runs_up_a_layer_or_at_a_private_name(self) -> None:
        """Every racs import goes to a lower layer (or the same one), never to a _name."""
        found = _unknown(layers.violations(SRC))
        assert not found, "\n".join(sorted(found))

    def test_no_module_touches_another_objects_underscore_attributes(self) -> None:
        """``x._name`` is only ever read or written on ``self`` or ``cls``."""
        found = _unknown(layers.foreign_private_attributes(SRC))
        assert not found, "\n".join(sorted(found))

    def test_core_imports_nothing_above_it(self) -> None:
        """The bottom layer is self-contained (the engine's standard-library core)."""
        up = [i for i in layers.imports(SRC) if layers.room(i.module) == "core"]
        assert all(layers.room(i.target) == "core" for i in up)

    def test_every_room_is_in_a_layer(self) -> None:
        """A new folder under racs/ must be placed in the table before it can be used."""
        rooms = {layers.room(name) for name, _ in layers.modules(SRC)}
        placed = {r for layer in layers.LAYERS for r in layer} | set(layers.TOP)
        assert rooms <= placed, rooms - placed

    def test_checker_finds_an_upward_import(self, tmp_path: Path) -> None:
        """The checker itself can fail: a core module importing the engine is named."""
        core = tmp_path / "racs" / "core"
        core.mkdir(parents=True)
        (tmp_path / "racs" / "__init__.py").write_text("")
        (core / "__init__.py").write_text("")
        (core / "bad.py").write_text("from racs.engine import Racs\nfrom racs.core.x import _y\n")
        found = layers.violations(tmp_path)
        assert "racs.core.bad:1 imports racs.engine (layer 3) from layer 0" in found
        assert "racs.core.bad:2 imports private name _y from racs.core.x" in found


class TestMovedModules:
    def test_old_module_paths_still_import_with_a_warning(self) -> None:
        """``racs.accounting`` (0.1's path) forwards to ``racs.core.accounting``."""
        import importlib
        import sys

        sys.modules.pop("racs.accounting", None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old = importlib.import_module("racs.accounting")
        from racs.core.accounting import cost_of

        assert old.cost_of is cost_of
        assert any(issubclass(w.category, DeprecationWarning) for w in caught)

"""The planning engine: ``Racs`` and the constructors (the rooms it wires live beside it)."""

from racs.engine.engine import Racs, create_racs, create_racs_async

__all__ = ["Racs", "create_racs", "create_racs_async"]

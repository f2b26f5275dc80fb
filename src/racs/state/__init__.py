"""Snapshot backends for the engine's state."""

from .base import SNAPSHOT_VERSION, StateBackend
from .file import FileState, file_state
from .kv import KvState, kv_state
from .memory import MemoryState, memory_state

__all__ = [
    "SNAPSHOT_VERSION",
    "FileState",
    "KvState",
    "MemoryState",
    "StateBackend",
    "file_state",
    "kv_state",
    "memory_state",
]

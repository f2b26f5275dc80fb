"""State backends: snapshots (memory, file, key-value) and the shared Redis state."""

from .base import SNAPSHOT_VERSION, StateBackend
from .file import FileState, file_state
from .kv import KvState, kv_state
from .memory import MemoryState, memory_state
from .redis_state import RedisState, redis_state
from .shared import SharedState

__all__ = [
    "SNAPSHOT_VERSION",
    "FileState",
    "KvState",
    "MemoryState",
    "RedisState",
    "SharedState",
    "StateBackend",
    "file_state",
    "kv_state",
    "memory_state",
    "redis_state",
]

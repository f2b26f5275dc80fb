"""State backends: snapshots (memory, file, key-value) and the shared Redis state."""

from racs.state.base import SNAPSHOT_VERSION, StateBackend
from racs.state.file import FileState, file_state
from racs.state.kv import KvState, kv_state
from racs.state.memory import MemoryState, memory_state
from racs.state.redis_state import RedisState, redis_state
from racs.state.shared import SharedState

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

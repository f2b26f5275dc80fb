"""Key-value snapshot backend over any client with get/set/delete (sync or asyncio)."""

from __future__ import annotations

import inspect
from typing import Any

from racs.core.errors import ERR_INVALID_INPUT, ERR_STATE_IO, RacsError
from racs.state.base import decode, encode

DEFAULT_KEY = "racs:state"


class KvState:
    """A snapshot stored under one key of a key-value store (Redis, Valkey, a dict...).

    The client needs ``get(key)``, ``set(key, value)`` and ``delete(key)``; they may be
    coroutines (``redis.asyncio``), in which case use the engine's async API.
    """

    def __init__(self, client: Any, key: str = DEFAULT_KEY) -> None:
        for method in ("get", "set", "delete"):
            if not callable(getattr(client, method, None)):
                raise RacsError(ERR_INVALID_INPUT, f"kv_state client has no {method}() method")
        if not isinstance(key, str) or not key:
            raise RacsError(ERR_INVALID_INPUT, "kv_state key must be a non-empty string")
        self.client = client
        self.key = key
        self.is_async = inspect.iscoroutinefunction(client.get) or is_async_client(client)

    def _sync_result(self, result: Any) -> Any:
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise RacsError(
                ERR_INVALID_INPUT,
                "this key-value client is asynchronous: use `await create_racs_async(...)`, "
                "`await engine.aflush()` and `await engine.aclose()`",
            )
        return result

    def load(self) -> dict[str, Any] | None:
        """The stored snapshot, None when the key is absent."""
        try:
            raw = self._sync_result(self.client.get(self.key))
        except RacsError:
            raise
        except Exception as exc:
            raise RacsError(ERR_STATE_IO, f"cannot read state key {self.key!r}: {exc}") from None
        return decode(raw, f"key {self.key!r}")

    def save(self, snapshot: dict[str, Any]) -> None:
        """Store the snapshot under the key."""
        text = encode(snapshot)
        try:
            self._sync_result(self.client.set(self.key, text))
        except RacsError:
            raise
        except Exception as exc:
            raise RacsError(ERR_STATE_IO, f"cannot write state key {self.key!r}: {exc}") from None

    def clear(self) -> None:
        """Delete the stored snapshot."""
        try:
            self._sync_result(self.client.delete(self.key))
        except RacsError:
            raise
        except Exception as exc:
            raise RacsError(ERR_STATE_IO, f"cannot delete state key {self.key!r}: {exc}") from None

    async def aload(self) -> dict[str, Any] | None:
        """``load`` for asyncio hosts; works with sync and async clients."""
        try:
            raw = self.client.get(self.key)
            if inspect.isawaitable(raw):
                raw = await raw
        except Exception as exc:
            raise RacsError(ERR_STATE_IO, f"cannot read state key {self.key!r}: {exc}") from None
        return decode(raw, f"key {self.key!r}")

    async def asave(self, snapshot: dict[str, Any]) -> None:
        """``save`` for asyncio hosts; works with sync and async clients."""
        text = encode(snapshot)
        try:
            result = self.client.set(self.key, text)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            raise RacsError(ERR_STATE_IO, f"cannot write state key {self.key!r}: {exc}") from None

    async def aclear(self) -> None:
        """``clear`` for asyncio hosts."""
        try:
            result = self.client.delete(self.key)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            raise RacsError(ERR_STATE_IO, f"cannot delete state key {self.key!r}: {exc}") from None


def is_async_client(client: Any) -> bool:
    module = type(client).__module__
    return ".asyncio" in module or module.endswith("aio")


def kv_state(client: Any, key: str = DEFAULT_KEY) -> KvState:
    """A snapshot backend over a key-value client (``get``/``set``/``delete``)."""
    return KvState(client, key)

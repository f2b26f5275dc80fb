"""Telemetry: the engine's listeners, called in subscription order, never allowed to raise."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from racs.core.errors import invalid
from racs.core.model import TelemetryEvent

log = logging.getLogger("racs")

Listener = Callable[[TelemetryEvent], None]


class Telemetry:
    """The subscribed listeners; ``emit`` runs them outside the engine's lock."""

    def __init__(self) -> None:
        self.listeners: tuple[Listener, ...] = ()
        """Subscribed, in order (empty: events nobody reads need not be built)."""
        self._lock = threading.Lock()

    def on(self, listener: Listener) -> Callable[[], None]:
        """Subscribe; returns an idempotent unsubscribe function."""
        if not callable(listener):
            raise invalid("listener must be callable")
        token = _Subscription(listener)
        with self._lock:
            self.listeners = (*self.listeners, token)

        def unsubscribe() -> None:
            with self._lock:
                self.listeners = tuple(x for x in self.listeners if x is not token)

        return unsubscribe

    def emit(self, events: list[TelemetryEvent]) -> None:
        """Hand each event to every listener; a raising listener is logged and skipped."""
        listeners = self.listeners
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:  # a listener must never break the engine
                    log.exception("racs telemetry listener raised on %s", event.type)


class _Subscription:
    """A listener wrapped so that subscribing the same function twice gives two tokens."""

    __slots__ = ("listener",)

    def __init__(self, listener: Listener) -> None:
        self.listener = listener

    def __call__(self, event: TelemetryEvent) -> None:
        self.listener(event)

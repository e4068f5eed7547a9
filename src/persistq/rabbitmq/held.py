"""The deliveries a consumer holds, found again by message: pure, no I/O."""

from __future__ import annotations

import collections
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Held(Generic[T]):
    """Deliveries handed out by ``get`` and not yet acknowledged, by payload; equal
    messages are handed back first in, first out (as ``task_done(obj)`` names a
    message, not a delivery)."""

    def __init__(self) -> None:
        self._by_payload: dict[bytes, collections.deque[T]] = {}
        self._lock = threading.Lock()

    def add(self, payload: bytes, delivery: T) -> None:
        """Remember ``delivery`` of the message with ``payload``."""
        with self._lock:
            self._by_payload.setdefault(payload, collections.deque()).append(delivery)

    def take(self, payload: bytes) -> T | None:
        """Forget and return the oldest held delivery of ``payload`` (None if none)."""
        with self._lock:
            deliveries = self._by_payload.get(payload)
            if not deliveries:
                return None
            delivery = deliveries.popleft()
            if not deliveries:
                del self._by_payload[payload]
            return delivery

    def __len__(self) -> int:
        with self._lock:
            return sum(map(len, self._by_payload.values()))

"""What one connection's consumer has received: deliveries, held messages, and the
producers' state from the control stream; and the wait of ``get`` on them."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from persistq.errors import BrokerError
from persistq.rabbitmq.control import Absences, ControlState, conclusion, fold
from persistq.rabbitmq.held import Held
from persistq.rabbitmq.link import Delivery, Link, wait

log = logging.getLogger(__name__)

WAIT_SLICE_S = 0.5
COUNT_EVERY_S = 0.2
PROBE_EVERY_S = 1.0
Reader = Callable[[Delivery], "tuple[Any] | None"]


class Inbox:
    """Deliveries and control records of one link (fed on its I/O thread), and the
    deliveries handed out by :meth:`get` until they are taken back by :meth:`take`."""

    def __init__(self, where: str, retry_seconds: float, lease: float | None) -> None:
        self._where = where
        self._retry_seconds = retry_seconds
        self._lease = lease
        self._absences = Absences()
        self._probed_at = float("-inf")
        self._deliveries: queue.Queue[Delivery | None] = queue.Queue()
        self.held: Held[Delivery] = Held()
        self._control = ControlState()
        self._lock = threading.Lock()
        self._ready: int | None = None
        self._counted_at = float("-inf")

    # -- fed on the I/O thread -------------------------------------------------------

    def on_delivery(self, delivery: Delivery) -> None:
        """A message arrived."""
        self._deliveries.put(delivery)

    def on_control(self, body: bytes) -> None:
        """A control record arrived: fold it in and wake ``get``."""
        with self._lock:
            taken = fold(self._control, body, self._where)
        if taken:
            self._deliveries.put(None)

    def on_control_reset(self) -> None:
        """The control stream is read again from its start."""
        with self._lock:
            self._control = ControlState()

    # -- the caller's side -----------------------------------------------------------

    def failed_producers(self) -> list[str]:
        """The producers that failed, as far as the records read so far say."""
        with self._lock:
            return list(self._control.failed)

    def get(self, link: Link, read: Reader, block: bool, timeout: float | None) -> Any:
        """The next message (``read`` from a delivery; None to skip it), DONE or FAILED,
        as ``RabbitMQQueue.get`` promises; ``queue.Empty`` after ``timeout``."""
        forever = block and timeout is None
        deadline = time.monotonic() + ((timeout or 0.0) if block else 0.0)
        while True:
            link.check()
            seconds = WAIT_SLICE_S if forever else min(WAIT_SLICE_S, deadline - time.monotonic())
            delivery = None if self.failed_producers() else self._next(seconds)
            if delivery is not None:
                if link.lost.get(delivery.generation) is not None:
                    continue  # its channel closed: the broker gave it back already
                message = read(delivery)
                if message is not None:
                    self.held.add(delivery.body, delivery)
                    return message[0]
                continue
            verdict = self._conclusion(link)
            if verdict is not None:
                return verdict
            if not forever and time.monotonic() >= deadline:
                raise queue.Empty

    def _next(self, seconds: float) -> Delivery | None:
        try:
            if seconds > 0:
                return self._deliveries.get(timeout=seconds)
            return self._deliveries.get_nowait()
        except queue.Empty:
            return None

    def _look_for_gone_producers(self, link: Link, state: ControlState, lease: float) -> None:
        now = time.monotonic()
        if now - self._probed_at < PROBE_EVERY_S:
            return
        self._probed_at = now
        for producer in sorted(state.open):
            try:
                probed = link.probe(link.topology.presence(producer))
                alive = wait(probed, self._where, self._retry_seconds)
            except BrokerError:
                continue  # not connected: no news about anyone
            self._absences.seen(producer, alive, now)
        for producer in self._absences.expired(now, lease):
            if producer in state.open:
                log.error(
                    "%s: producer %s is gone without close() (no connection for %.0f s): FAILED",
                    self._where,
                    producer,
                    lease,
                )
                state.apply("failed", producer)
                with self._lock:
                    self._control.apply("failed", producer)

    def _conclusion(self, link: Link) -> Any:
        with self._lock:
            state = ControlState(
                set(self._control.open), set(self._control.closed), list(self._control.failed)
            )
        if state.open and not state.failed and self._lease is not None:
            self._look_for_gone_producers(link, state, self._lease)
        due = time.monotonic() - self._counted_at > COUNT_EVERY_S
        if state.all_closed and not state.failed and due:
            counts = link.counts(link.topology.queue)
            self._ready = wait(counts, self._where, self._retry_seconds)[0]
            self._counted_at = time.monotonic()
        return conclusion(state, self._ready if self._deliveries.empty() else None)

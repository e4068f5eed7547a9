"""One process's connection to the broker, as the caller's threads see it.

The caller's threads never touch pika: a :class:`Link` hands their work to its I/O
thread with ``add_callback_threadsafe`` and gives them futures to wait on, so
heartbeats go on however long the caller works on a message. What the I/O thread does
with a connection (open, declare, reconnect with backoff, stop) is
:mod:`~persistq.rabbitmq.connection`; publishes and consumers are
:mod:`~persistq.rabbitmq.publishing` and :mod:`~persistq.rabbitmq.subscriptions`.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pika

from persistq.errors import BrokerError, BrokerUnavailableError, DeliveryLostError
from persistq.rabbitmq import exits
from persistq.rabbitmq.connection import Connection
from persistq.rabbitmq.publishing import Counts, Publish, Publisher, fail
from persistq.rabbitmq.subscriptions import Delivery, Subscriptions
from persistq.rabbitmq.topology import Topology

ANSWER_MARGIN_S = 10.0

__all__ = ["Delivery", "Link", "wait"]


def wait(future: Future[Any], where: str, seconds: float) -> Any:
    """The result of a link's ``future`` whose deadline is ``seconds``: the link fails
    it then, so waiting ``ANSWER_MARGIN_S`` longer only guards against an I/O thread
    that does not answer at all (BrokerUnavailableError)."""
    limit = seconds + ANSWER_MARGIN_S
    try:
        return future.result(limit)
    except TimeoutError:
        raise BrokerUnavailableError(
            f"{where}: no answer from the broker within {limit:.0f} s"
        ) from None


class Link:
    """The connection of one process: publishes with confirms, consumes the work queue
    and the control stream (after :meth:`consume`), answers queue counts."""

    def __init__(
        self,
        params: pika.URLParameters,
        topology: Topology,
        *,
        prefetch: int,
        on_delivery: Callable[[Delivery], None],
        on_control: Callable[[bytes], None],
        on_control_reset: Callable[[], None],
    ) -> None:
        self.topology = topology
        self._where = f"{params.host}:{params.port}/{topology.queue}"
        self._publisher = Publisher(self._where)
        self._subscriptions = Subscriptions(
            topology,
            prefetch,
            self._where,
            self._publisher,
            on_delivery,
            on_control,
            on_control_reset,
        )
        self._connection = Connection(
            params, topology, self._where, self._publisher, self._subscriptions
        )
        self._outbox: collections.deque[Publish] = collections.deque()
        self._outbox_lock = threading.Lock()
        self._outbox_woken = False
        self._thread = threading.Thread(target=self._run, name=f"persistq-amqp {self._where}")
        self._thread.daemon = True
        self._thread.start()
        exits.track(self)

    def publish(
        self, routing_key: str, body: bytes, headers: dict[str, Any] | None, timeout: float
    ) -> Future[None]:
        """Publish a persistent message; the future resolves once the broker confirmed
        it, or fails (UnconfirmedError on a nack, BrokerUnavailableError after
        ``timeout`` seconds without a confirm)."""
        self._check_usable()
        future: Future[None] = Future()
        item = Publish(routing_key, body, headers, time.monotonic() + timeout, future)
        with self._outbox_lock:  # threads that publish at once wake the I/O thread once
            self._outbox.append(item)
            wake, self._outbox_woken = not self._outbox_woken, True
        if wake:
            self._call(self._send_outbox)
        return future

    def counts(self, queue: str) -> Future[Counts]:
        """Ready messages and consumers of ``queue``, as the broker reports them."""
        future: Future[Counts] = Future()
        self._call(functools.partial(self._publisher.ask, queue, future))
        return future

    def hold_presence(self, queue: str) -> Future[Counts]:
        """Declare presence ``queue`` and consume from it, now and after each
        reconnect: it has a consumer exactly while this producer's connection lives."""
        future: Future[Counts] = Future()
        self._connection.presence = queue
        self._call(functools.partial(self._publisher.ask, queue, future, hold=True))
        return future

    def probe(self, queue: str) -> Future[bool]:
        """Whether presence ``queue`` has a consumer (its producer's connection lives);
        fails with BrokerError while not connected."""
        future: Future[bool] = Future()
        self._call(functools.partial(self._connection.probe, queue, future))
        return future

    def consume(self) -> None:
        """Consume the work queue and the control stream (again after each reconnect)."""
        if not self._subscriptions.wanted:
            self._subscriptions.wanted = True
            self._call(self._connection.start_consuming)

    @property
    def lost(self) -> dict[int, str]:
        """Why each closed work channel (by generation) closed."""
        return self._subscriptions.lost

    def ack(self, delivery: Delivery) -> Future[None]:
        """Acknowledge ``delivery``; the future resolves once the broker handled the
        ack, or fails with DeliveryLostError (the reason its channel closed) if the
        broker took the message back first."""
        future: Future[None] = Future()
        reason = self.lost.get(delivery.generation)
        if reason is not None:
            fail(future, DeliveryLostError(reason))
        else:
            self._call(functools.partial(self._subscriptions.ack, delivery, future))
        return future

    def check(self) -> None:
        """Raise the error that ended this link for good, if any."""
        fatal = self._connection.fatal
        if fatal is not None:
            raise fatal

    def close(self, timeout: float = 10.0) -> None:
        """Close the connection (acks and publishes sent before go out first) and end
        the I/O thread."""
        self.stop_soon().join(timeout)

    def stop_soon(self) -> threading.Thread:
        """Stop connecting again, close the connection after what was asked before
        (see :meth:`close`); return the I/O thread, which ends then."""
        if self._thread.is_alive():
            self._connection.stop_soon()
        return self._thread

    def _send_outbox(self) -> None:
        with self._outbox_lock:
            items, self._outbox, self._outbox_woken = self._outbox, collections.deque(), False
        for item in items:
            self._publisher.publish(item)

    def _check_usable(self) -> None:
        self.check()
        if not self._thread.is_alive():
            raise BrokerError(f"{self._where}: this connection was closed")

    def _call(self, callback: Callable[[], None]) -> None:
        self._check_usable()
        self._connection.loop.add_callback_threadsafe(callback)

    def _run(self) -> None:  # the I/O thread
        self._connection.run()
        self._send_outbox()  # what was handed over last fails with the rest
        closed = BrokerError(f"{self._where}: the connection was closed before a confirm")
        self._publisher.fail_all(self._connection.fatal or closed)
        self._connection.loop.close()

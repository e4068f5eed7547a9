"""One process's connection to the broker, on an I/O thread of its own.

The caller's threads never touch pika: they hand work to the I/O thread with
``add_callback_threadsafe`` and wait on futures, so heartbeats go on however long the
caller works on a message. A lost connection is opened again with backoff
(:mod:`persistq.rabbitmq.backoff`); each new one declares the queues again, sends what
was not confirmed (:mod:`~persistq.rabbitmq.publishing`) and consumes again if asked
(:mod:`~persistq.rabbitmq.subscriptions`).
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pika
import pika.channel
import pika.exceptions
from pika.adapters.select_connection import IOLoop

from persistq.errors import BrokerError, DeliveryLostError, QueueSettingsError
from persistq.rabbitmq import exits
from persistq.rabbitmq.backoff import reconnect_delay
from persistq.rabbitmq.presence import probe
from persistq.rabbitmq.publishing import Counts, Publish, Publisher, fail
from persistq.rabbitmq.subscriptions import Delivery, Subscriptions, timed_out
from persistq.rabbitmq.topology import Topology

log = logging.getLogger(__name__)

SWEEP_S = 0.25

__all__ = ["Delivery", "Link", "timed_out"]


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
        self._params = params
        self._topology = topology
        self.topology = topology
        self._where = f"{params.host}:{params.port}/{topology.queue}"
        self._publisher = Publisher(self._where)
        self._subscriptions = Subscriptions(
            topology, prefetch, self._where, on_delivery, on_control, on_control_reset
        )
        self._loop = IOLoop()
        self._conn: pika.SelectConnection | None = None
        self._failures = 0
        self._last_error = "not connected yet"
        self._stopping = False
        self._declaring = ""
        self._declared_on: pika.SelectConnection | None = None  # it declared the queues
        self._consuming_on: pika.SelectConnection | None = None  # it consumes
        self.fatal: BrokerError | None = None
        self._outbox: collections.deque[Publish] = collections.deque()
        self._outbox_lock = threading.Lock()
        self._outbox_woken = False
        self._presence: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"persistq-amqp {self._where}")
        self._thread.daemon = True
        self._thread.start()
        exits.track(self)

    # -- the caller's side (any thread) ---------------------------------------------

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
        self._presence = queue
        self._call(functools.partial(self._publisher.ask, queue, future, hold=True))
        return future

    def probe(self, queue: str) -> Future[bool]:
        """Whether presence ``queue`` has a consumer (its producer's connection lives);
        fails with BrokerError while not connected."""
        future: Future[bool] = Future()
        self._call(functools.partial(self._probe, queue, future))
        return future

    def consume(self) -> None:
        """Consume the work queue and the control stream (again after each reconnect)."""
        if not self._subscriptions.wanted:
            self._subscriptions.wanted = True
            self._call(self._start_consuming)

    @property
    def generation(self) -> int:
        """The work channel deliveries come on now."""
        return self._subscriptions.generation

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
        if self.fatal is not None:
            raise self.fatal

    def close(self, timeout: float = 10.0) -> None:
        """Close the connection (acks and publishes sent before go out first) and end
        the I/O thread."""
        self.stop_soon().join(timeout)

    def stop_soon(self) -> threading.Thread:
        """Stop connecting again, close the connection after what was asked before
        (see :meth:`close`); return the I/O thread, which ends then."""
        if self._thread.is_alive():
            self._stopping = True  # read on the I/O thread: no reconnect from now on
            self._loop.add_callback_threadsafe(self._stop)
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
        self._loop.add_callback_threadsafe(callback)

    # -- the I/O thread -------------------------------------------------------------

    def _run(self) -> None:
        self._connect()
        self._loop.call_later(SWEEP_S, self._sweep)
        self._loop.start()
        closed = BrokerError(f"{self._where}: the connection was closed before a confirm")
        self._send_outbox()
        self._publisher.fail_all(self.fatal or closed)
        self._loop.close()

    def _connect(self) -> None:
        if self._stopping:
            return
        self._conn = pika.SelectConnection(
            self._params,
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_lost,
            on_close_callback=self._on_lost,
            custom_ioloop=self._loop,
        )

    def _open_channel(
        self, conn: pika.connection.Connection, on_open: Callable[[pika.channel.Channel], None]
    ) -> None:
        if conn.is_open and not self._stopping and conn is self._conn:
            self._conn.channel(on_open_callback=on_open)

    def _on_open(self, conn: pika.connection.Connection) -> None:
        conn.channel(on_open_callback=self._on_publishing_channel)

    def _on_publishing_channel(self, channel: pika.channel.Channel) -> None:
        channel.add_on_close_callback(self._on_publishing_closed)
        declarations = self._topology.declarations()
        channel.confirm_delivery(
            self._publisher.on_confirm,
            callback=lambda _frame: self._declare(channel, declarations),
        )

    def _declare(self, channel: pika.channel.Channel, todo: list[tuple[str, Any]]) -> None:
        if not todo:
            self._ready(channel)
            return
        name, arguments = todo[0]
        self._declaring = name
        channel.queue_declare(
            name,
            durable=True,
            arguments=arguments,
            callback=lambda _frame: self._declare(channel, todo[1:]),
        )

    def _ready(self, channel: pika.channel.Channel) -> None:
        self._declaring = ""
        self._declared_on = self._conn
        if self._failures:
            log.warning("%s: connected again after %d attempt(s)", self._where, self._failures)
        self._failures = 0
        self._publisher.attach(channel)
        if self._presence is not None:
            self._publisher.ask(self._presence, Future(), hold=True)
        if self._subscriptions.wanted:
            self._start_consuming()

    def _probe(self, queue: str, future: Future[bool]) -> None:
        conn = self._conn
        if conn is not None and conn.is_open and conn is self._declared_on:
            probe(conn, queue, future, self._where)
        else:
            fail(future, BrokerError(f"{self._where}: not connected"))

    def _start_consuming(self) -> None:
        conn = self._conn
        ready = conn is not None and conn.is_open and conn is self._declared_on
        if ready and self._consuming_on is not conn:
            self._consuming_on = conn
            self._subscriptions.open(functools.partial(self._open_channel, conn))

    def _on_publishing_closed(self, channel: pika.channel.Channel, error: BaseException) -> None:
        self._publisher.detach(error)
        if (
            isinstance(error, pika.exceptions.ChannelClosedByBroker)
            and error.reply_code == 406
            and self._declaring
        ):
            self.fatal = QueueSettingsError(
                f"{self._where}: queue {self._declaring!r} exists with other arguments "
                f"({error.reply_text}); every RabbitMQQueue on it must use the same "
                f"delivery_limit (this one: {self._topology.delivery_limit!r}); to change "
                "it, delete the queue first (persistq purge --yes URL)"
            )
            log.error("%s", self.fatal)
            self._stop()
        elif self._conn is not None and self._conn.is_open and not self._stopping:
            self._conn.close()  # start over on a new connection

    def _on_lost(self, conn: pika.connection.Connection, error: BaseException) -> None:
        self._publisher.detach(error)
        self._subscriptions.connection_lost(error)
        if self._stopping:
            self._loop.stop()
            return
        self._failures += 1
        self._last_error = str(error) or type(error).__name__
        delay = reconnect_delay(self._failures)
        log.warning(
            "%s: connection lost (%s); connecting again in %.1f s",
            self._where,
            self._last_error,
            delay,
        )
        self._loop.call_later(delay, self._connect)

    def _stop(self) -> None:
        self._stopping = True
        if self._conn is not None and not self._conn.is_closed:
            try:
                self._conn.close()
                return
            except pika.exceptions.ConnectionWrongStateError:
                pass
        self._loop.stop()

    def _sweep(self) -> None:
        self._publisher.sweep(time.monotonic(), self._last_error)
        if not self._stopping:
            self._loop.call_later(SWEEP_S, self._sweep)

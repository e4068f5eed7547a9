"""The life of a link's connection on its I/O thread: open it, declare the queues,
hand its channels to the publisher and the subscriptions, open it again with backoff
after a loss (:mod:`persistq.rabbitmq.backoff`), and stop.

Everything here runs on the I/O thread, except :meth:`Connection.stop_soon`. Each new
connection declares the queues again on its publishing channel, then sends what was not
confirmed (:mod:`~persistq.rabbitmq.publishing`), holds this producer's presence queue
again and consumes again if asked (:mod:`~persistq.rabbitmq.subscriptions`). The
caller's side, which hands work to this thread, is :mod:`~persistq.rabbitmq.link`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pika
import pika.channel
import pika.exceptions
from pika.adapters.select_connection import IOLoop

from persistq.errors import BrokerError, QueueSettingsError
from persistq.rabbitmq.backoff import reconnect_delay
from persistq.rabbitmq.presence import probe
from persistq.rabbitmq.publishing import Publisher, fail
from persistq.rabbitmq.subscriptions import Subscriptions
from persistq.rabbitmq.topology import Topology

log = logging.getLogger(__name__)

SWEEP_S = 0.25
PRECONDITION_FAILED = 406


class Connection:
    """The connections of one link, one after another, run by :attr:`loop`; ends for
    good at :meth:`stop_soon`, or with :attr:`fatal` set when the queues exist with
    other settings."""

    def __init__(
        self,
        params: pika.URLParameters,
        topology: Topology,
        where: str,
        publisher: Publisher,
        subscriptions: Subscriptions,
    ) -> None:
        self._params = params
        self._topology = topology
        self._where = where
        self._publisher = publisher
        self._subscriptions = subscriptions
        self.loop = IOLoop()
        self.fatal: BrokerError | None = None
        self.presence: str | None = None  # held on every connection once set
        self._conn: pika.SelectConnection | None = None
        self._failures = 0
        self._last_error = "not connected yet"
        self._stopping = False
        self._declaring = ""
        self._declared_on: pika.SelectConnection | None = None  # it declared the queues
        self._consuming_on: pika.SelectConnection | None = None  # it consumes

    def run(self) -> None:
        """Connect, and run the loop until the connection ends for good."""
        self._connect()
        self.loop.call_later(SWEEP_S, self._sweep)
        self.loop.start()

    def stop_soon(self) -> None:
        """From any thread: connect no more, and close the connection once the loop has
        done what it was asked before."""
        self._stopping = True  # read on the I/O thread: no reconnect from now on
        self.loop.add_callback_threadsafe(self._stop)

    def probe(self, queue: str, future: Future[bool]) -> None:
        """Resolve ``future`` with whether presence ``queue`` has a consumer; fail it
        with BrokerError while not connected."""
        conn = self._conn
        if conn is not None and conn.is_open and conn is self._declared_on:
            probe(conn, queue, future, self._where)
        else:
            fail(future, BrokerError(f"{self._where}: not connected"))

    def start_consuming(self) -> None:
        """Open the subscriptions' channels, once per connection that declared the
        queues (a connection still declaring opens them when it is done)."""
        conn = self._conn
        ready = conn is not None and conn.is_open and conn is self._declared_on
        if ready and self._consuming_on is not conn:
            self._consuming_on = conn
            self._subscriptions.open(functools.partial(self._open_channel, conn))

    def _connect(self) -> None:
        if self._stopping:
            return
        self._conn = pika.SelectConnection(
            self._params,
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_lost,
            on_close_callback=self._on_lost,
            custom_ioloop=self.loop,
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
        if self.presence is not None:
            self._publisher.ask(self.presence, Future(), hold=True)
        if self._subscriptions.wanted:
            self.start_consuming()

    def _on_publishing_closed(self, channel: pika.channel.Channel, error: BaseException) -> None:
        self._publisher.detach(error)
        if (
            isinstance(error, pika.exceptions.ChannelClosedByBroker)
            and error.reply_code == PRECONDITION_FAILED
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
            self.loop.stop()
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
        self.loop.call_later(delay, self._connect)

    def _stop(self) -> None:
        self._stopping = True
        if self._conn is not None and not self._conn.is_closed:
            try:
                self._conn.close()
                return
            except pika.exceptions.ConnectionWrongStateError:
                pass
        self.loop.stop()

    def _sweep(self) -> None:
        self._publisher.sweep(time.monotonic(), self._last_error)
        if not self._stopping:
            self.loop.call_later(SWEEP_S, self._sweep)

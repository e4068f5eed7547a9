"""One process's connection to the broker, on an I/O thread of its own.

The caller's threads never touch pika: they hand work to the I/O thread with
``add_callback_threadsafe`` and wait on futures, so heartbeats go on however long the
caller works on a message. Publishes share confirms (many in flight on one channel,
each resolved by the broker's ack, ``multiple`` acks resolving many); a lost connection
is opened again with backoff, and publishes not yet confirmed are sent again on the
new one (at least once).
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

import attrs
import pika
import pika.channel
import pika.exceptions
import pika.frame
from pika.adapters.select_connection import IOLoop
from pika.spec import Basic, BasicProperties

from persistq.rabbitmq.backoff import reconnect_delay
from persistq.rabbitmq.errors import (
    BrokerError,
    BrokerUnavailableError,
    ConsumerTimeoutError,
    QueueSettingsError,
    UnconfirmedError,
)
from persistq.rabbitmq.topology import Topology

log = logging.getLogger(__name__)

SWEEP_S = 0.25
CONTROL_PREFETCH = 100


def timed_out(reason: str) -> bool:
    """Whether a channel closed because a delivery was not acknowledged within the
    broker's ``consumer_timeout`` (406 "delivery acknowledgement ... timed out")."""
    return "acknowledgement" in reason and "timed out" in reason


@attrs.frozen
class Delivery:
    """A message delivered to this process, on work channel ``generation``."""

    generation: int
    tag: int
    body: bytes
    headers: dict[str, Any]
    redelivered: bool


@attrs.define
class _Publish:
    routing_key: str
    body: bytes
    headers: dict[str, Any] | None
    deadline: float
    future: Future[None]


def _fail(future: Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


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
        self._prefetch = prefetch
        self._on_delivery = on_delivery
        self._on_control = on_control
        self._on_control_reset = on_control_reset
        self._where = f"{params.host}:{params.port}/{topology.queue}"
        self._loop = IOLoop()
        self._conn: pika.SelectConnection | None = None
        self._pub: pika.channel.Channel | None = None
        self._work: pika.channel.Channel | None = None
        self._unsent: collections.deque[_Publish] = collections.deque()
        self._pending: dict[int, _Publish] = {}
        self._asked: collections.deque[Future[tuple[int, int]]] = collections.deque()
        self._queries: collections.deque[tuple[str, Future[tuple[int, int]]]] = collections.deque()
        self._tag = 0
        self._failures = 0
        self._last_error = "not connected yet"
        self._consuming = False
        self._stopping = False
        self._declaring = ""
        self.fatal: BrokerError | None = None
        self.generation = 0
        self.lost: dict[int, str] = {}
        self._thread = threading.Thread(target=self._run, name=f"persistq-amqp {self._where}")
        self._thread.daemon = True
        self._thread.start()

    # -- the caller's side (any thread) ---------------------------------------------

    def publish(
        self, routing_key: str, body: bytes, headers: dict[str, Any] | None, timeout: float
    ) -> Future[None]:
        """Publish a persistent message; the future resolves once the broker confirmed
        it, or fails (UnconfirmedError on a nack, BrokerUnavailableError after
        ``timeout`` seconds without a confirm)."""
        future: Future[None] = Future()
        item = _Publish(routing_key, body, headers, time.monotonic() + timeout, future)
        self._call(functools.partial(self._enqueue, item))
        return future

    def counts(self, queue: str) -> Future[tuple[int, int]]:
        """Ready messages and consumers of ``queue``, as the broker reports them."""
        future: Future[tuple[int, int]] = Future()
        self._call(functools.partial(self._ask, queue, future))
        return future

    def consume(self) -> None:
        """Start consuming the work queue and the control stream (again after each
        reconnect)."""
        self._call(self._start_consuming)

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge ``delivery``; False if its channel is gone (the broker gave the
        message back to the queue). Raises ConsumerTimeoutError if the broker took it
        back because its ``consumer_timeout`` passed."""
        reason = self.lost.get(delivery.generation)
        if reason is not None and timed_out(reason):
            raise ConsumerTimeoutError(
                f"{self._where}: the broker took this message back after its consumer_timeout "
                f"({reason}); it went back to the queue and is delivered again, maybe to "
                "another consumer. Raise consumer_timeout in rabbitmq.conf (milliseconds, "
                "e.g. consumer_timeout = 86400000) above your longest task; see "
                "docs/rabbitmq.md"
            )
        if reason is not None:
            return False
        self._call(functools.partial(self._do_ack, delivery))
        return True

    def check(self) -> None:
        """Raise the error that ended this link for good, if any."""
        if self.fatal is not None:
            raise self.fatal

    def close(self, timeout: float = 10.0) -> None:
        """Close the connection (sent acks and publishes go out first) and end the
        I/O thread."""
        if self._thread.is_alive():
            self._loop.add_callback_threadsafe(self._stop)
            self._thread.join(timeout)

    def _call(self, callback: Callable[[], None]) -> None:
        self.check()
        if not self._thread.is_alive():
            raise BrokerError(f"{self._where}: this connection was closed")
        self._loop.add_callback_threadsafe(callback)

    # -- the I/O thread -------------------------------------------------------------

    def _run(self) -> None:
        self._connect()
        self._loop.call_later(SWEEP_S, self._sweep)
        self._loop.start()
        closed = BrokerError(f"{self._where}: the connection was closed before a confirm")
        for item in [*self._unsent, *self._pending.values()]:
            _fail(item.future, self.fatal or closed)
        for future in [*self._asked, *(f for _, f in self._queries)]:
            _fail(future, self.fatal or closed)
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

    def _on_open(self, conn: pika.connection.Connection) -> None:
        conn.channel(on_open_callback=self._on_pub_channel)

    def _on_pub_channel(self, channel: pika.channel.Channel) -> None:
        channel.add_on_close_callback(self._on_pub_closed)
        channel.confirm_delivery(
            self._on_confirm,
            callback=lambda _frame: self._declare(channel, self._topology.declarations()),
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
        self._pub = channel
        self._declaring = ""
        self._tag = 0
        if self._failures:
            log.warning("%s: connected again after %d attempt(s)", self._where, self._failures)
        self._failures = 0
        self._flush_unsent()
        self._flush_queries()
        if self._consuming:
            self._open_consumers()

    def _on_pub_closed(self, channel: pika.channel.Channel, exc: BaseException) -> None:
        self._pub = None
        for future in self._asked:
            _fail(future, BrokerError(f"{self._where}: {exc}"))
        self._asked.clear()
        if (
            isinstance(exc, pika.exceptions.ChannelClosedByBroker)
            and exc.reply_code == 406
            and self._declaring
        ):
            self.fatal = QueueSettingsError(
                f"{self._where}: queue {self._declaring!r} exists with other arguments "
                f"({exc.reply_text}); every RabbitMQQueue on it must use the same "
                f"delivery_limit (this one: {self._topology.delivery_limit!r}); to change "
                "it, delete the queue first (persistq purge --yes URL)"
            )
            log.error("%s", self.fatal)
            self._stop()
        elif self._conn is not None and self._conn.is_open and not self._stopping:
            self._conn.close()  # start over on a new connection

    def _on_lost(self, conn: pika.connection.Connection, exc: BaseException) -> None:
        self._pub = self._work = None
        if self.generation and self.generation not in self.lost:
            self.lost[self.generation] = f"connection lost: {exc}"
        requeue = [self._pending[tag] for tag in sorted(self._pending)]
        self._pending.clear()
        self._unsent.extendleft(reversed(requeue))
        if self._stopping:
            self._loop.stop()
            return
        self._failures += 1
        self._last_error = str(exc) or type(exc).__name__
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

    # publishing and confirms

    def _enqueue(self, item: _Publish) -> None:
        self._unsent.append(item)
        self._flush_unsent()

    def _flush_unsent(self) -> None:
        while self._pub is not None and self._unsent:
            item = self._unsent.popleft()
            if item.future.done():
                continue
            self._tag += 1
            self._pending[self._tag] = item
            self._pub.basic_publish(
                "",
                item.routing_key,
                item.body,
                BasicProperties(delivery_mode=2, headers=item.headers),
            )

    def _on_confirm(self, frame: pika.frame.Method[Any]) -> None:
        method = frame.method
        tags = [method.delivery_tag]
        if method.multiple:
            tags = [tag for tag in self._pending if tag <= method.delivery_tag]
        for tag in tags:
            item = self._pending.pop(tag, None)
            if item is None or item.future.done():
                continue
            if isinstance(method, Basic.Ack):
                item.future.set_result(None)
            else:
                item.future.set_exception(
                    UnconfirmedError(f"{self._where}: the broker refused (nack) a message")
                )

    def _sweep(self) -> None:
        now = time.monotonic()
        late = [i for i in [*self._unsent, *self._pending.values()] if i.deadline < now]
        for item in late:
            _fail(
                item.future,
                BrokerUnavailableError(
                    f"{self._where}: no confirm from the broker in time (last error: "
                    f"{self._last_error}); the message may or may not be in the queue"
                ),
            )
        if late:
            self._unsent = collections.deque(i for i in self._unsent if not i.future.done())
        if not self._stopping:
            self._loop.call_later(SWEEP_S, self._sweep)

    # queue counts (passive declares on the publishing channel)

    def _ask(self, queue: str, future: Future[tuple[int, int]]) -> None:
        self._queries.append((queue, future))
        self._flush_queries()

    def _flush_queries(self) -> None:
        while self._pub is not None and self._queries:
            queue, future = self._queries.popleft()
            self._asked.append(future)
            self._pub.queue_declare(queue, passive=True, callback=self._on_counts)

    def _on_counts(self, frame: pika.frame.Method[Any]) -> None:
        future = self._asked.popleft()
        if not future.done():
            future.set_result((frame.method.message_count, frame.method.consumer_count))

    # consuming

    def _start_consuming(self) -> None:
        if not self._consuming:
            self._consuming = True
            if self._pub is not None:
                self._open_consumers()

    def _open_consumers(self) -> None:
        assert self._conn is not None
        self._conn.channel(on_open_callback=self._on_work_channel)
        self._conn.channel(on_open_callback=self._on_control_channel)

    def _on_work_channel(self, channel: pika.channel.Channel) -> None:
        self.generation += 1
        generation = self.generation
        self._work = channel
        channel.add_on_close_callback(functools.partial(self._on_work_closed, generation))
        on_message = functools.partial(self._on_message, generation)
        channel.basic_qos(
            prefetch_count=self._prefetch,
            callback=lambda _frame: channel.basic_consume(self._topology.queue, on_message),
        )

    def _on_message(
        self,
        generation: int,
        channel: pika.channel.Channel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        assert method.delivery_tag is not None
        self._on_delivery(
            Delivery(
                generation,
                method.delivery_tag,
                body,
                properties.headers or {},
                bool(method.redelivered),
            )
        )

    def _on_work_closed(
        self, generation: int, channel: pika.channel.Channel, exc: BaseException
    ) -> None:
        self.lost.setdefault(generation, str(exc))
        if timed_out(str(exc)):
            log.error("%s: the broker took back a delivery: %s", self._where, exc)
        if self._work is channel:
            self._work = None
            if self._conn is not None and self._conn.is_open and not self._stopping:
                self._conn.channel(on_open_callback=self._on_work_channel)

    def _do_ack(self, delivery: Delivery) -> None:
        if self._work is not None and delivery.generation == self.generation:
            self._work.basic_ack(delivery.tag)
        else:
            log.warning("%s: ack of a message whose channel closed; it comes again", self._where)

    def _on_control_channel(self, channel: pika.channel.Channel) -> None:
        self._on_control_reset()
        channel.add_on_close_callback(self._on_control_closed)
        channel.basic_qos(
            prefetch_count=CONTROL_PREFETCH,
            callback=lambda _frame: channel.basic_consume(
                self._topology.control,
                self._on_control_message,
                arguments={"x-stream-offset": "first"},
            ),
        )

    def _on_control_message(
        self,
        channel: pika.channel.Channel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        assert method.delivery_tag is not None
        channel.basic_ack(method.delivery_tag)
        self._on_control(body)

    def _on_control_closed(self, channel: pika.channel.Channel, exc: BaseException) -> None:
        if self._conn is not None and self._conn.is_open and not self._stopping:
            self._conn.channel(on_open_callback=self._on_control_channel)

"""The consumers of one link: the work queue and the control stream.

Everything here runs on the I/O thread, except reads of :attr:`Subscriptions.lost`.
Each work channel is a *generation*; a delivery remembers its generation, so an ack
goes only to the channel that delivered it. When a channel closes (the connection was
lost, or the broker's consumer_timeout took a delivery back) its reason is kept in
:attr:`Subscriptions.lost`, and a new channel takes over.

The work queue is consumed only once the control stream has been read up to a ``mark``
that this consumer wrote to it after subscribing (a stream keeps its order): every
record written before, a FAILED above all, is known before the first message comes.
Should the mark not come back within ``MARK_WAIT_S`` (not written, or the stream
replaced meanwhile), the work queue is consumed without it.

An ack is followed on its channel by a ``basic.qos``, whose reply comes only after the
broker handled the ack (a channel's methods are handled in order): the ack's future
resolves on that reply, or fails with the reason if the channel closes first, so an
ack sent into a dead connection (a host cut off) never passes for a success.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import attrs
import pika.channel
from pika.spec import Basic, BasicProperties

from persistq.rabbitmq.control import encode_control, new_producer_id
from persistq.rabbitmq.errors import DeliveryLostError
from persistq.rabbitmq.publishing import Publish, Publisher, fail
from persistq.rabbitmq.topology import Topology

log = logging.getLogger(__name__)

CONTROL_PREFETCH = 100
MARK_WAIT_S = 10.0
OpenChannel = Callable[[Callable[[pika.channel.Channel], None]], None]


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


class Subscriptions:
    """Consumes ``topology``'s work queue (``prefetch`` at a time) and its control
    stream from the start, on channels that ``open_channel`` opens while connected;
    writes its marks with ``publisher``."""

    def __init__(
        self,
        topology: Topology,
        prefetch: int,
        where: str,
        publisher: Publisher,
        on_delivery: Callable[[Delivery], None],
        on_control: Callable[[bytes], None],
        on_control_reset: Callable[[], None],
    ) -> None:
        self._topology = topology
        self._prefetch = prefetch
        self._where = where
        self._publisher = publisher
        self._on_delivery = on_delivery
        self._on_control = on_control
        self._on_control_reset = on_control_reset
        self._work: pika.channel.Channel | None = None
        self._open_channel: OpenChannel | None = None
        self._work_asked = False  # a work channel is open or opening on this connection
        self._mark: bytes | None = None  # written on this connection, awaited on the stream
        self.wanted = False
        self.generation = 0
        self.lost: dict[int, str] = {}
        self._acks: dict[int, list[Future[None]]] = {}  # by generation, until the broker has them

    def open(self, open_channel: OpenChannel) -> None:
        """Open the consumers' channels (on a new connection) with ``open_channel``,
        which does nothing once the connection is gone."""
        self._open_channel = open_channel
        self._work_asked = False
        self._mark = None
        open_channel(self._on_control_channel)  # the work channel follows its consume-ok

    def connection_lost(self, error: BaseException) -> None:
        """The connection is gone, and with it every delivery not acknowledged."""
        self._work = None
        if self.generation and self.generation not in self.lost:
            self.lost[self.generation] = f"connection lost: {error}"
        self._fail_acks(self.generation)

    def ack(self, delivery: Delivery, future: Future[None]) -> None:
        """Acknowledge ``delivery`` if the channel that delivered it still lives;
        ``future`` resolves once the broker handled the ack, or fails with
        DeliveryLostError (the reason) if the channel is gone first."""
        generation = delivery.generation
        channel = self._work
        if channel is None or generation != self.generation:
            reason = self.lost.get(generation, "its channel closed")
            fail(future, DeliveryLostError(reason))
            return
        self._acks.setdefault(generation, []).append(future)
        channel.basic_ack(delivery.tag)
        channel.basic_qos(
            prefetch_count=self._prefetch,
            callback=lambda _frame: self._settled(generation, future),
        )

    def _settled(self, generation: int, future: Future[None]) -> None:
        waiting = self._acks.get(generation, [])
        if future in waiting:
            waiting.remove(future)
        if not future.done():
            future.set_result(None)

    def _fail_acks(self, generation: int) -> None:
        reason = self.lost.get(generation, "its channel closed")
        for future in self._acks.pop(generation, []):
            fail(future, DeliveryLostError(reason))

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
        headers = properties.headers or {}
        self._on_delivery(
            Delivery(generation, method.delivery_tag, body, headers, bool(method.redelivered))
        )

    def _on_work_closed(
        self, generation: int, channel: pika.channel.Channel, error: BaseException
    ) -> None:
        self.lost.setdefault(generation, str(error))
        self._fail_acks(generation)
        if timed_out(str(error)):
            log.error("%s: the broker took back a delivery: %s", self._where, error)
        if self._work is channel:
            self._work = None
            if self._open_channel is not None:
                self._open_channel(self._on_work_channel)

    def _on_control_channel(self, channel: pika.channel.Channel) -> None:
        self._on_control_reset()  # the stream is read again from its start
        channel.add_on_close_callback(self._on_control_closed)
        channel.basic_qos(
            prefetch_count=CONTROL_PREFETCH,
            callback=lambda _frame: channel.basic_consume(
                self._topology.control,
                self._on_control_message,
                arguments={"x-stream-offset": "first"},
                callback=functools.partial(self._on_control_consuming, channel),
            ),
        )

    def _on_control_consuming(self, channel: pika.channel.Channel, _frame: object) -> None:
        if self._mark is not None or self._work_asked:
            return  # consuming again on this connection: the mark is written already
        mark = self._mark = encode_control("mark", new_producer_id())
        deadline = time.monotonic() + MARK_WAIT_S
        self._publisher.publish(Publish(self._topology.control, mark, None, deadline, Future()))
        channel.connection.ioloop.call_later(
            MARK_WAIT_S, functools.partial(self._mark_overdue, mark)
        )

    def _mark_overdue(self, mark: bytes) -> None:
        if mark is self._mark and not self._work_asked:
            log.warning(
                "%s: this consumer's mark did not come back on %s within %.0f s; consuming "
                "the work queue without it (a FAILED written before may come after a message)",
                self._where,
                self._topology.control,
                MARK_WAIT_S,
            )
            self._consume_work()

    def _consume_work(self) -> None:
        if not self._work_asked and self._open_channel is not None:
            self._work_asked = True
            self._open_channel(self._on_work_channel)

    def _on_control_message(
        self,
        channel: pika.channel.Channel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        channel.basic_ack(method.delivery_tag)  # a stream's acks only grant credit
        self._on_control(body)
        if body == self._mark:  # the stream is read up to this consumer's arrival
            self._consume_work()

    def _on_control_closed(self, channel: pika.channel.Channel, error: BaseException) -> None:
        if self._open_channel is not None:
            self._open_channel(self._on_control_channel)

"""The consumers of one link: the work queue and the control stream.

Everything here runs on the I/O thread, except reads of :attr:`Subscriptions.lost`.
Each work channel is a *generation*; a delivery remembers its generation, so an ack
goes only to the channel that delivered it. When a channel closes (the connection was
lost, or the broker's consumer_timeout took a delivery back) its reason is kept in
:attr:`Subscriptions.lost`, and a new channel takes over.

An ack is followed on its channel by a ``basic.qos``, whose reply comes only after the
broker handled the ack (a channel's methods are handled in order): the ack's future
resolves on that reply, or fails with the reason if the channel closes first, so an
ack sent into a dead connection (a host cut off) never passes for a success.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import attrs
import pika.channel
from pika.spec import Basic, BasicProperties

from persistq.rabbitmq.errors import DeliveryLostError
from persistq.rabbitmq.publishing import fail
from persistq.rabbitmq.topology import Topology

log = logging.getLogger(__name__)

CONTROL_PREFETCH = 100
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
    stream from the start, on channels that ``open_channel`` opens while connected."""

    def __init__(
        self,
        topology: Topology,
        prefetch: int,
        where: str,
        on_delivery: Callable[[Delivery], None],
        on_control: Callable[[bytes], None],
        on_control_reset: Callable[[], None],
    ) -> None:
        self._topology = topology
        self._prefetch = prefetch
        self._where = where
        self._on_delivery = on_delivery
        self._on_control = on_control
        self._on_control_reset = on_control_reset
        self._work: pika.channel.Channel | None = None
        self._open_channel: OpenChannel | None = None
        self._work_asked = False  # a work channel is open or opening on this connection
        self.wanted = False
        self.generation = 0
        self.lost: dict[int, str] = {}
        self._acks: dict[int, list[Future[None]]] = {}  # by generation, until the broker has them

    def open(self, open_channel: OpenChannel) -> None:
        """Open the consumers' channels (on a new connection) with ``open_channel``,
        which does nothing once the connection is gone."""
        self._open_channel = open_channel
        self._work_asked = False
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
                callback=self._on_control_consuming,
            ),
        )

    def _on_control_consuming(self, _frame: object) -> None:
        # Work is consumed only after the control stream, so that the stream's records
        # (a FAILED above all) usually arrive before the first message does.
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

    def _on_control_closed(self, channel: pika.channel.Channel, error: BaseException) -> None:
        if self._open_channel is not None:
            self._open_channel(self._on_control_channel)

"""Publishes with shared confirms, and queue counts, on the publishing channel.

Everything here runs on the I/O thread. Many publishes are in flight on one channel in
confirm mode; the broker's ack (``multiple`` acks cover many) resolves each one's
future. Publishes not confirmed when a connection is lost are sent again on the next
one (at least once); those past their deadline fail instead.
"""

from __future__ import annotations

import collections
from concurrent.futures import Future
from typing import Any

import attrs
import pika.channel
import pika.frame
from pika.spec import Basic, BasicProperties

from persistq.errors import BrokerError, BrokerUnavailableError, UnconfirmedError

Counts = tuple[int, int]
PRESENCE_ARGUMENTS: dict[str, Any] = {"x-expires": 86_400_000}  # gone a day: deleted


def _ignore(*_args: object) -> None:
    """Nothing is ever sent to a presence queue."""


@attrs.define
class Publish:
    """One message to publish persistently, and the future its confirm resolves."""

    routing_key: str
    body: bytes
    headers: dict[str, Any] | None
    deadline: float
    future: Future[None]


def fail(future: Future[Any], error: BaseException) -> None:
    """Fail ``future`` unless it is settled already."""
    if not future.done():
        future.set_exception(error)


class Publisher:
    """The publishes and count queries of one link, across its connections."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._channel: pika.channel.Channel | None = None
        self._unsent: collections.deque[Publish] = collections.deque()
        self._pending: dict[int, Publish] = {}
        self._tag = 0
        self._queries: collections.deque[tuple[str, bool, Future[Counts]]] = collections.deque()
        self._asked: collections.deque[Future[Counts]] = collections.deque()

    def attach(self, channel: pika.channel.Channel) -> None:
        """Use ``channel`` (in confirm mode, with :meth:`on_confirm`) from now on and
        send what waited for it."""
        self._channel = channel
        self._tag = 0
        self._flush()

    def detach(self, error: BaseException) -> None:
        """The channel is gone: unconfirmed publishes wait for the next one, queries
        sent on it fail with ``error``."""
        self._channel = None
        requeue = [self._pending[tag] for tag in sorted(self._pending)]
        self._pending.clear()
        self._unsent.extendleft(reversed(requeue))
        for future in self._asked:
            fail(future, BrokerError(f"{self._where}: {error}"))
        self._asked.clear()

    def fail_all(self, error: BaseException) -> None:
        """Fail every publish and query not settled yet (the link ends)."""
        for item in [*self._unsent, *self._pending.values()]:
            fail(item.future, error)
        for future in [*self._asked, *(f for _, _, f in self._queries)]:
            fail(future, error)

    def publish(self, item: Publish) -> None:
        """Send ``item`` now, or once a channel is attached."""
        self._unsent.append(item)
        self._flush()

    def ask(self, queue: str, future: Future[Counts], *, hold: bool = False) -> None:
        """Resolve ``future`` with the ready messages and consumers of ``queue``; with
        ``hold``, declare ``queue`` as a presence queue first and consume from it, so
        that it has a consumer exactly while this connection lives."""
        self._queries.append((queue, hold, future))
        self._flush()

    def _flush(self) -> None:
        channel = self._channel
        while channel is not None and self._unsent:
            item = self._unsent.popleft()
            if item.future.done():
                continue
            self._tag += 1
            self._pending[self._tag] = item
            properties = BasicProperties(delivery_mode=2, headers=item.headers)
            channel.basic_publish("", item.routing_key, item.body, properties)
        while channel is not None and self._queries:
            queue, hold, future = self._queries.popleft()
            self._asked.append(future)
            if hold:
                channel.queue_declare(
                    queue, arguments=PRESENCE_ARGUMENTS, callback=self._on_presence
                )
            else:
                channel.queue_declare(queue, passive=True, callback=self._on_counts)

    def _on_presence(self, frame: pika.frame.Method) -> None:
        if self._channel is not None:  # consuming from it is the sign of life
            self._channel.basic_consume(frame.method.queue, _ignore, auto_ack=True)
        self._on_counts(frame)

    def _on_counts(self, frame: pika.frame.Method) -> None:
        future = self._asked.popleft()
        if not future.done():
            future.set_result((frame.method.message_count, frame.method.consumer_count))

    def on_confirm(self, frame: pika.frame.Method) -> None:
        """Settle the publishes that the broker's ack or nack covers."""
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

    def sweep(self, now: float, last_error: str) -> None:
        """Fail the publishes whose deadline passed before a confirm came."""
        late = [i for i in [*self._unsent, *self._pending.values()] if i.deadline < now]
        for item in late:
            fail(
                item.future,
                BrokerUnavailableError(
                    f"{self._where}: no confirm from the broker in time (last error: "
                    f"{last_error}); the message may or may not be in the queue"
                ),
            )
        if late:
            self._unsent = collections.deque(i for i in self._unsent if not i.future.done())
            self._pending = {t: i for t, i in self._pending.items() if not i.future.done()}

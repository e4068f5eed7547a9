"""When a consumer starts on the work queue, tested without a broker: only once the
control stream is read up to the consumer's own mark (or the mark is overdue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from persistq.rabbitmq.control import decode_control, encode_control
from persistq.rabbitmq.publishing import Publish
from persistq.rabbitmq.subscriptions import MARK_WAIT_S, Subscriptions
from persistq.rabbitmq.topology import Topology

TOPOLOGY = Topology("loads")


@attrs.define
class Loop:
    """The connection's I/O loop: timers run when the test says so."""

    timers: list[tuple[float, Callable[[], None]]] = attrs.field(factory=list)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> None:
        self.timers.append((seconds, callback))


@attrs.define
class Connection:
    ioloop: Loop = attrs.field(factory=Loop)


@attrs.define
class Channel:
    """A channel that answers every method at once and remembers its consumers."""

    connection: Connection
    consumers: dict[str, Callable[..., None]] = attrs.field(factory=dict)

    def add_on_close_callback(self, callback: Callable[..., None]) -> None:
        pass

    def basic_qos(self, prefetch_count: int, callback: Callable[[object], None]) -> None:
        callback(None)

    def basic_consume(
        self,
        queue: str,
        on_message: Callable[..., None],
        arguments: dict[str, Any] | None = None,
        callback: Callable[[object], None] | None = None,
    ) -> None:
        self.consumers[queue] = on_message
        if callback is not None:
            callback(None)

    def basic_ack(self, tag: int) -> None:
        pass


@attrs.define
class Method:
    delivery_tag: int = 1
    redelivered: bool = False


@attrs.define
class Publisher:
    sent: list[Publish] = attrs.field(factory=list)

    def publish(self, item: Publish) -> None:
        self.sent.append(item)


@attrs.define
class Consumer:
    """A Subscriptions on fake channels of one connection."""

    publisher: Publisher = attrs.field(factory=Publisher)
    connection: Connection = attrs.field(factory=Connection)
    channels: list[Channel] = attrs.field(factory=list)
    records: list[bytes] = attrs.field(factory=list)
    subscriptions: Subscriptions = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.subscriptions = Subscriptions(
            TOPOLOGY,
            1,
            "test",
            self.publisher,  # type: ignore[arg-type]
            lambda delivery: None,
            self.records.append,
            lambda: None,
        )
        self.subscriptions.open(self._open_channel)

    def _open_channel(self, on_open: Callable[[Any], None]) -> None:
        channel = Channel(self.connection)
        self.channels.append(channel)
        on_open(channel)

    def record(self, body: bytes) -> None:
        """A record arrives on the control stream."""
        self.channels[0].consumers[TOPOLOGY.control](self.channels[0], Method(), None, body)

    @property
    def consumes_work(self) -> bool:
        return any(TOPOLOGY.queue in channel.consumers for channel in self.channels)


def test_work_is_consumed_only_after_the_stream_is_read_up_to_the_own_mark() -> None:
    consumer = Consumer()
    (mark,) = consumer.publisher.sent
    assert mark.routing_key == TOPOLOGY.control
    assert decode_control(mark.body)[0] == "mark"
    assert not consumer.consumes_work  # subscribed to the stream, not read up to the mark
    consumer.record(encode_control("helo", "p"))
    consumer.record(encode_control("failed", "p"))
    assert not consumer.consumes_work  # the records before the mark are still coming
    consumer.record(encode_control("mark", "another consumer"))
    assert not consumer.consumes_work
    consumer.record(mark.body)
    assert consumer.consumes_work
    assert consumer.records[:2] == [encode_control("helo", "p"), encode_control("failed", "p")]


def test_a_mark_that_does_not_come_back_in_time_lets_the_work_be_consumed() -> None:
    consumer = Consumer()
    ((seconds, overdue),) = consumer.connection.ioloop.timers
    assert seconds == MARK_WAIT_S
    assert not consumer.consumes_work
    overdue()
    assert consumer.consumes_work


@pytest.mark.parametrize("came_back", [True, False])
def test_a_new_connection_writes_a_new_mark_and_ignores_the_old_one(came_back: bool) -> None:
    consumer = Consumer()
    (old,) = consumer.publisher.sent
    (_, old_overdue) = consumer.connection.ioloop.timers[0]
    if came_back:
        consumer.record(old.body)
    consumer.subscriptions.connection_lost(ConnectionError("gone"))
    consumer.channels.clear()
    consumer.subscriptions.open(consumer._open_channel)
    assert len(consumer.publisher.sent) == 2  # a mark of this connection
    old_overdue()  # the first connection's timer
    consumer.record(old.body)  # the stream holds the old mark as well
    assert not consumer.consumes_work
    consumer.record(consumer.publisher.sent[1].body)
    assert consumer.consumes_work

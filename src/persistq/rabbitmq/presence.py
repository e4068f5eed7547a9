"""Whether a producer's connection lives: its presence queue has a consumer (the
producer's own connection) exactly while it does.

:func:`judge` is the one judgement of the broker's answer, used by consumers (through
:func:`probe`, on the I/O thread) and by the read model of ``persistq status``
(:mod:`~persistq.rabbitmq.report`) alike.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal

from persistq.errors import BrokerError

if TYPE_CHECKING:
    import pika.channel

NOT_FOUND = 404
Presence = Literal["alive", "gone", "unknown"]


def judge(answer: int | BaseException) -> Presence:
    """What the broker's answer to a passive declare of a presence queue says of its
    producer: the queue's consumer count (``alive`` while above 0, else ``gone``), or
    the error that closed the channel instead: ``gone`` on 404 (no such queue: it
    expired, or was never declared), ``unknown`` on anything else (e.g. 405
    RESOURCE_LOCKED, 403), which proves nothing about the producer's connection."""
    if isinstance(answer, BaseException):
        return "gone" if getattr(answer, "reply_code", None) == NOT_FOUND else "unknown"
    return "alive" if answer > 0 else "gone"


def probe(conn: Any, queue: str, future: Future[bool], where: str) -> None:
    """Resolve ``future`` with whether presence ``queue`` has a consumer, on a channel
    of its own (a passive declare of a missing queue, 404, closes its channel); fail it
    with BrokerError when :func:`judge` cannot tell."""

    def on_open(channel: pika.channel.Channel) -> None:
        channel.add_on_close_callback(on_close)
        channel.queue_declare(queue, passive=True, callback=lambda f: found(channel, f))

    def found(channel: pika.channel.Channel, frame: Any) -> None:
        if not future.done():
            future.set_result(judge(frame.method.consumer_count) == "alive")
        channel.close()

    def on_close(channel: pika.channel.Channel, error: BaseException) -> None:
        if future.done():
            return
        if judge(error) == "gone":
            future.set_result(False)
        else:
            reason = f"{where}: cannot tell whether {queue} has a consumer: {error}"
            future.set_exception(BrokerError(reason))

    conn.channel(on_open_callback=on_open)

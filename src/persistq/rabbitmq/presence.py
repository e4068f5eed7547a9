"""Whether a producer's connection lives: its presence queue has a consumer (the
producer's own connection) exactly while it does. Looked at on the I/O thread."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pika.channel

from persistq.errors import BrokerError

NOT_FOUND = 404


def probe(conn: Any, queue: str, future: Future[bool], where: str) -> None:
    """Resolve ``future`` with whether presence ``queue`` has a consumer, on a channel
    of its own (a passive declare of a missing queue, 404, closes its channel)."""

    def on_open(channel: pika.channel.Channel) -> None:
        channel.add_on_close_callback(on_close)
        channel.queue_declare(queue, passive=True, callback=lambda f: found(channel, f))

    def found(channel: pika.channel.Channel, frame: Any) -> None:
        if not future.done():
            future.set_result(frame.method.consumer_count > 0)
        channel.close()

    def on_close(channel: pika.channel.Channel, error: BaseException) -> None:
        if future.done():
            return
        if getattr(error, "reply_code", None) == NOT_FOUND:
            future.set_result(False)
        else:
            future.set_exception(BrokerError(f"{where}: {error}"))

    conn.channel(on_open_callback=on_open)

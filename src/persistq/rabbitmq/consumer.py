"""One process's consumer on a queue: messages read from deliveries, held until
``task_done`` or ``task_failed`` settles them, and the moves that settle a message by
publishing it elsewhere (a retry, the dead-letter queue) before acknowledging it."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

from persistq.errors import MessageFormatError, NotDeliveredError
from persistq.journal.codec import decode_payload, encode_payload
from persistq.rabbitmq.acks import wait_ack
from persistq.rabbitmq.inbox import Inbox
from persistq.rabbitmq.link import Delivery, Link, wait
from persistq.rabbitmq.retries import dead_letter, next_attempt
from persistq.rabbitmq.settings import Settings

log = logging.getLogger(__name__)


class Consumer:
    """Hands out the messages of a link's deliveries (read with the settings' codec;
    one that cannot be read goes to the dead-letter queue) and settles them by message."""

    def __init__(self, settings: Settings) -> None:
        self._topology = settings.topology
        self._codec = settings.codec
        self._where = settings.where
        self._prefetch = settings.prefetch
        self._retry_seconds = settings.retry_seconds
        self.inbox = Inbox(settings.where, settings.retry_seconds, settings.lease)

    def get(self, link: Link, block: bool, timeout: float | None) -> Any:
        """The next message, DONE or FAILED, as ``RabbitMQQueue.get`` promises."""
        link.consume()
        if len(self.inbox.held) >= self._prefetch:
            log.warning(
                "%s: get() waits while this consumer holds %d unacknowledged message(s), its "
                "prefetch: the broker sends no more before a task_done (or raise prefetch)",
                self._where,
                self._prefetch,
            )
        return self.inbox.get(link, lambda d: self._read(link, d), block, timeout)

    def task_done(self, link: Link, obj: Any) -> None:
        """Acknowledge ``obj``; return once the broker has the acknowledgement."""
        ack = link.ack(self._take(obj, "task_done"))
        wait_ack(ack, self._where, f"task_done({obj!r})", self._retry_seconds)

    def task_failed(self, link: Link, obj: Any, reason: str) -> str:
        """Send ``obj`` on to its next attempt or the dead-letter queue (returned)."""
        delivery = self._take(obj, "task_failed")
        target, headers = next_attempt(delivery.headers, reason, self._topology)
        ack = self._move(link, delivery, target, headers)
        wait_ack(ack, self._where, f"task_failed({obj!r})", self._retry_seconds)
        return target

    def _read(self, link: Link, delivery: Delivery) -> tuple[Any] | None:
        try:
            return (self._codec.from_fields(decode_payload(delivery.body)),)
        except Exception as exc:  # a converter may raise anything
            reason = f"cannot be read: {exc!r}"
            log.error(
                "%s: message %r %s; moved to %s",
                self._where,
                delivery.body[:80],
                reason,
                self._topology.dead,
            )
            headers = dead_letter(delivery.headers, reason, self._topology)
            self._move(link, delivery, self._topology.dead, headers)
            return None

    def _move(
        self, link: Link, delivery: Delivery, target: str, headers: dict[str, Any]
    ) -> Future[None]:
        published = link.publish(target, delivery.body, headers, self._retry_seconds)
        wait(published, self._where, self._retry_seconds)
        return link.ack(delivery)  # after the confirm: a crash in between delivers it twice

    def _take(self, obj: Any, what: str) -> Delivery:
        try:
            payload = encode_payload(self._codec.to_fields(obj))
        except MessageFormatError as exc:
            raise NotDeliveredError(f"{self._where}: {what}({obj!r}): {exc}") from None
        delivery = self.inbox.held.take(payload)
        if delivery is None:
            raise NotDeliveredError(
                f"{self._where}: {what}({obj!r}): this consumer holds no delivery of that "
                "message (never got it, or it was acknowledged already)"
            )
        return delivery

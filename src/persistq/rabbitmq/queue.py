"""RabbitMQQueue: the PersistentQueue API on a durable quorum queue of a broker."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pika

from persistq import processes
from persistq.closing import ClosesOrFails
from persistq.errors import BrokerError, UpstreamFailureError
from persistq.journal.codec import encode_payload
from persistq.messages import Converter, Formatter, MessageCodec
from persistq.rabbitmq.admin import reset_control_stream
from persistq.rabbitmq.link import wait
from persistq.rabbitmq.producer import Durability
from persistq.rabbitmq.session import Session
from persistq.rabbitmq.settings import Settings
from persistq.rabbitmq.topology import Topology
from persistq.sentinels import DONE, FAILED, is_control

log = logging.getLogger(__name__)

_CONFIG = (
    *("url", "topology", "queue_name", "codec", "number_of_workers", "prefetch"),
    *("delivery_limit", "durability", "retry_seconds", "producer_lease", "_where"),
    "_settings",
)
"""What a pickled queue keeps: its settings, never a connection."""


class RabbitMQQueue(ClosesOrFails):
    """A queue on a RabbitMQ broker with the methods and meaning of PersistentQueue.

    ``put`` returns once the broker confirmed the message (``durability="confirm"``), or
    at once with ``durability="stream"``, where ``flush()`` and ``close()`` wait for
    every confirm and raise UnconfirmedError naming the messages that are not safe.
    ``close()`` / ``fail()`` reach every consumer on every host, also those that join
    later. ``prefetch`` bounds the messages a consumer holds; a message delivered
    ``delivery_limit`` times (or failed that often) goes to the queue ``NAME.dead``.
    A producer whose connection is gone for ``producer_lease`` seconds without its
    ``close()`` (killed, or its host lost) has failed: consumers get FAILED.
    """

    def __init__(
        self,
        url: str,
        queue_name: str,
        formatter_list: Sequence[Formatter] | None = None,
        converter_list: Sequence[Converter] | None = None,
        number_of_workers: int = 1,
        *,
        prefetch: int = 1,
        delivery_limit: int | None = None,
        durability: Durability = "confirm",
        retry_seconds: float = 60.0,
        producer_lease: float | None = 30.0,
    ) -> None:
        if not isinstance(number_of_workers, int) or number_of_workers < 1:
            raise ValueError(f"number_of_workers must be a positive int; got {number_of_workers!r}")
        if not isinstance(prefetch, int) or prefetch < 1:
            raise ValueError(f"prefetch must be a positive int; got {prefetch!r}")
        if durability not in ("confirm", "stream"):
            raise ValueError(f"durability must be 'confirm' or 'stream'; got {durability!r}")
        if not str(url).startswith(("amqp://", "amqps://")):
            raise ValueError(f"url must start with amqp:// or amqps://; got {url!r}")
        self.url = url
        self.topology = Topology(queue_name, delivery_limit)
        self.queue_name = self.topology.queue
        self.codec = MessageCodec(tuple(formatter_list or ()), tuple(converter_list or ()))
        self.number_of_workers = number_of_workers
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.durability: Durability = durability
        self.retry_seconds = float(retry_seconds)
        self.producer_lease = producer_lease
        params = pika.URLParameters(url)
        self._where = f"{params.host}:{params.port}/{self.queue_name}"
        self._settings = Settings(
            url,
            self.topology,
            self.codec,
            self._where,
            prefetch,
            self.retry_seconds,
            producer_lease,
        )
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._session_ = Session(self._settings)

    @property
    def _session(self) -> Session:
        if self._session_.forks != processes.forks:  # forked: the parent's link is not ours
            self._init_process_state()
        return self._session_

    # -- pickling: each process opens its own connection ------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {name: self.__dict__[name] for name in _CONFIG}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    # -- producer side -------------------------------------------------------------

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """Send ``obj``; return once the broker confirmed it (``durability="confirm"``)
        or once it is on its way (``"stream"``: see :meth:`flush`). ``timeout`` bounds
        the wait for the confirm (default ``retry_seconds``); ``block`` is accepted for
        the queue API. A message that the journal codec cannot write raises
        MessageFormatError and sends nothing."""
        body = encode_payload(self.codec.to_fields(obj))
        session = self._session
        session.producer.put(session.link(), obj, body, self.durability, timeout)

    def put_nowait(self, obj: Any) -> None:
        """Equivalent to ``put(obj, block=False)``."""
        self.put(obj, block=False)

    def flush(self) -> None:
        """Wait until every message put so far is confirmed; raise UnconfirmedError
        naming those the broker refused or did not confirm within ``retry_seconds``."""
        self._session.producer.flush()

    def close(self) -> None:
        """As a producer: wait for every confirm (see :meth:`flush`), then record DONE,
        which every consumer of the queue receives, and disconnect."""
        session = self._session
        try:
            self.flush()
            session.producer.finish(session.link(), "done")
        finally:
            session.end()

    def fail(self) -> None:
        """As a producer: record FAILED, which every consumer of the queue receives,
        and disconnect."""
        session = self._session
        try:
            try:
                self.flush()
            except BrokerError as exc:
                log.error("%s: before FAILED: %s", self._where, exc)
            log.error("%s: sending FAILED to every consumer", self._where)
            session.producer.finish(session.link(), "failed")
        finally:
            session.end()

    # -- consumer side -------------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Return the next message, or DONE once every producer closed and no message
        is left, or FAILED once a producer failed; raise ``queue.Empty`` after
        ``timeout`` seconds (at once when not ``block``)."""
        session = self._session
        return session.consumer.get(session.link(), block, timeout)

    def get_nowait(self) -> Any:
        """Equivalent to ``get(block=False)``."""
        return self.get(block=False)

    def task_done(self, obj: Any) -> None:
        """Acknowledge ``obj`` (a message this consumer got) and return once the broker
        has the acknowledgement; DONE and FAILED need none. Raises DeliveryLostError
        (ConsumerTimeoutError after the broker's consumer_timeout) naming ``obj`` if the
        broker took the message back first: it is delivered again, maybe elsewhere."""
        if not is_control(obj):
            session = self._session
            session.consumer.task_done(session.link(), obj)

    def task_failed(self, obj: Any, reason: str) -> str:
        """Give up on this attempt at ``obj``; return the queue it went to: back to this
        queue while fewer than ``delivery_limit`` attempts failed, else to the dead-letter
        queue (with every attempt's reason in its header ``x-persistq-reasons``)."""
        session = self._session
        return session.consumer.task_failed(session.link(), obj, reason)

    def qsize(self) -> int:
        """Messages ready in the queue (not counting those delivered and unacknowledged)."""
        counts = self._session.link().counts(self.queue_name)
        return int(wait(counts, self._where, self.retry_seconds)[0])

    def empty(self) -> bool:
        """True if no message is ready in the queue."""
        return self.qsize() == 0

    def purge_control_messages(self) -> None:
        """Forget every producer's records (helo, done, failed), as at the start of a
        new run whose previous producers will never close (they were killed). Only
        while no producer of the queue runs; messages in the queue stay."""
        self._session.end()
        reset_control_stream(self.url, self.topology)

    def dispose(self) -> None:
        """As a consumer: disconnect; messages got and not acknowledged go back to the
        queue for another consumer."""
        self._session.end()

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        msg = self.get()
        if msg is FAILED:
            failed = self._session.consumer.inbox.failed_producers()
            self.dispose()
            raise UpstreamFailureError(
                f"{self._where}: an upstream producer failed (FAILED from {', '.join(failed)})"
            )
        if msg is DONE:
            self.dispose()
            raise StopIteration
        return msg

    def _end_block(self, *, failed: bool) -> None:
        if self._session.producer.name is None:  # a consumer only: nothing to announce
            self.dispose()
        else:
            super()._end_block(failed=failed)

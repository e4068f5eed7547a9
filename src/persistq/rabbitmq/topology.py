"""The broker objects behind one queue name: pure names and arguments, no I/O.

A queue ``Q`` is three durable queues: ``Q`` (quorum) holds the work, ``Q.dead``
(quorum) the messages given up on, and ``Q.control`` (a stream) the producers' records
(helo, done, failed) and the consumers' marks, which every consumer reads from the
start, so a consumer that joins late still learns that the producers closed or
failed. Each producer also consumes from a queue ``Q.producer.<digest>`` of its own:
when it has no consumer, the producer's connection is gone, and consumers learn that
it ended without ``close()``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

PRESENCE_DIGITS = 16
MAX_NAME_BYTES = 255 - len(".producer.") - PRESENCE_DIGITS


def check_queue_name(name: str) -> str:
    """Return ``name`` if it can name a persistq queue; raise ValueError naming it."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"queue_name must be a non-empty str; got {name!r}")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"queue_name {name!r} is longer than {MAX_NAME_BYTES} bytes")
    if name.startswith("amq."):
        raise ValueError(f"queue_name {name!r}: names starting with 'amq.' are the broker's")
    return name


def check_delivery_limit(limit: int | None) -> int | None:
    """Return ``limit`` if it is None or a positive int; raise ValueError otherwise."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"delivery_limit must be None or a positive int; got {limit!r}")
    return limit


@attrs.frozen
class Topology:
    """Names and declaration arguments of the queues behind ``queue``."""

    queue: str = attrs.field(converter=check_queue_name)
    delivery_limit: int | None = attrs.field(default=None, converter=check_delivery_limit)

    @property
    def dead(self) -> str:
        """The dead-letter queue: messages given up on, with their reasons."""
        return f"{self.queue}.dead"

    @property
    def control(self) -> str:
        """The stream of producer records (helo, done, failed) and consumer marks."""
        return f"{self.queue}.control"

    def presence(self, producer: str) -> str:
        """The queue that has a consumer while ``producer``'s connection lives."""
        digest = hashlib.sha256(producer.encode("utf-8")).hexdigest()[:PRESENCE_DIGITS]
        return f"{self.queue}.producer.{digest}"

    def work_arguments(self) -> dict[str, Any]:
        """Arguments of the work queue: quorum, dead-lettering into :attr:`dead`, and
        the broker's own delivery limit when one is set."""
        arguments: dict[str, Any] = {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dead,
        }
        if self.delivery_limit is not None:
            arguments["x-delivery-limit"] = self.delivery_limit
        return arguments

    def declarations(self) -> list[tuple[str, dict[str, Any]]]:
        """Every queue to declare (durable), with its arguments, in declaration order."""
        return [
            (self.dead, {"x-queue-type": "quorum"}),
            (self.control, {"x-queue-type": "stream"}),
            (self.queue, self.work_arguments()),
        ]

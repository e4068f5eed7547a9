"""The settings of a RabbitMQQueue that each process's side of it works with: one
frozen value, built once by the queue (and pickled with it), handed to the session
and the consumer."""

from __future__ import annotations

import attrs

from persistq.messages import MessageCodec
from persistq.rabbitmq.topology import Topology


@attrs.frozen
class Settings:
    """Where the queue is (``url``, ``topology``; ``where`` names it in messages), how
    its messages are written (``codec``), and its bounds: ``prefetch``,
    ``retry_seconds``, the producers' ``lease``."""

    url: str
    topology: Topology
    codec: MessageCodec
    where: str
    prefetch: int
    retry_seconds: float
    lease: float | None

"""persistq on a RabbitMQ broker: the PersistentQueue API across hosts (extra
``persistq[rabbitmq]``, client pika)."""

from __future__ import annotations

from persistq.rabbitmq.errors import (
    BrokerError,
    BrokerUnavailableError,
    ConsumerTimeoutError,
    NotDeliveredError,
    QueueSettingsError,
    UnconfirmedError,
)
from persistq.rabbitmq.queue import RabbitMQQueue

__all__ = [
    "BrokerError",
    "BrokerUnavailableError",
    "ConsumerTimeoutError",
    "NotDeliveredError",
    "QueueSettingsError",
    "RabbitMQQueue",
    "UnconfirmedError",
]

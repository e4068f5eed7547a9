"""persistq on a RabbitMQ broker: the PersistentQueue API across hosts (extra
``persistq[rabbitmq]``, client pika).

The errors and the broker-free modules import without pika; ``RabbitMQQueue`` needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from persistq.errors import (
    BrokerError,
    BrokerUnavailableError,
    ConsumerTimeoutError,
    DeliveryLostError,
    NotDeliveredError,
    QueueSettingsError,
    UnconfirmedError,
)

if TYPE_CHECKING:
    from persistq.rabbitmq.queue import RabbitMQQueue


def __getattr__(name: str) -> Any:
    if name != "RabbitMQQueue":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from persistq.rabbitmq.queue import RabbitMQQueue  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name != "pika":
            raise
        raise ImportError(
            "persistq.rabbitmq.RabbitMQQueue needs pika: pip install 'persistq[rabbitmq]'"
        ) from exc
    return RabbitMQQueue


__all__ = [
    "BrokerError",
    "BrokerUnavailableError",
    "ConsumerTimeoutError",
    "DeliveryLostError",
    "NotDeliveredError",
    "QueueSettingsError",
    "RabbitMQQueue",
    "UnconfirmedError",
]

"""The errors of the RabbitMQ queue, defined in :mod:`persistq.errors` (one module for
every error of persistq) and importable from here as documented."""

from __future__ import annotations

from persistq.errors import (
    BrokerError,
    BrokerUnavailableError,
    ConsumerTimeoutError,
    DeliveryLostError,
    NotDeliveredError,
    QueueSettingsError,
    UnconfirmedError,
)

__all__ = [
    "BrokerError",
    "BrokerUnavailableError",
    "ConsumerTimeoutError",
    "DeliveryLostError",
    "NotDeliveredError",
    "QueueSettingsError",
    "UnconfirmedError",
]

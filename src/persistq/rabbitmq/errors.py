"""The errors of the RabbitMQ queue: each built from one message, so each pickles."""

from __future__ import annotations

from persistq.errors import PersistqError


class BrokerError(PersistqError):
    """Something between this process and the broker went wrong; the message says what."""


class BrokerUnavailableError(BrokerError):
    """The broker could not be reached (or did not confirm) within ``retry_seconds``."""


class UnconfirmedError(BrokerError):
    """Messages that the broker refused (nack) or never confirmed; they may be missing."""


class DeliveryLostError(BrokerError):
    """``task_done`` came after the broker took the message back (the connection or its
    channel was lost: a host cut off, a broker restart); the message went back to the
    queue and is delivered again, maybe to another consumer: the work done here on it
    may be done again there."""


class ConsumerTimeoutError(DeliveryLostError):
    """The broker took a message back because it was not acknowledged within its
    ``consumer_timeout``; the message went back to the queue and will be delivered again."""


class QueueSettingsError(BrokerError):
    """The queue exists on the broker with other settings than this client asks for."""


class NotDeliveredError(BrokerError, ValueError):
    """``task_done`` or ``task_failed`` of a message this consumer does not hold."""

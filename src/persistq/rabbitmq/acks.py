"""Waiting for an acknowledgement to reach the broker, and what to say when it did not."""

from __future__ import annotations

import concurrent.futures
import logging

from persistq.rabbitmq.errors import BrokerUnavailableError, ConsumerTimeoutError, DeliveryLostError
from persistq.rabbitmq.subscriptions import timed_out

log = logging.getLogger(__name__)


def lost_ack(where: str, call: str, reason: str) -> DeliveryLostError:
    """The error of ``call`` (say ``task_done('a.csv')``) whose acknowledgement came
    after the broker took the message back for ``reason``."""
    if timed_out(reason):
        return ConsumerTimeoutError(
            f"{where}: {call}: the broker took this message back after its consumer_timeout "
            f"({reason}); it went back to the queue and is delivered again, maybe to "
            "another consumer. Raise consumer_timeout in rabbitmq.conf (milliseconds, "
            "e.g. consumer_timeout = 86400000) above your longest task; see docs/rabbitmq.md"
        )
    return DeliveryLostError(
        f"{where}: {call}: not acknowledged: the broker took the message back before "
        f"the acknowledgement reached it ({reason}); it went back to the queue and is "
        "delivered again, maybe to a consumer on another host, so the work done here on "
        "it may be done again there (make it idempotent, or check for it); see "
        "docs/rabbitmq.md"
    )


def wait_ack(ack: concurrent.futures.Future[None], where: str, call: str, timeout: float) -> None:
    """Return once the broker has the acknowledgement of ``call``; raise (and log)
    DeliveryLostError if it took the message back first, BrokerUnavailableError if it
    did not answer within ``timeout`` seconds."""
    try:
        ack.result(timeout)
    except DeliveryLostError as exc:
        error = lost_ack(where, call, str(exc))
        log.error("%s", error)
        raise error from None
    except concurrent.futures.TimeoutError:
        raise BrokerUnavailableError(
            f"{where}: {call}: the broker did not answer within {timeout:g} s "
            "(retry_seconds); the acknowledgement may not have reached it, so the message "
            "may be delivered again"
        ) from None

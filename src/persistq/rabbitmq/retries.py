"""Where a message given up on goes next, and the headers it carries: pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from persistq.rabbitmq.topology import Topology

ATTEMPT: Final = "x-persistq-attempt"
REASONS: Final = "x-persistq-reasons"
QUEUE: Final = "x-persistq-queue"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def next_attempt(
    headers: Mapping[str, Any], reason: str, topology: Topology
) -> tuple[str, dict[str, Any]]:
    """The queue a message goes to after its attempt (numbered by ``headers``, from 1)
    failed for ``reason``, and its new headers: back to the work queue while fewer
    than ``topology.delivery_limit`` attempts failed, else to the dead-letter queue.
    Every attempt's reason is kept, oldest first."""
    attempt = int(headers.get(ATTEMPT, 1))
    reasons = [_text(r) for r in headers.get(REASONS, [])] + [reason]
    limit = topology.delivery_limit
    if limit is not None and attempt < limit:
        target, number = topology.queue, attempt + 1
    else:
        target, number = topology.dead, attempt
    return target, {ATTEMPT: number, REASONS: reasons, QUEUE: topology.queue}


def dead_letter(headers: Mapping[str, Any], reason: str, topology: Topology) -> dict[str, Any]:
    """The headers of a message sent straight to the dead-letter queue for ``reason``."""
    return next_attempt(headers, reason, Topology(topology.queue))[1]

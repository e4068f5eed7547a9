"""The one read model of a queue on its broker: :func:`inspect` says how many messages
are ready, unacknowledged and dead-lettered, how many consumers the queue has, what the
control stream says of the producers (open, closed, failed: DONE or FAILED) and
whether each open producer's connection lives, judged by
:func:`~persistq.rabbitmq.presence.judge` as every consumer judges it.

``persistq status amqp://…`` and its gauges render this report and read nothing else.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import attrs
import pika

from persistq.errors import BrokerError
from persistq.rabbitmq.admin import connect
from persistq.rabbitmq.control import ControlState, conclusion, fold
from persistq.rabbitmq.presence import Presence, judge
from persistq.rabbitmq.topology import Topology
from persistq.sentinels import Sentinel

IDLE_S = 0.3
PREFETCH = 100


@attrs.frozen
class BrokerReport:
    """What the broker holds for queue ``queue`` at one look.

    ``unacknowledged`` is None when the management API did not answer; ``presence``
    says, of each open producer, whether its connection lives (``alive``), is gone
    without ``close()`` (``gone``) or the broker's answer cannot tell (``unknown``).
    """

    queue: str
    dead_queue: str
    ready: int
    consumers: int
    dead_lettered: int
    unacknowledged: int | None
    open: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    presence: dict[str, Presence] = attrs.field(factory=dict)

    def producers_that(self, presence: Presence) -> list[str]:
        """The open producers whose presence is ``presence``, sorted."""
        return [p for p in self.open if self.presence.get(p) == presence]

    @property
    def conclusion(self) -> Sentinel | None:
        """What a consumer's ``get`` concludes from the control records and the ready
        count when no message is at hand: FAILED, DONE or None (keep waiting)."""
        state = ControlState(set(self.open), set(self.closed), list(self.failed))
        return conclusion(state, self.ready)


def inspect(url: str, queue_name: str, *, management: str | None = None) -> BrokerReport:
    """Read queue ``queue_name`` on the broker of ``url`` (an AMQP URL, as
    :class:`~persistq.rabbitmq.RabbitMQQueue` takes) on a short connection of its own;
    unacknowledged messages come from the management HTTP API at ``management``
    (default ``http://HOST:15672``) when it answers.

    BrokerUnavailableError when the broker cannot be reached, BrokerError when the
    queue does not exist; ValueError for a ``management`` that is not http(s).
    """
    topology = Topology(queue_name)
    params = pika.URLParameters(url)
    where = f"{params.host}:{params.port}/{topology.queue}"
    api = management or f"http://{params.host}:15672"
    if not api.startswith(("http://", "https://")):
        raise ValueError(f"management {api!r}: give an http:// or https:// URL")
    connection = connect(url, where)
    try:
        work = _declare(connection, topology.queue)
        if isinstance(work, BaseException):
            raise BrokerError(f"{where}: no queue {topology.queue!r} on this broker ({work})")
        dead = _declare(connection, topology.dead)
        state = _control(connection, topology, where)
        presence = {
            p: judge(_consumers(_declare(connection, topology.presence(p))))
            for p in sorted(state.open)
        }
    finally:
        connection.close()
    return BrokerReport(
        queue=topology.queue,
        dead_queue=topology.dead,
        ready=work.message_count,
        consumers=work.consumer_count,
        dead_lettered=0 if isinstance(dead, BaseException) else dead.message_count,
        unacknowledged=_unacknowledged(api, params, topology.queue),
        open=tuple(sorted(state.open)),
        closed=tuple(sorted(state.closed)),
        failed=tuple(state.failed),
        presence=presence,
    )


def _declare(connection: pika.BlockingConnection, queue: str) -> Any:
    """The DeclareOk of a passive declare of ``queue``, or the error that closed its
    channel instead."""
    channel = connection.channel()
    try:
        ok = channel.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        return exc
    channel.close()
    return ok.method


def _consumers(answer: Any) -> int | BaseException:
    return answer if isinstance(answer, BaseException) else int(answer.consumer_count)


def _control(connection: pika.BlockingConnection, topology: Topology, where: str) -> ControlState:
    """Every record of the control stream, read from its start until it is idle for
    ``IDLE_S``; empty when there is no stream (no producer ever announced itself)."""
    state = ControlState()
    try:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=PREFETCH)
        for method, _, body in channel.consume(
            topology.control, arguments={"x-stream-offset": "first"}, inactivity_timeout=IDLE_S
        ):
            if method is None:
                break
            channel.basic_ack(method.delivery_tag)
            fold(state, body, where)
        channel.close()
    except pika.exceptions.ChannelClosedByBroker:
        pass
    return state


def _unacknowledged(api: str, params: pika.URLParameters, queue: str) -> int | None:
    """The queue's unacknowledged messages by the management API; None when it does
    not answer."""
    path = "/api/queues/{}/{}".format(
        *(urllib.parse.quote(s, safe="") for s in (params.virtual_host, queue))
    )
    request = urllib.request.Request(api.rstrip("/") + path)  # noqa: S310 - http(s) only
    credentials = params.credentials
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return int(json.load(response).get("messages_unacknowledged", 0))
    except (OSError, ValueError, urllib.error.URLError):
        return None

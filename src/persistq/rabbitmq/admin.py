"""One-off operations on a queue's broker objects, each on a short connection of its own."""

from __future__ import annotations

import pika

from persistq.errors import BrokerUnavailableError
from persistq.rabbitmq.topology import Topology


def connect(url: str, where: str) -> pika.BlockingConnection:
    """A blocking connection to the broker of ``url``; BrokerUnavailableError naming
    ``where`` when it cannot be opened."""
    try:
        return pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailableError(f"{where}: cannot connect to the broker: {exc!r}") from None


def reset_control_stream(url: str, topology: Topology) -> None:
    """Delete ``topology``'s control stream and declare it again, empty (one short
    connection of its own)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.queue_delete(topology.control)
        name, arguments = topology.declarations()[1]
        channel.queue_declare(name, durable=True, arguments=arguments)
    finally:
        connection.close()


def delete_queues(url: str, topology: Topology, where: str) -> dict[str, int]:
    """Delete the work queue, the dead-letter queue and the control stream of
    ``topology`` (only while nothing runs); the messages each held, by name."""
    connection = connect(url, where)
    try:
        deleted = {}
        for name in (topology.queue, topology.dead, topology.control):
            ok = connection.channel().queue_delete(name)
            deleted[name] = ok.method.message_count
    finally:
        connection.close()
    return deleted

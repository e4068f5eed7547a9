"""One-off operations on a queue's broker objects, each on a short connection of its own."""

from __future__ import annotations

import pika

from persistq.rabbitmq.topology import Topology


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

"""This process's side of a RabbitMQQueue: its link to the broker, its producer and its
consumer.

A RabbitMQQueue holds one of these per process and builds a new one, in one place,
after a fork (the parent's connection is not the child's) and after unpickling (spawn).
"""

from __future__ import annotations

import threading

import pika

from persistq import processes
from persistq.rabbitmq.consumer import Consumer
from persistq.rabbitmq.link import Link
from persistq.rabbitmq.producer import Producer
from persistq.rabbitmq.settings import Settings


class Session:
    """The link of this process (opened on first use, closed by :meth:`end`), with
    the :class:`Producer` and the :class:`Consumer` that use it. ``forks`` says which
    process built it (see :data:`persistq.processes.forks`)."""

    def __init__(self, settings: Settings) -> None:
        self.forks = processes.forks
        self._settings = settings
        self._lock = threading.Lock()
        self._link: Link | None = None
        self.producer = Producer(settings.topology, settings.where, settings.retry_seconds)
        self.consumer = Consumer(settings)

    def link(self) -> Link:
        """This process's link, opened now if it is not open; its deliveries and
        control records go to :attr:`consumer`."""
        with self._lock:
            if self._link is None:
                inbox = self.consumer.inbox
                self._link = Link(
                    pika.URLParameters(self._settings.url),
                    self._settings.topology,
                    prefetch=self._settings.prefetch,
                    on_delivery=inbox.on_delivery,
                    on_control=inbox.on_control,
                    on_control_reset=inbox.on_control_reset,
                )
            return self._link

    def end(self) -> None:
        """Close the link (acks and publishes asked before go out first); the
        messages the consumer held go back to the queue, and a new consumer starts
        with the next link."""
        with self._lock:
            link, self._link = self._link, None
        if link is not None:
            link.close()
        self.consumer = Consumer(self._settings)

"""One process's producer on a queue: its records on the control stream and its puts."""

from __future__ import annotations

import threading
from typing import Literal

from persistq.errors import BrokerError
from persistq.rabbitmq.confirms import ConfirmWindow
from persistq.rabbitmq.control import ControlKind, encode_control, new_producer_id
from persistq.rabbitmq.link import Link, wait
from persistq.rabbitmq.topology import Topology

Durability = Literal["confirm", "stream"]
STREAM_WINDOW = 1000


class Producer:
    """Writes ``helo`` before this process's first message and ``done`` or ``failed``
    at the end (under one name, however many threads put), and publishes messages:
    each waited for (``"confirm"``) or streamed through a :class:`ConfirmWindow`."""

    def __init__(self, topology: Topology, where: str, retry_seconds: float) -> None:
        self._topology = topology
        self._where = where
        self._retry_seconds = retry_seconds
        self.name: str | None = None
        self._lock = threading.Lock()
        self._window = ConfirmWindow(STREAM_WINDOW, where)

    def put(
        self, link: Link, obj: object, body: bytes, durability: Durability, timeout: float | None
    ) -> None:
        """Publish ``body`` (the message ``obj``) after announcing this producer."""
        self._announce(link)
        deadline = timeout or self._retry_seconds
        if durability == "stream":
            self._window.reserve()
            self._window.track(obj, link.publish(self._topology.queue, body, None, deadline))
            return
        try:
            wait(link.publish(self._topology.queue, body, None, deadline), self._where, deadline)
        except BrokerError as exc:
            raise type(exc)(f"put {obj!r}: {exc}") from None

    def flush(self) -> None:
        """Wait for every streamed confirm; raise UnconfirmedError naming the missing."""
        self._window.flush(self._retry_seconds)

    def finish(self, link: Link, kind: ControlKind) -> None:
        """Record ``done`` or ``failed`` for this producer (a new name if it put nothing);
        a later put announces a new producer."""
        self._record(link, kind, self.name or new_producer_id())
        self.name = None

    def _announce(self, link: Link) -> None:
        if self.name is None:
            with self._lock:  # threads that put at once are one producer
                if self.name is None:
                    name = new_producer_id()
                    self._record(link, "helo", name)
                    presence = link.hold_presence(self._topology.presence(name))
                    wait(presence, self._where, self._retry_seconds)
                    self.name = name

    def _record(self, link: Link, kind: ControlKind, name: str) -> None:
        body = encode_control(kind, name)
        published = link.publish(self._topology.control, body, None, self._retry_seconds)
        wait(published, self._where, self._retry_seconds)

"""The connections still open when the interpreter exits are closed then.

A queue never disposed keeps its I/O thread, which would otherwise go on connecting
again (and logging so, onto streams already closed) while the interpreter shuts down.
At exit each one stops reconnecting and closes; all of them together wait at most
``EXIT_WAIT_S``, and the threads are daemons, so a broker out of reach never holds up
the exit.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from typing import Protocol

EXIT_WAIT_S = 2.0


class Stoppable(Protocol):
    """A connection with an I/O thread (a :class:`~persistq.rabbitmq.link.Link`)."""

    def stop_soon(self) -> threading.Thread:
        """Stop reconnecting and close; return the I/O thread."""


_open: weakref.WeakSet[Stoppable] = weakref.WeakSet()
_lock = threading.Lock()
_registered = False


def track(link: Stoppable) -> None:
    """Close ``link`` at interpreter exit if it still runs then."""
    global _registered  # noqa: PLW0603 - one exit hook per process
    with _lock:
        if not _registered:  # after logging's own hook, so it runs before logging ends
            atexit.register(close_all)
            _registered = True
        _open.add(link)


def close_all(wait: float = EXIT_WAIT_S) -> None:
    """Stop every tracked link, and wait up to ``wait`` seconds for their threads."""
    with _lock:
        links = list(_open)
    threads = [link.stop_soon() for link in links]
    deadline = time.monotonic() + wait
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))

"""Streamed publishes: many in flight, each settled by the broker's confirm, all waited
for at ``flush()``."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from persistq.errors import UnconfirmedError

SHOWN = 10


class ConfirmWindow:
    """At most ``size`` publishes in flight; remembers the messages that were not
    confirmed so that :meth:`flush` can name them."""

    def __init__(self, size: int, where: str) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self._settled = threading.Condition()
        self._in_flight = 0
        self._unconfirmed: list[str] = []
        self._where = where

    def reserve(self) -> None:
        """Wait for room in the window, then count one more publish in flight."""
        self._slots.acquire()
        with self._settled:
            self._in_flight += 1

    def track(self, message: object, future: Future[None]) -> None:
        """Settle the reserved slot once ``future`` (the broker's confirm) resolves."""
        future.add_done_callback(lambda f: self._settle(message, f))

    def _settle(self, message: object, future: Future[None]) -> None:
        failed = future.exception() is not None
        with self._settled:
            if failed:
                self._unconfirmed.append(repr(message))
            self._in_flight -= 1
            self._settled.notify_all()
        self._slots.release()

    def flush(self, timeout: float) -> None:
        """Wait until every publish is settled; raise UnconfirmedError naming those the
        broker refused or never confirmed (then forget them)."""
        with self._settled:
            if not self._settled.wait_for(lambda: self._in_flight == 0, timeout):
                raise UnconfirmedError(
                    f"{self._where}: {self._in_flight} message(s) still unconfirmed after "
                    f"{timeout:.0f} s; they may be missing"
                )
            failed, self._unconfirmed = self._unconfirmed, []
        if failed:
            more = f" and {len(failed) - SHOWN} more" if len(failed) > SHOWN else ""
            raise UnconfirmedError(
                f"{self._where}: {len(failed)} message(s) were not confirmed by the broker "
                f"(refused, or no confirm in time) and may be missing: "
                f"{', '.join(failed[:SHOWN])}{more}; put them again"
            )

"""How a producer's ``with`` block ends: in ``close()``, or in ``fail()`` when it ends
by an exception, so that consumers are told of a producer that died of one (FAILED)
instead of waiting for it."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class ProducerContext(abc.ABC):
    """A context manager for queues that producers end with ``close()`` or ``fail()``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Announce that this producer puts nothing more."""

    @abc.abstractmethod
    def fail(self) -> None:
        """Announce that this producer failed."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the ``with`` block: ``close()``, or ``fail()`` if it ends by an exception."""
        if exc_type is None:
            self.close()
        else:
            self.fail()

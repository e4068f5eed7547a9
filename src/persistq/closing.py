"""The ``with`` rule of every queue class that produces: the block ends in ``close()``,
or in ``fail()`` when it ends by an exception, so consumers get DONE or FAILED."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class ClosesOrFails(abc.ABC):
    """A context manager whose ``with`` block ends in :meth:`close`, or in :meth:`fail`
    when the block ends by an exception."""

    @abc.abstractmethod
    def close(self) -> None:
        """Announce that this producer will put nothing more (consumers get DONE)."""

    @abc.abstractmethod
    def fail(self) -> None:
        """Announce that this producer failed (consumers get FAILED)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the ``with`` block: ``close()``, or ``fail()`` if it ends by an exception."""
        self._end_block(failed=exc_type is not None)

    def _end_block(self, *, failed: bool) -> None:
        if failed:
            self.fail()
        else:
            self.close()

"""The reader that claims message files one at a time, in sort order."""

from __future__ import annotations

import os
from typing import Unpack

from persistq.folder.ordering import SortingFunction
from persistq.folder.readable import FolderReader, ReaderOptions
from persistq.sentinels import DONE, FAILED, Sentinel


class ReadableFolderQueue(FolderReader):
    """Claims message files from a queue folder, one at a time, in ``sorting_function``
    order (default: file name). ``sorting_function`` receives a message's base file
    name and returns its sort key (a string, as in PyMPX); a file it fails on sorts
    last. See :class:`FolderReader` for the keyword options."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        message_extension: str = ".tsv",
        task_done_directory: str | os.PathLike[str] | None = None,
        sorting_function: SortingFunction | None = None,
        **options: Unpack[ReaderOptions],
    ) -> None:
        super().__init__(
            path,
            message_extension,
            task_done_directory,
            sorting_function=sorting_function,
            **options,
        )

    def get(self, timeout: float | None = None) -> str | Sentinel:
        """The wip path of the next message (claimed by this process), DONE or FAILED.

        ``timeout`` is in milliseconds (None: wait for ever); raises ``queue.Empty`` when
        it passes. FAILED as soon as any producer failed or is known to have died without
        closing; DONE once every announced producer of this run has closed and no message
        is left. While no producer has announced itself, ``get`` waits for messages (and
        times out), never returning DONE.
        """
        result = self._get(timeout)
        return result[0] if isinstance(result, list) else result

    def mark_all_work_done(self) -> None:
        """Claim and finish (``task_done``) every message until DONE."""
        for msg in self:
            self.task_done(msg)

    def __iter__(self) -> ReadableFolderQueue:
        return self

    def __next__(self) -> str:
        msg = self.get()
        if msg is FAILED:
            error = self._failure()
            self.dispose()
            raise error
        if msg is DONE:
            self.dispose()
            raise StopIteration
        return str(msg)

"""The producer side of a folder queue."""

from __future__ import annotations

import logging
import os
from types import TracebackType

from persistq.durability import Durability
from persistq.folder.admin import purge_folder, remove_markers
from persistq.folder.base import FolderQueueBase
from persistq.folder.markers import new_producer_token, write_marker
from persistq.folder.names import Kind, check_message_name
from persistq.folder.placement import put_file
from persistq.folder.tempnames import check_name_length

log = logging.getLogger(__name__)


class WritableFolderQueue(FolderQueueBase):
    """Puts data files into a queue folder; announces itself with a helo marker.

    A context manager: a ``with`` block ends in :meth:`close`, or in :meth:`fail` when
    it ends by an exception. The producer identity belongs to this object: a copy
    pickled into a child process puts on behalf of the same producer, and one
    ``close()`` (anywhere) ends it. Construct one queue per process to have
    independent producers.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        message_extension: str = ".tsv",
        task_done_directory: str | os.PathLike[str] | None = None,
        *,
        durability: Durability = "flush",
    ) -> None:
        super().__init__(path, message_extension, task_done_directory, durability=durability)
        self.producer = new_producer_token(self.owner)
        self._host = self.owner.host  # for the name-length check, without a getpid a put
        self._helo()

    def _helo(self) -> None:
        write_marker(self.path, self.producer, "helo", self.owner, self.durability)

    def put(self, msg: str | os.PathLike[str], copy: bool = False) -> str:
        """Move (or copy) file ``msg`` into the queue; return its path there (same base name).

        The file appears under its final name only when complete, also across file
        systems. FileExistsError if that name is taken (even by a racing producer),
        FileNotFoundError if ``msg`` is missing, ValueError if its name is not a message
        name of this queue or too long, or if it is a symbolic link (with ``copy=True``
        the file it points to is copied); in every error case ``msg`` is left untouched.
        """
        src = os.fspath(msg)
        name = check_message_name(os.path.basename(src), self.message_extension)
        check_name_length(name, self._host)
        dst = os.path.join(self.path, name)
        put_file(src, dst, copy=copy, queue=self.path, durability=self.durability)
        return dst

    def __enter__(self) -> WritableFolderQueue:
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

    def close(self) -> None:
        """Announce that this producer will put nothing more (a done marker)."""
        write_marker(self.path, self.producer, "done", self.owner, self.durability)
        log.debug("closed folder queue %s", self.path)

    def fail(self) -> None:
        """Announce that this producer failed (a failed marker): consumers get FAILED."""
        write_marker(self.path, self.producer, "failed", self.owner, self.durability)
        log.error("producer %s failed on folder queue %s", self.producer, self.path)

    def purge(self) -> None:
        """Delete every message, wip file, marker and lease of this queue. Permanently.

        Foreign files (other extensions) and subfolders are left untouched.
        """
        purge_folder(self.path, self.message_extension, self.durability)

    def purge_control_messages(self) -> None:
        """Delete the markers of earlier runs; this producer announces itself again."""
        remove_markers(self.path, self.message_extension, self.durability)
        self._helo()

    def reset_processing_files(self) -> list[str]:
        """Rename every wip file back to its queued name; return the restored paths.

        For use when no consumer is running: live claims are taken back too.
        """
        restored = [self.give_back(name) for name in self._names(Kind.WIP)]
        return [path for path in restored if path is not None]

    def reset(self) -> list[str]:
        """Remove earlier runs' markers and restore every wip file; return the restored paths."""
        self.purge_control_messages()
        restored = self.reset_processing_files()
        log.info("reset queue %s (%d files restored)", self.path, len(restored))
        return restored

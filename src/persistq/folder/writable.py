"""The producer side of a folder queue."""

from __future__ import annotations

import logging
import os

from persistq.closing import ClosesOrFails
from persistq.durability import Durability
from persistq.folder import lease
from persistq.folder.admin import purge_folder, remove_markers
from persistq.folder.base import FolderQueueBase
from persistq.folder.markers import new_producer_token, write_marker
from persistq.folder.moves import finish_moves
from persistq.folder.names import Kind, check_message_name
from persistq.folder.placement import put_file
from persistq.folder.tempnames import check_name_length

log = logging.getLogger(__name__)


class WritableFolderQueue(FolderQueueBase, ClosesOrFails):
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
        lease_seconds: float | None = None,
    ) -> None:
        super().__init__(path, message_extension, task_done_directory, durability=durability)
        if lease_seconds is not None and not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be a positive number; got {lease_seconds!r}")
        self.producer = new_producer_token(self.owner)
        self._host = self.owner.host  # for the name-length check, without a getpid a put
        self.lease_seconds = lease_seconds
        # With a lease, readers on other hosts (or PID namespaces) judge this producer
        # dead once its heartbeat is older than the lease; kept until close() or fail().
        self._heartbeat: str | None = None
        finish_moves(self.path, self.durability)  # a producer killed mid-put left them
        self._helo()

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_heartbeat"] = None  # the heartbeat is the announcing process's
        return state

    def _stop_heartbeat(self) -> None:
        beat, self._heartbeat = self._heartbeat, None
        if beat is not None:
            lease.let_go(beat)

    def _helo(self) -> None:
        if self.lease_seconds is not None and self._heartbeat is None:
            self._heartbeat = lease.hold(self.path, self.owner, self.lease_seconds)
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

    def close(self) -> None:
        """Announce that this producer will put nothing more (a done marker)."""
        write_marker(self.path, self.producer, "done", self.owner, self.durability)
        self._stop_heartbeat()
        log.debug("closed folder queue %s", self.path)

    def fail(self) -> None:
        """Announce that this producer failed (a failed marker): consumers get FAILED."""
        write_marker(self.path, self.producer, "failed", self.owner, self.durability)
        self._stop_heartbeat()
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

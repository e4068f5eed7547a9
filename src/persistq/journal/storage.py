"""Journal files on disk: space reserved ahead of the records (a full disk fails when
the file grows, never a write later), appended through a shared mapping (``none``,
``flush``) or written and synced a page at a time (``fsync``)."""

from __future__ import annotations

import errno
import mmap
import os
import threading

from persistq.errors import JournalClosedError
from persistq.journal.group_commit import not_journalled

sync_data = getattr(os, "fdatasync", os.fsync)
"""Make written records durable. In a journal's reserved space a write changes no
metadata, so fdatasync flushes the data alone (and the file size after growth)."""

RESERVE_CHUNK = 1 << 20
"""How much a journal grows at a time; its unused tail is zeros until it is closed."""

PAGE = mmap.PAGESIZE
"""The unit in which the OS writes a file back to disk."""


class ReservedFile:
    """A journal file that grows by RESERVE_CHUNK, reserved on disk before it is used:
    a full disk is then an OSError when the file grows, never a lost write later.
    ``end`` is where the records stop; the reserved tail after it reads as zeros,
    which readers take for a torn tail, until :meth:`close` trims it."""

    def __init__(self, path: str, fd: int, end: int) -> None:
        self.path = path
        self._fd = fd  # closed by the caller if this raises
        self.end = end
        self.size = end
        self.reserve(end + 1)

    def reserve(self, needed: int) -> None:
        """Grow the file so that its first ``needed`` bytes are reserved; raise OSError
        naming the file when the disk is full (nothing is written then)."""
        if needed <= self.size:
            return
        size = -(-needed // RESERVE_CHUNK) * RESERVE_CHUNK
        try:
            try:
                os.posix_fallocate(self._fd, self.size, size - self.size)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                os.ftruncate(self._fd, size)  # no reservation on this file system
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, self.path) from exc
        self._resized(size)
        self.size = size

    def _resized(self, size: int) -> None:
        """Called after the file grew to ``size`` bytes (``self.size`` is the old size
        until this returns)."""

    def close(self) -> None:
        os.ftruncate(self._fd, self.end)
        os.close(self._fd)

    def abandon(self) -> None:
        """Close this process's descriptor only (a forked child's inherited copy)."""
        os.close(self._fd)


class MappedFile(ReservedFile):
    """For ``none`` and ``flush``: appends by copying into a shared mapping of the file
    (``mmap.write`` at the mapping's position, which writes all of a record or, where
    the reserved space ends, nothing). A copied record is in the OS page cache, so it
    outlives a killed process, and no system call is made per record."""

    def __init__(self, path: str, fd: int, end: int) -> None:
        self._lock = threading.Lock()
        self._map: mmap.mmap | None = None
        super().__init__(path, fd, end)

    def _resized(self, size: int) -> None:
        if self._map is None:
            self._map = mmap.mmap(self._fd, size)
            self._map.seek(self.end)
        else:
            self._map.resize(size)  # keeps the position

    @property
    def closed(self) -> bool:
        return self._map is None

    def append(self, data: bytes) -> None:
        self._lock.acquire()  # not ``with``: its exit call would cost more than the write
        try:
            self._map.write(data)  # type: ignore[union-attr]
        except (ValueError, AttributeError):  # the reserve is full, or the file closed
            self._grow_and_write(data)
        finally:
            self._lock.release()

    def _grow_and_write(self, data: bytes) -> None:
        if self._map is None:
            raise JournalClosedError(f"{self.path}: journal is closed")
        try:
            self.reserve(self._map.tell() + len(data))
        except OSError as exc:
            raise not_journalled(self.path, exc) from exc
        self._map.write(data)

    def close(self) -> None:
        with self._lock:
            if self._unmap():
                super().close()

    def abandon(self) -> None:
        # No lock: in a forked child it may be held by a thread that only the parent has.
        if self._unmap():
            super().abandon()

    def _unmap(self) -> bool:
        """Drop the mapping, noting where the records end; False if it was dropped
        already."""
        if self._map is None:
            return False
        self.end = self._map.tell()
        self._map.close()
        self._map = None
        self.size = 0
        return True


class SyncedFile(ReservedFile):
    """For ``fsync``: writes into the reserved space and syncs, one page at a time.

    A write into reserved space changes no metadata, so its sync flushes the data
    alone. Syncing each page before writing the next keeps a power cut from leaving
    a later page on disk without an earlier one, a hole that recovery would take for
    corruption: all that a cut can leave unsynced lies in the last page written.
    """

    def write_durably(self, data: bytes) -> None:
        """Write ``data`` after the last record, into space already reserved, and sync
        it. After an OSError the file's state is unknown."""
        view = memoryview(data)
        while view:
            piece = view[: PAGE - self.end % PAGE]
            while piece:  # a write may be partial
                written = os.pwrite(self._fd, piece, self.end)
                piece = piece[written:]
                view = view[written:]
                self.end += written
            sync_data(self._fd)

    def close(self) -> None:
        try:
            os.ftruncate(self._fd, self.end)
            sync_data(self._fd)  # the trimmed size, so the zero tail is gone for good
        finally:
            os.close(self._fd)

"""Appending records to a journal file under a durability policy."""

from __future__ import annotations

import errno
import logging
import mmap
import os
import threading
from collections.abc import Iterable, Sequence
from typing import BinaryIO, Protocol

from persistq import processes
from persistq.durability import Durability, check_durability, fsync_directory
from persistq.errors import JournalClosedError, PersistqError
from persistq.journal.codec import HEADER, encode_record, frame_payload
from persistq.journal.group_commit import GroupCommit, not_journalled
from persistq.journal.opening import open_or_create

log = logging.getLogger(__name__)

sync_data = getattr(os, "fdatasync", os.fsync)
"""Make written records durable. In a journal's reserved space a write changes no
metadata, so fdatasync flushes the data alone (and the file size after growth)."""

RESERVE_CHUNK = 1 << 20
"""How much a journal grows at a time; its unused tail is zeros until it is closed."""

PAGE = mmap.PAGESIZE
"""The unit in which the OS writes a file back to disk."""


class _Appender(Protocol):
    @property
    def closed(self) -> bool: ...

    def append(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abandon(self) -> None: ...


class JournalWriter:
    """Appends records to one journal file; ``append`` returns once the record is as
    durable as ``durability`` promises.

    Safe to share between the threads of one process, and belongs to that process: in
    a forked child, appends raise and ``close`` only lets go of the inherited copy.
    With ``fsync``, threads that append at the same time share one fsync (group
    commit). An existing journal is appended to, after cutting off a torn last line a
    crash may have left.
    """

    def __init__(self, path: str | os.PathLike[str], durability: Durability = "flush") -> None:
        self.path = os.fspath(path)
        self.durability = check_durability(durability)
        self._forks = processes.forks
        fd, created = open_or_create(self.path, os.O_RDWR)
        try:
            end = _prepare(self.path, fd, created)
            out: _Appender
            if self.durability == "fsync":
                out = GroupCommit(_SyncedFile(self.path, fd, end))
            else:
                out = _MappedFile(self.path, fd, end)
        except BaseException:
            os.close(fd)
            raise
        if end == 0:
            try:
                out.append(HEADER)
                if self.durability == "fsync":
                    fsync_directory(os.path.dirname(self.path) or ".")
            except BaseException:
                out.abandon()
                os.unlink(self.path)  # it holds nothing yet
                raise
        self._out = out
        self._fd = fd

    @property
    def name(self) -> str:
        """The journal's path, as the ``name`` of the open file PyMPX exposed."""
        return self.path

    def fileno(self) -> int:
        """The journal's file descriptor; ValueError once closed, as for a file."""
        if self.closed:
            raise ValueError(f"{self.path}: I/O operation on a closed journal")
        return self._fd

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._out.closed

    def append(self, fields: Sequence[str]) -> None:
        """Append one record, durably as the writer's policy says."""
        if self._forks != processes.forks:
            self._refuse_in_child()
        self._out.append(encode_record(fields))

    def append_payload(self, payload: bytes) -> None:
        """Append one record given as its payload (see ``codec.encode_payload``)."""
        if self._forks != processes.forks:
            self._refuse_in_child()
        self._out.append(frame_payload(payload))

    def append_many(self, records: Iterable[Sequence[str]]) -> None:
        """Append several records with one write and (for ``fsync``) one fsync per
        page they fill."""
        self.append_lines([encode_record(fields) for fields in records])

    def append_lines(self, lines: Sequence[bytes]) -> None:
        """Append already-encoded record lines (see :func:`encode_record`)."""
        if self._forks != processes.forks:
            self._refuse_in_child()
        self._out.append(b"".join(lines))

    def _refuse_in_child(self) -> None:
        # Two processes appending at the offsets each believes is the end would
        # overwrite each other's records.
        raise PersistqError(
            f"{self.path}: this journal belongs to the process that opened it, not to a "
            "forked child; open a journal of the child's own"
        )

    def flush(self) -> None:
        """Nothing to do, kept for code that flushed PyMPX's ``put_file``: a record is as
        durable as the policy says once ``append`` returns."""

    def close(self) -> None:
        """Make what was appended durable as the policy says, trim the reserved tail
        and close the file; later appends raise. In a forked child: only let go of the
        inherited copy, leaving the file to its owner."""
        if self._forks != processes.forks:
            self._out.abandon()
        else:
            self._out.close()

    def __repr__(self) -> str:
        return f"JournalWriter({self.path!r}, durability={self.durability!r})"


class _ReservedFile:
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


class _MappedFile(_ReservedFile):
    """For ``none`` and ``flush``: appends by copying into a shared mapping of the file.
    A copied record is in the OS page cache, so it outlives a killed process, and no
    system call is made per record."""

    def __init__(self, path: str, fd: int, end: int) -> None:
        self._lock = threading.Lock()
        self._map: mmap.mmap | None = None
        super().__init__(path, fd, end)

    def _resized(self, size: int) -> None:
        if self._map is None:
            self._map = mmap.mmap(self._fd, size)
        else:
            self._map.resize(size)

    @property
    def closed(self) -> bool:
        return self._map is None

    def append(self, data: bytes) -> None:
        with self._lock:
            end = self.end + len(data)
            if end > self.size:  # also when closed: size is then 0
                if self._map is None:
                    raise JournalClosedError(f"{self.path}: journal is closed")
                try:
                    self.reserve(end)
                except OSError as exc:
                    raise not_journalled(self.path, exc) from exc
            self._map[self.end : end] = data  # type: ignore[index]
            self.end = end

    def close(self) -> None:
        with self._lock:
            if self._unmap():
                super().close()

    def abandon(self) -> None:
        # No lock: in a forked child it may be held by a thread that only the parent has.
        if self._unmap():
            super().abandon()

    def _unmap(self) -> bool:
        """Drop the mapping; False if it was dropped already."""
        if self._map is None:
            return False
        self._map.close()
        self._map = None
        self.size = 0
        return True


class _SyncedFile(_ReservedFile):
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


def _prepare(path: str, fd: int, created: bool) -> int:
    """Make the journal open as ``fd`` ready for appending; return where its records
    end (0 when it holds nothing yet and its header must be written)."""
    if created:
        return 0
    with open(fd, "r+b", closefd=False) as f:
        head = f.read(len(HEADER))
        if head != HEADER:
            if HEADER.startswith(head.rstrip(b"\x00")) and _only_zeros_follow(f):
                f.truncate(0)  # empty, or torn while its header was written
                return 0
            raise PersistqError(
                f"{path}: exists and is not a persistq journal (a PyMPX journal?), or its "
                "header is damaged; refusing to append to it"
            )
        _cut_torn_tail(f, f.seek(0, os.SEEK_END))
        return f.seek(0, os.SEEK_END)


def _only_zeros_follow(f: BinaryIO) -> bool:
    """Whether the rest of ``f`` holds nothing but zeros (a reserved tail, never records
    that a lost first page would otherwise hide)."""
    while block := f.read(RESERVE_CHUNK):
        if block.strip(b"\x00"):
            return False
    return True


def _cut_torn_tail(f: BinaryIO, end: int) -> None:
    """Truncate ``f`` after its last LF: what follows was never a complete record."""
    pos = end
    while pos > len(HEADER):
        start = max(len(HEADER), pos - 4096)
        f.seek(start)
        newline = f.read(pos - start).rfind(b"\n")
        if newline >= 0:
            pos = start + newline + 1
            break
        pos = start
    if pos != end:
        log.info("%s: cutting a torn last record of %d bytes", f.name, end - pos)
        f.truncate(pos)

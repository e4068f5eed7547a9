"""Appending records to a journal file under a durability policy."""

from __future__ import annotations

import errno
import logging
import mmap
import os
import threading
from collections.abc import Iterable, Sequence
from typing import BinaryIO, Protocol

from persistq.durability import Durability, check_durability, fsync_directory
from persistq.errors import PersistqError
from persistq.journal.codec import HEADER, encode_record

log = logging.getLogger(__name__)

sync_data = getattr(os, "fdatasync", os.fsync)
"""Make an appended record durable: fdatasync also writes the file size the record
needs, and skips the timestamps that plain fsync would write too."""

MAPPED_CHUNK = 1 << 20
"""How much a mapped journal grows at a time (its unused tail is zeros until closed)."""


class _Sink(Protocol):
    end: int

    def write(self, data: bytes) -> None: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


class JournalWriter:
    """Appends records to one journal file; ``append`` returns once the record is as
    durable as ``durability`` promises.

    Safe to share between the threads of one process. With ``fsync``, threads that
    append at the same time share one fsync (group commit). An existing journal is
    appended to, after cutting off a torn last line a crash may have left.
    """

    def __init__(self, path: str | os.PathLike[str], durability: Durability = "flush") -> None:
        self.path = os.fspath(path)
        self.durability = check_durability(durability)
        self._lock = threading.Lock()
        self._sync = threading.Condition(threading.Lock())
        self._written = 0
        self._synced = 0
        self._syncing = False
        created = _prepare(self.path)
        end = 0 if created else os.stat(self.path).st_size
        sink_type = _SyncedFile if self.durability == "fsync" else _MappedFile
        self._sink: _Sink | None = sink_type(self.path, end)
        if created:
            self._sink.write(HEADER)
            if self.durability == "fsync":
                self._sink.sync()
                fsync_directory(os.path.dirname(self.path) or ".")

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._sink is None

    def append(self, fields: Sequence[str]) -> None:
        """Append one record, durably as the writer's policy says."""
        self._append(encode_record(fields))

    def append_many(self, records: Iterable[Sequence[str]]) -> None:
        """Append several records with one write and (for ``fsync``) one fsync."""
        self.append_lines([encode_record(fields) for fields in records])

    def append_lines(self, lines: Sequence[bytes]) -> None:
        """Append already-encoded record lines (see :func:`encode_record`)."""
        self._append(b"".join(lines))

    def _append(self, data: bytes) -> None:
        with self._lock:
            sink = self._sink
            if sink is None:
                raise PersistqError(f"{self.path}: journal is closed")
            try:
                sink.write(data)  # in the OS (page cache) once this returns
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"{self.path}: could not append a record ({exc.strerror}); "
                    "it was not journalled",
                    self.path,
                ) from exc
            self._written += 1
            ticket = self._written
        if self.durability == "fsync":
            self._sync_up_to(sink, ticket)

    def _sync_up_to(self, sink: _Sink, ticket: int) -> None:
        # Leader/follower group commit: one thread fsyncs for every append written
        # before it started; the others wait for a sync that covers their ticket.
        with self._sync:
            while self._synced < ticket:
                if self._syncing:
                    self._sync.wait()
                    continue
                self._syncing = True
                target = self._written
                self._sync.release()
                try:
                    sink.sync()
                finally:
                    self._sync.acquire()
                    self._syncing = False
                    self._sync.notify_all()
                self._synced = max(self._synced, target)

    def flush(self) -> None:
        """Make every record appended so far as durable as the policy says (records
        are in the OS as soon as ``append`` returns; ``fsync`` also syncs them)."""
        with self._lock:
            if self._sink is not None and self.durability == "fsync":
                self._sink.sync()

    def close(self) -> None:
        """Sync (for ``fsync``) and close the file; later appends raise."""
        with self._lock:
            sink, self._sink = self._sink, None
            if sink is not None:
                if self.durability == "fsync":
                    sink.sync()
                sink.close()

    def __repr__(self) -> str:
        return f"JournalWriter({self.path!r}, durability={self.durability!r})"


class _SyncedFile:
    """Appends with write(2), for journals that are fsynced: a failed write is cut off."""

    def __init__(self, path: str, end: int) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self.end = end

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:  # a write may be partial
                view = view[os.write(self._fd, view) :]
        except OSError:
            # Half a record (a full disk) must not stay in the middle of the journal,
            # where the next record would follow it and recovery would call it corrupt.
            os.ftruncate(self._fd, self.end)
            raise
        self.end += len(data)

    def sync(self) -> None:
        sync_data(self._fd)

    def close(self) -> None:
        os.close(self._fd)


class _MappedFile:
    """Appends by copying into a shared mapping of the file: a copied record is in the
    OS page cache, so it outlives a killed process, without a system call per record.

    The file grows by MAPPED_CHUNK, reserved on disk first so that a full disk is an
    OSError here and not a fault on a later copy; until :meth:`close` trims it, its tail
    is zeros, which readers take for a torn tail.
    """

    def __init__(self, path: str, end: int) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self._pid = os.getpid()
        self.end = end
        self._size = 0
        self._map: mmap.mmap | None = None
        self._grow(end + 1)

    def _grow(self, needed: int) -> None:
        size = -(-needed // MAPPED_CHUNK) * MAPPED_CHUNK
        try:
            os.posix_fallocate(self._fd, self._size, size - self._size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
            os.ftruncate(self._fd, size)  # no reservation on this file system
        if self._map is None:
            self._map = mmap.mmap(self._fd, size)
        else:
            self._map.resize(size)
        self._size = size

    def write(self, data: bytes) -> None:
        end = self.end + len(data)
        if end > self._size:
            self._grow(end)
        assert self._map is not None
        self._map[self.end : end] = data
        self.end = end

    def sync(self) -> None:
        if self._map is not None:
            self._map.flush()

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if os.getpid() == self._pid:  # a forked child must not trim its parent's journal
            os.ftruncate(self._fd, self.end)
        os.close(self._fd)


def _prepare(path: str) -> bool:
    """Make ``path`` ready for appending; return True when it must be created."""
    try:
        f = open(path, "r+b")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return True
    with f:
        head = f.read(len(HEADER))
        if head != HEADER:
            if HEADER.startswith(head.rstrip(b"\x00")):
                f.truncate(0)  # empty, or torn while its header was written
                return True
            raise PersistqError(
                f"{path}: exists and is not a persistq journal (a PyMPX journal?); "
                "refusing to append to it"
            )
        _cut_torn_tail(f, f.seek(0, os.SEEK_END))
        return False


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

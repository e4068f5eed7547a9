"""Appending records to a journal file under a durability policy."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import BinaryIO

from persistq.durability import Durability, check_durability, fsync_directory
from persistq.errors import PersistqError
from persistq.journal.codec import HEADER, encode_record

log = logging.getLogger(__name__)

sync_data = getattr(os, "fdatasync", os.fsync)
"""Make an appended record durable: fdatasync also writes the file size the record
needs, and skips the timestamps that plain fsync would write too."""

_open_writers: weakref.WeakSet[JournalWriter] = weakref.WeakSet()


def _flush_before_fork() -> None:
    # A forked child must not inherit buffered records: it could write them again.
    for writer in list(_open_writers):
        writer.flush()


os.register_at_fork(before=_flush_before_fork)


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
        # Unbuffered unless durability is "none": each append is then one write(2),
        # which hands the record to the OS without a separate flush.
        buffering = -1 if self.durability == "none" else 0
        self._file: BinaryIO = open(self.path, "ab", buffering)  # noqa: SIM115 - kept open
        if created:
            _write_all(self._file, HEADER)
            self._file.flush()
            if self.durability == "fsync":
                os.fsync(self._file.fileno())
                fsync_directory(os.path.dirname(self.path) or ".")
        self._end = os.fstat(self._file.fileno()).st_size  # where the next record starts
        _open_writers.add(self)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._file.closed

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
            if self._file.closed:
                raise PersistqError(f"{self.path}: journal is closed")
            try:
                _write_all(self._file, data)  # reaches the OS here unless durability is "none"
            except OSError as exc:
                raise self._cut_failed_append(exc) from exc
            self._end += len(data)
            self._written += 1
            ticket = self._written
        if self.durability == "fsync":
            self._sync_up_to(ticket)

    def _cut_failed_append(self, exc: OSError) -> OSError:
        # A write that failed part way (a full disk) must not leave half a record in
        # the middle of the journal, where it would read as corruption.
        if self.durability != "none":
            os.ftruncate(self._file.fileno(), self._end)
        return OSError(
            exc.errno,
            f"{self.path}: could not append a record ({exc.strerror}); it was not journalled",
            self.path,
        )

    def _sync_up_to(self, ticket: int) -> None:
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
                    sync_data(self._file.fileno())
                finally:
                    self._sync.acquire()
                    self._syncing = False
                    self._sync.notify_all()
                self._synced = max(self._synced, target)

    def flush(self) -> None:
        """Hand buffered records to the OS (and to disk, for ``fsync``)."""
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        """Flush (fsync for ``fsync``) and close the file; later appends raise."""
        with self._lock:
            self._flush_locked()
            self._file.close()
        _open_writers.discard(self)

    def _flush_locked(self) -> None:
        if self._file.closed:
            return
        self._file.flush()
        if self.durability == "fsync":
            os.fsync(self._file.fileno())

    def __repr__(self) -> str:
        return f"JournalWriter({self.path!r}, durability={self.durability!r})"


def _write_all(file: BinaryIO, data: bytes) -> None:
    written = file.write(data)
    while written < len(data):  # an unbuffered write may be partial
        data = data[written:]
        written = file.write(data)


def _prepare(path: str) -> bool:
    """Make ``path`` ready for appending; return True when it must be created."""
    try:
        f = open(path, "r+b")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return True
    with f:
        head = f.read(len(HEADER))
        if head != HEADER:
            if HEADER.startswith(head):
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

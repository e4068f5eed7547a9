"""Appending records to a journal file under a durability policy."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO, Protocol

from persistq import processes
from persistq.durability import Durability, check_durability, fsync_directory
from persistq.errors import PersistqError
from persistq.journal.codec import HEADER, encode_record
from persistq.journal.group_commit import GroupCommit
from persistq.journal.opening import hold_shared, open_or_create
from persistq.journal.storage import PAGE, RESERVE_CHUNK, MappedFile, SyncedFile, sync_data

__all__ = ["PAGE", "RESERVE_CHUNK", "JournalWriter", "sync_data"]

log = logging.getLogger(__name__)


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
            hold_shared(fd)  # marks the journal as written to, for recovery elsewhere
            end = _prepare(self.path, fd, created)
            out: _Appender
            if self.durability == "fsync":
                out = GroupCommit(SyncedFile(self.path, fd, end))
            else:
                out = MappedFile(self.path, fd, end)
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

    def line_appender(self) -> Callable[[bytes], None]:
        """The per-record path: a function that appends one encoded record line (see
        ``codec.encode_record``) as :meth:`append` does, and raises JournalClosedError
        once the writer is closed. It belongs to this process: whoever keeps it drops
        it after a fork (as ``ProcessJournals`` does), for it checks for none."""
        if self._forks != processes.forks:
            self._refuse_in_child()
        return self._out.append

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

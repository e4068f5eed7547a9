"""Group commit: threads that append to one synced journal at once share its syncs."""

from __future__ import annotations

import errno
import threading
from typing import Protocol

from persistq.errors import PersistqError


class SyncedFile(Protocol):
    """A journal file that can make appended data durable."""

    path: str
    end: int

    def reserve(self, needed: int) -> None: ...

    def write_durably(self, data: bytes) -> None: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...

    def abandon(self) -> None: ...


class _Batch:
    """Records appended while a sync was running; ``gate`` opens once they are synced
    (or have failed)."""

    __slots__ = ("failure", "gate", "parts")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.failure: BaseException | None = None
        self.gate = threading.Lock()
        self.gate.acquire()

    def wait(self) -> None:
        self.gate.acquire()
        self.gate.release()  # and so wake the next thread waiting


class GroupCommit:
    """Appends to a SyncedFile from many threads, returning once each record is synced.

    An append that finds no sync running writes and syncs its record itself. One that
    finds a sync running adds its record to the open batch and waits: when the sync
    ends, the next batch is written and synced whole, by a flusher thread that keeps
    syncing for as long as batches fill while it syncs. So one thread pays no
    hand-over, and many threads keep the disk busy, each sync shared by all that
    appended during the one before. After a failed write or sync the journal refuses
    further records: the OS may have dropped what it held.
    """

    def __init__(self, file: SyncedFile) -> None:
        self._file: SyncedFile | None = file
        self.path = file.path
        self._lock = threading.Lock()
        self._handed_over = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._open = _Batch()
        self._syncing = False
        self._flusher_has_work = False
        self._closing = False
        self._flusher: threading.Thread | None = None
        self._broken: BaseException | None = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._file is None

    def append(self, data: bytes) -> None:
        """Append ``data`` and return once it is synced; raise OSError naming the file
        when it could not be."""
        with self._lock:
            if self._file is None or self._broken is not None:
                self._refuse()
            batch = self._open
            batch.parts.append(data)
            lead = not self._syncing
            self._syncing = True
        if lead:
            try:
                self._sync_open_batch()
            finally:
                self._hand_over_or_idle()
        else:
            batch.wait()
        if batch.failure is not None:
            if not isinstance(batch.failure, Exception):
                raise batch.failure  # KeyboardInterrupt and the like
            raise not_journalled(self.path, batch.failure) from batch.failure

    def _refuse(self) -> None:
        if self._file is None:
            raise PersistqError(f"{self.path}: journal is closed")
        raise PersistqError(
            f"{self.path}: an earlier write or sync of this journal failed "
            f"({self._broken!r}); it takes no more records: stop and recover the run"
        )

    def _sync_open_batch(self) -> None:
        """Write and sync the open batch, then open its gate (only one thread at a time
        calls this: the one that set ``_syncing``)."""
        with self._lock:
            batch, self._open = self._open, _Batch()
            file, broken = self._file, self._broken
        assert file is not None
        reserved = False
        try:
            if broken is not None:
                batch.failure = broken
                return
            data = batch.parts[0] if len(batch.parts) == 1 else b"".join(batch.parts)
            file.reserve(file.end + len(data))
            reserved = True
            file.write_durably(data)
        except BaseException as exc:
            batch.failure = exc
            if reserved:
                with self._lock:
                    self._broken = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            batch.gate.release()

    def _hand_over_or_idle(self) -> None:
        """After an appender's own sync: records that came meanwhile go to the flusher."""
        with self._lock:
            if self._open.parts:
                self._flusher_has_work = True
                if self._flusher is None:
                    self._flusher = threading.Thread(
                        target=self._flush_while_busy,
                        name=f"persistq sync {self.path}",
                        daemon=True,
                    )
                    self._flusher.start()
                self._handed_over.notify()
            else:
                self._syncing = False
                if self._closing:
                    self._idle.notify_all()

    def _flush_while_busy(self) -> None:
        """The flusher thread: sync batch after batch while they fill, until closed."""
        while True:
            with self._lock:
                while not self._flusher_has_work:
                    if self._file is None:
                        return
                    self._handed_over.wait()
                self._flusher_has_work = False
            while True:
                self._sync_open_batch()
                with self._lock:
                    if not self._open.parts:
                        self._syncing = False
                        if self._closing:
                            self._idle.notify_all()
                        break

    def flush(self) -> None:
        """Sync the file again (every returned append is synced already)."""
        with self._lock:
            if self._file is None or self._broken is not None:
                self._refuse()
            assert self._file is not None
            self._file.sync()

    def close(self) -> None:
        """Let every append already started finish, then close the file."""
        with self._lock:
            self._closing = True
            while self._syncing:
                self._idle.wait()
            file, self._file = self._file, None
            flusher = self._flusher
            self._handed_over.notify()
        if flusher is not None:
            flusher.join()
        if file is not None:
            file.close()

    def abandon(self) -> None:
        """In a forked child: close the inherited descriptor, touching nothing else (the
        parent's threads and locks did not come along)."""
        file, self._file = self._file, None
        if file is not None:
            file.abandon()


def not_journalled(path: str, exc: BaseException) -> OSError:
    """The error an append raises when its record could not be made durable."""
    if isinstance(exc, OSError):
        return OSError(
            exc.errno,
            f"{path}: could not append a record ({exc.strerror}); it is not durably journalled",
            path,
        )
    return OSError(errno.EIO, f"{path}: append interrupted ({exc!r}); it is not durably journalled")

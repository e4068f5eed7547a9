"""Group commit: threads that append to one synced journal at once share its syncs."""

from __future__ import annotations

import errno
import threading
from typing import Protocol

from persistq.errors import JournalClosedError, PersistqError


class SyncedFile(Protocol):
    """A journal file that can make appended data durable."""

    path: str
    end: int

    def reserve(self, needed: int) -> None: ...

    def write_durably(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abandon(self) -> None: ...


class _Batch:
    """Records appended while a sync was running, and a gate per waiting thread; the
    gates open once the records are synced or have failed (``failure`` says how)."""

    __slots__ = ("failure", "gates", "parts")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.failure: OSError | None = None
        self.gates: list[threading.Lock] = []

    def open(self) -> None:
        for gate in self.gates:
            gate.release()


class GroupCommit:
    """Appends to a SyncedFile from many threads, returning once each record is synced.

    An append that finds no sync running writes and syncs its record itself. One that
    finds a sync running adds its record to the open batch and waits at its gate: when the sync
    ends, the next batch is written and synced whole, by a flusher thread that keeps
    syncing while batches fill during its syncs, and ends when none does. So one thread
    pays no hand-over, and many threads keep the disk busy, each sync shared by all that
    appended during the one before. After a failed write or sync the journal refuses
    further records: the OS may have dropped what it held.
    """

    def __init__(self, file: SyncedFile) -> None:
        self._file: SyncedFile | None = file
        self.path = file.path
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._open = _Batch()
        self._syncing = False  # an appender or the flusher is writing the open batch
        self._closing = False
        self._broken: OSError | None = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closing

    def append(self, data: bytes) -> None:
        """Append ``data`` and return once it is synced; raise OSError naming the file
        when it could not be."""
        lead = False
        try:
            with self._lock:
                if self._closing or self._broken is not None:
                    self._refuse()
                batch = self._open
                batch.parts.append(data)
                if not self._syncing:
                    self._syncing = lead = True
                else:  # a gate of its own: an interrupted wait strands no other thread
                    gate = threading.Lock()
                    gate.acquire()
                    batch.gates.append(gate)
            if lead:
                self._sync_open_batch()
            else:
                gate.acquire()
        finally:
            if lead:
                self._after_own_sync()
        if batch.failure is not None:
            raise not_journalled(self.path, batch.failure) from batch.failure

    def _refuse(self) -> None:
        if self._closing:
            raise JournalClosedError(f"{self.path}: journal is closed")
        raise PersistqError(
            f"{self.path}: an earlier write or sync of this journal failed "
            f"({self._broken}); it takes no more records: stop and recover the run"
        )

    def _sync_open_batch(self) -> None:
        """Write and sync the open batch, then open its gates. Only the thread that set
        ``_syncing`` calls this; an interruption fails the batch instead of leaving its
        threads waiting."""
        batch: _Batch | None = None
        error: OSError | None = None
        written = synced = False
        try:
            with self._lock:
                batch, self._open = self._open, _Batch()
                file, broken = self._file, self._broken
            assert file is not None
            if broken is not None:
                error = broken
                return
            data = b"".join(batch.parts)
            file.reserve(file.end + len(data))  # a full disk fails here: nothing written
            written = True
            file.write_durably(data)
            synced = True
        except OSError as exc:
            error = exc
        finally:
            if batch is not None:
                if not synced:
                    failure = error or OSError(errno.EINTR, "interrupted while syncing")
                    batch.failure = failure
                    if written:
                        self._broken = failure
                batch.open()

    def _after_own_sync(self) -> None:
        """After an appender's own sync: records that came meanwhile go to a flusher."""
        if not self._records_pending():
            return
        flusher = threading.Thread(
            target=self._flush_while_pending, name=f"persistq sync {self.path}", daemon=True
        )
        try:
            flusher.start()
        except RuntimeError:  # no thread to be had: keep syncing in this one
            self._flush_while_pending()

    def _flush_while_pending(self) -> None:
        """Sync batch after batch for as long as records arrive during the syncs."""
        while True:
            self._sync_open_batch()
            if not self._records_pending():
                return

    def _records_pending(self) -> bool:
        """Whether records wait in the open batch; if none, the syncing turn ends."""
        with self._lock:
            if self._open.parts:
                return True
            self._syncing = False
            self._idle.notify_all()
            return False

    def close(self) -> None:
        """Refuse new appends, let those already started finish, then trim and close
        the file; raise OSError naming it if that fails."""
        with self._lock:
            self._closing = True
            while self._syncing:
                self._idle.wait()
            file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                raise OSError(exc.errno, f"{self.path}: could not close ({exc.strerror})") from exc

    def abandon(self) -> None:
        """In a forked child: close the inherited descriptor, touching nothing else (the
        parent's threads and locks did not come along)."""
        self._closing = True
        file, self._file = self._file, None
        if file is not None:
            file.abandon()


def not_journalled(path: str, exc: OSError) -> OSError:
    """The error an append raises when its record could not be made durable."""
    return OSError(
        exc.errno, f"{path}: could not append a record ({exc.strerror}); it is not journalled"
    )

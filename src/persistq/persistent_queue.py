"""PersistentQueue: a multiprocessing joinable queue whose work survives a crash."""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from multiprocessing.context import BaseContext
from typing import Any

from persistq import pickup, processes
from persistq.durability import Durability, check_durability, make_directory
from persistq.errors import (
    JournalClosedError,
    MessageFormatError,
    PersistqError,
    UpstreamFailureError,
)
from persistq.journal.naming import Kind, check_prefix, journal_file_name
from persistq.journal.reader import OnCorrupt
from persistq.journal.writer import JournalWriter
from persistq.messages import Converter, Formatter, MessageCodec
from persistq.sentinels import DONE, FAILED

log = logging.getLogger(__name__)

Fields = tuple[str, ...]


class PersistentQueue:
    """A ``multiprocessing.JoinableQueue`` that journals every ``put`` to a *requested*
    file and every ``task_done`` to a *completed* file (one pair per process, in
    ``current_pickup_dir``), so that a later run's ``requeue_unprocessed_work()`` puts
    back exactly the work that was requested and never completed.

    ``durability`` says what survives: ``"none"`` (nothing promised), ``"flush"`` (a killed
    process) or ``"fsync"`` (power loss). ``mp_context`` is the multiprocessing context
    (or start-method name) whose processes will share the queue.
    """

    def __init__(
        self,
        pickup_file_prefix: str | None = None,
        current_pickup_dir: str | os.PathLike[str] | None = None,
        previous_pickup_dir: str | os.PathLike[str] | None = None,
        formatter_list: Sequence[Formatter] | None = None,
        converter_list: Sequence[Converter] | None = None,
        number_of_workers: int = 1,
        use_queue: bool = True,
        *,
        durability: Durability = "flush",
        mp_context: BaseContext | str | None = None,
        on_corrupt: OnCorrupt = "raise",
    ) -> None:
        self.pickup_file_prefix = check_prefix(
            "unlabeled_queue" if pickup_file_prefix is None else pickup_file_prefix
        )
        if not isinstance(number_of_workers, int) or number_of_workers < 1:
            raise ValueError(f"number_of_workers must be a positive int; got {number_of_workers!r}")
        if on_corrupt not in ("raise", "skip"):
            raise ValueError(f"on_corrupt must be 'raise' or 'skip'; got {on_corrupt!r}")
        self.durability = check_durability(durability)
        self.number_of_workers = number_of_workers
        self.use_queue = use_queue
        self.on_corrupt: OnCorrupt = on_corrupt
        self.codec = MessageCodec(tuple(formatter_list or ()), tuple(converter_list or ()))
        self.current_pickup_dir = _optional_dir(current_pickup_dir)
        self.previous_pickup_dir = _optional_dir(previous_pickup_dir)
        if self.previous_pickup_dir is not None and not os.path.isdir(self.previous_pickup_dir):
            raise PersistqError(
                f"previous_pickup_dir {self.previous_pickup_dir!r} does not exist or is not a "
                "directory; pass None when there is no previous run to recover"
            )
        if self.current_pickup_dir is not None:
            make_directory(self.current_pickup_dir, self.durability)
            if self.previous_pickup_dir is not None and not self._previous_is_current():
                pickup.write_pointer(
                    self.current_pickup_dir,
                    self.pickup_file_prefix,
                    self.previous_pickup_dir,
                    self.durability,
                )
        if isinstance(mp_context, str) or mp_context is None:
            mp_context = multiprocessing.get_context(mp_context)
        self.joinable_queue: Any = mp_context.JoinableQueue() if use_queue else None
        self._outstanding: list[tuple[Fields, Any]] | None = None
        self._requeued_once = False
        self._requeued_unput: collections.Counter[Fields] = collections.Counter()
        self._file_work: collections.deque[Any] | None = None
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._forks = processes.forks
        self._pid = os.getpid()
        self._writers: dict[Kind, JournalWriter] = {}
        self._writers_lock = threading.Lock()
        self._journalled_here = False

    # -- pickling: each process opens its own PID-named journals -------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("_forks", "_pid", "_writers", "_writers_lock", "_journalled_here"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    # -- journals ------------------------------------------------------------------

    def _writer(self, kind: Kind) -> JournalWriter | None:
        if self.current_pickup_dir is None:
            return None
        if self._forks != processes.forks:  # forked: the parent's journals are not ours
            self._init_process_state()
        writer = self._writers.get(kind)
        if writer is None or writer.closed:
            with self._writers_lock:
                writer = self._writers.get(kind)
                if writer is None or writer.closed:
                    name = journal_file_name(self.pickup_file_prefix, kind, self._pid)
                    writer = JournalWriter(
                        os.path.join(self.current_pickup_dir, name), self.durability
                    )
                    self._writers[kind] = writer
        return writer

    @property
    def put_file(self) -> JournalWriter | None:
        """This process's *requested* journal (opened on first use), or None without
        a ``current_pickup_dir``."""
        return self._writer("requested")

    @property
    def done_file(self) -> JournalWriter | None:
        """This process's *completed* journal (opened on first use), or None without
        a ``current_pickup_dir``."""
        return self._writer("completed")

    def _journal(self, kind: Kind, fields: Fields) -> None:
        writer = self._writers.get(kind)  # the per-record fast path of _writer
        if writer is None or self._forks != processes.forks:
            writer = self._writer(kind)
            if writer is None:
                return
        try:
            writer.append(fields)
        except JournalClosedError:  # dispose() or put_file.close() ran meanwhile
            reopened = self._writer(kind)
            assert reopened is not None
            reopened.append(fields)
        self._journalled_here = True

    def _message(self, fields: Fields, source: str) -> Any:
        try:
            return self.codec.from_fields(fields)
        except Exception as exc:
            raise MessageFormatError(
                f"{source}: converter_list cannot read record {fields!r}: {exc!r}"
            ) from exc

    # -- producer side -------------------------------------------------------------

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """Journal ``obj`` as requested, then make it visible to consumers.

        A message that cannot be journalled raises MessageFormatError and is not
        enqueued. A message that ``requeue_unprocessed_work`` already requeued is not
        enqueued a second time.
        """
        if obj is not DONE and obj is not FAILED:
            fields = self.codec.to_fields(obj)
            if self._requeued_unput and self._requeued_unput[fields] > 0:
                self._requeued_unput[fields] -= 1
                log.debug("not putting %r: it was requeued from the previous run", obj)
                return
            self._journal("requested", fields)
        if self.use_queue:
            self.joinable_queue.put(obj, block, timeout)

    def put_nowait(self, obj: Any) -> None:
        """Equivalent to ``put(obj, block=False)``."""
        self.put(obj, block=False)

    def _enqueue(self, obj: Any, block: bool, timeout: float | None) -> None:
        if self.use_queue:
            self.joinable_queue.put(obj, block, timeout)

    def close(self) -> None:
        """As a producer: close this process's requested journal and send DONE to each
        of ``number_of_workers`` consumers."""
        self._close_writer("requested")
        for _ in range(self.number_of_workers):
            self.put(DONE)

    def fail(self) -> None:
        """As a producer: close this process's requested journal and send FAILED to
        each of ``number_of_workers`` consumers."""
        self._close_writer("requested")
        log.error(
            "%s: sending FAILED to %d workers", self.pickup_file_prefix, self.number_of_workers
        )
        for _ in range(self.number_of_workers):
            self.put(FAILED)

    def _close_writer(self, kind: Kind) -> None:
        if self._forks != processes.forks:
            self._init_process_state()
        # Closed before another thread may open it again: never two writers at once.
        with self._writers_lock:
            writer = self._writers.pop(kind, None)  # the next record opens it again
            if writer is not None:
                writer.close()

    # -- consumer side -------------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the next message, DONE or FAILED; raise ``queue.Empty``
        as ``queue.Queue.get`` does. DONE and FAILED never hold up ``join()``."""
        if not self.use_queue:
            return self._get_from_files()
        obj = self.joinable_queue.get(block, timeout)
        if obj is DONE or obj is FAILED:
            self.joinable_queue.task_done()
        return obj

    def get_nowait(self) -> Any:
        """Equivalent to ``get(block=False)``."""
        return self.get(block=False)

    def _get_from_files(self) -> Any:
        if self._file_work is None:
            if self.current_pickup_dir is None:
                raise PersistqError("use_queue=False needs a current_pickup_dir to read work from")
            work: collections.deque[Any] = collections.deque(
                self._message(fields, self.current_pickup_dir)
                for fields in pickup.read_fields(
                    self.current_pickup_dir, self.pickup_file_prefix, "requested", self.on_corrupt
                )
            )
            work.extend([DONE] * self.number_of_workers)
            self._file_work = work
        if not self._file_work:
            raise queue.Empty
        return self._file_work.popleft()

    def task_done(self, obj: Any) -> None:
        """Journal ``obj`` as completed, then tell the queue its task is done.
        DONE and FAILED need no acknowledgement: for them this does nothing."""
        if obj is DONE or obj is FAILED:
            return
        self._journal("completed", self.codec.to_fields(obj))
        if self.use_queue:
            self.joinable_queue.task_done()

    def join(self) -> None:
        """Block until every message put has had ``task_done`` called for it."""
        if self.use_queue:
            self.joinable_queue.join()

    def qsize(self) -> int:
        """Approximate number of messages waiting (as ``multiprocessing`` reports it)."""
        if not self.use_queue:
            return len(self._file_work) if self._file_work is not None else 0
        return int(self.joinable_queue.qsize())

    def empty(self) -> bool:
        """True if no message is waiting (approximate, as in ``multiprocessing``)."""
        if not self.use_queue:
            return not self._file_work
        return bool(self.joinable_queue.empty())

    def dispose(self) -> None:
        """As a consumer: flush and close this process's journals."""
        self._close_writer("completed")
        self._close_writer("requested")

    def mark_all_work_done(self) -> None:
        """Take every message left until DONE and mark it done, as one logical whole."""
        for msg in self:
            self.task_done(msg)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        msg = self.get()
        if msg is FAILED:
            self.dispose()
            raise UpstreamFailureError(
                f"{self.pickup_file_prefix}: an upstream process failed (FAILED received)"
            )
        if msg is DONE:
            self.dispose()
            raise StopIteration
        return msg

    # -- recovery ------------------------------------------------------------------

    def _compute_outstanding(self) -> list[tuple[Fields, Any]]:
        if self._outstanding is None:
            directory = self.previous_pickup_dir
            if directory is None:
                self._outstanding = []
            else:
                self._outstanding = [
                    (fields, self._message(fields, directory))
                    for fields in pickup.outstanding_fields(
                        directory, self.pickup_file_prefix, self.on_corrupt
                    )
                ]
        return self._outstanding

    def get_list_of_outstanding_work(self) -> list[Any]:
        """Every message requested but not completed in ``previous_pickup_dir``
        (duplicates counted), in original order; nothing is queued."""
        return [message for _, message in self._compute_outstanding()]

    def requeue_unprocessed_work(self) -> list[Any]:
        """Put back every message requested but not completed in
        ``previous_pickup_dir``, journalled again in this run (all at once, atomically)
        so that a crash during this run is recoverable too. Returns the list requeued.
        """
        if self._requeued_once:
            raise PersistqError(
                f"{self.pickup_file_prefix}: requeue_unprocessed_work was already called; "
                "a second call would requeue the same work twice"
            )
        same_dir = self._previous_is_current()
        if same_dir and self._journalled_here:
            raise PersistqError(
                f"{self.current_pickup_dir}: previous_pickup_dir is current_pickup_dir; call "
                "requeue_unprocessed_work before any put or task_done of this run"
            )
        if same_dir and self.current_pickup_dir is not None:
            self._compact_in_place(self.current_pickup_dir)
        work = self._compute_outstanding()
        self._requeued_once = True
        recovering = self.previous_pickup_dir is not None and not same_dir
        if self.current_pickup_dir is not None and recovering:
            pickup.publish_requeued(
                self.current_pickup_dir,
                self.pickup_file_prefix,
                [fields for fields, _ in work],
                self.durability,
            )
        for fields, message in work:
            log.info("requeuing %r", message)
            self._requeued_unput[fields] += 1
            self._enqueue(message, True, None)
        return [message for _, message in work]

    def _compact_in_place(self, directory: str) -> None:
        # Recovering in place would otherwise grow the journals run after run.
        try:
            pickup.compact(directory, self.pickup_file_prefix, durability=self.durability)
        except PersistqError as exc:
            log.warning("%s: not compacted before requeue: %s", directory, exc)
        self._outstanding = None

    def _previous_is_current(self) -> bool:
        if self.previous_pickup_dir is None or self.current_pickup_dir is None:
            return False
        return os.path.samefile(self.previous_pickup_dir, self.current_pickup_dir)


def _optional_dir(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.fspath(path)

"""PersistentQueue: a multiprocessing joinable queue whose work survives a crash.

A facade over three parts chosen once: this process's journal pair (``_journals``,
rebuilt after fork and unpickling), a transport (``_transport``: a multiprocessing
queue, or journal replay for ``use_queue=False``) and recovery (``pickup.recovery``).
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Iterator, Sequence
from multiprocessing.context import BaseContext
from typing import Any

from persistq._journals import JournalPair, ProcessJournals
from persistq._transport import (
    QueueTransport,
    ReplayTransport,
    Transport,
    carried_message,
    make_transport,
)
from persistq.closing import ClosesOrFails
from persistq.durability import Durability, check_durability
from persistq.errors import PersistqError, UpstreamFailureError
from persistq.journal.codec import frame_payload
from persistq.journal.naming import JournalKind, check_prefix
from persistq.journal.reader import OnCorrupt
from persistq.journal.writer import JournalWriter
from persistq.messages import Converter, Formatter, MessageCodec
from persistq.pickup import recovery
from persistq.sentinels import DONE, FAILED

log = logging.getLogger(__name__)


class PersistentQueue(ClosesOrFails):
    """A ``multiprocessing.JoinableQueue`` that journals every ``put`` to a *requested*
    file and every ``task_done`` to a *completed* file (one pair per process, in
    ``current_pickup_dir``), so that a later run's ``requeue_unprocessed_work()`` puts
    back exactly the work that was requested and never completed.

    ``durability`` says what survives: ``"none"`` (nothing promised), ``"flush"`` (a killed
    process) or ``"fsync"`` (power loss). ``mp_context`` is the multiprocessing context
    (or start-method name) whose processes will share the queue. As a context manager
    (a producer's), the block ends in ``close()``, or in ``fail()`` on an exception.
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
        current = self.current_pickup_dir = _optional_dir(current_pickup_dir)
        previous = recovery.check_previous(_optional_dir(previous_pickup_dir))
        self.previous_pickup_dir = previous
        self._local: ProcessJournals | None = None
        if current is not None:
            recovery.start(current, self.pickup_file_prefix, previous, self.durability)
            self._local = ProcessJournals(current, self.pickup_file_prefix, self.durability)
        self._transport: Transport = make_transport(
            use_queue,
            mp_context,
            ReplayTransport(
                self.current_pickup_dir,
                self.pickup_file_prefix,
                number_of_workers,
                self.codec.from_payloads,
                on_corrupt,
            ),
        )
        self._requeued_once = False
        self._requeued_unput: collections.Counter[bytes] = collections.Counter()
        self._carry = self.codec.identity and use_queue
        self._lines: dict[str, bytes] = {}  # the lines of str messages taken, not yet done

    @property
    def joinable_queue(self) -> Any:
        """The ``multiprocessing.JoinableQueue`` (None with ``use_queue=False``); its items
        are the queue's own (a str travels as its journal line): use get() or iteration."""
        return self._transport.queue if isinstance(self._transport, QueueTransport) else None

    # -- this process's journals (ProcessJournals rebuilds them after fork/unpickling)

    def _journals(self) -> JournalPair | None:
        return None if self._local is None else self._local.pair()

    def _open_file(self, kind: JournalKind) -> JournalWriter | None:
        return None if (pair := self._journals()) is None else pair.writer(kind)

    @property
    def put_file(self) -> JournalWriter | None:
        """This process's *requested* journal (opened on first use; ``.name``,
        ``.fileno()``, ``.flush()``, ``.closed`` as PyMPX's open file), or None without a
        ``current_pickup_dir``."""
        return self._open_file("requested")

    @property
    def done_file(self) -> JournalWriter | None:
        """This process's *completed* journal (as :attr:`put_file`)."""
        return self._open_file("completed")

    # -- producer side -------------------------------------------------------------

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """Journal ``obj`` as requested, then make it visible to consumers.

        A message that cannot be journalled raises MessageFormatError and is not
        enqueued. A message that ``requeue_unprocessed_work`` already requeued is not
        enqueued a second time.
        """
        if obj is not DONE and obj is not FAILED:
            line = self.codec.record(obj)
            if self._requeued_unput and self._requeued_unput[line] > 0:
                self._requeued_unput[line] -= 1
                log.debug("not putting %r: it was requeued from the previous run", obj)
                return
            local = self._local
            if local is not None:
                local.append("requested", line)
            if type(obj) is str and self._carry:
                obj = line  # a str travels as its line (see _transport.carried_message)
        self._transport.put(obj, block, timeout)

    def put_nowait(self, obj: Any) -> None:
        """Equivalent to ``put(obj, block=False)``."""
        self.put(obj, block=False)

    def close(self) -> None:
        """As a producer: close this process's requested journal and send DONE to each
        of ``number_of_workers`` consumers."""
        self._end(DONE)

    def fail(self) -> None:
        """As a producer: close this process's requested journal and send FAILED to
        each of ``number_of_workers`` consumers."""
        log.error(
            "%s: sending FAILED to %d workers", self.pickup_file_prefix, self.number_of_workers
        )
        self._end(FAILED)

    def _end(self, sentinel: object) -> None:
        self._close_journal("requested")
        for _ in range(self.number_of_workers):
            self._transport.put(sentinel, True, None)

    def _close_journal(self, kind: JournalKind) -> None:
        if (pair := self._journals()) is not None:
            pair.close(kind)

    # -- consumer side -------------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the next message, DONE or FAILED; raise ``queue.Empty``
        as ``queue.Queue.get`` does. DONE and FAILED never hold up ``join()``."""
        msg = self._transport.get(block, timeout)
        if type(msg) is bytes and self._carry:
            return carried_message(msg, self._lines)
        if msg is DONE or msg is FAILED:
            self._transport.control_taken()
        return msg

    def get_nowait(self) -> Any:
        """Equivalent to ``get(block=False)``."""
        return self.get(block=False)

    def task_done(self, obj: Any) -> None:
        """Journal ``obj`` as completed, then tell the queue its task is done.
        DONE and FAILED need no acknowledgement: for them this does nothing."""
        if obj is DONE or obj is FAILED:
            return
        line = self._lines.pop(obj, None) if type(obj) is str else None
        if line is None:
            line = self.codec.record(obj, check=False)
        local = self._local
        if local is not None:
            local.append("completed", line)
        self._transport.task_done()

    def join(self) -> None:
        """Block until every message put has had ``task_done`` called for it."""
        self._transport.join()

    def qsize(self) -> int:
        """Approximate number of messages waiting (as ``multiprocessing`` reports it)."""
        return self._transport.qsize()

    def empty(self) -> bool:
        """True if no message is waiting (approximate, as in ``multiprocessing``)."""
        return self._transport.empty()

    def dispose(self) -> None:
        """As a consumer: flush and close this process's journals."""
        self._close_journal("completed")
        self._close_journal("requested")

    def mark_all_work_done(self) -> None:
        """Take every message left until DONE and mark it done, as one logical whole."""
        for msg in self:
            self.task_done(msg)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        msg = self._transport.get(True, None)  # get(), one call fewer per message
        if type(msg) is bytes and self._carry:
            return carried_message(msg, self._lines)
        if msg is FAILED:
            self._transport.control_taken()
            self.dispose()
            raise UpstreamFailureError(
                f"{self.pickup_file_prefix}: an upstream process failed (FAILED received)"
            )
        if msg is DONE:
            self._transport.control_taken()
            self.dispose()
            raise StopIteration
        return msg

    # -- recovery ------------------------------------------------------------------

    def get_list_of_outstanding_work(self) -> list[Any]:
        """Every message requested but not completed in ``previous_pickup_dir``
        (duplicates counted), in original order; nothing is queued."""
        previous = self.previous_pickup_dir
        if previous is None:
            return []
        payloads = recovery.outstanding_payloads(previous, self.pickup_file_prefix, self.on_corrupt)
        return self.codec.from_payloads(payloads, previous)

    def requeue_unprocessed_work(self) -> list[Any]:
        """Put back every message requested but not completed in
        ``previous_pickup_dir``, journalled again in this run (all at once, atomically)
        so that a crash during this run is recoverable too. Returns the list requeued.

        Refuses (LiveRunError naming the run) while a process of the run that wrote
        ``previous_pickup_dir`` may still be running."""
        if self._requeued_once:
            raise PersistqError(
                f"{self.pickup_file_prefix}: requeue_unprocessed_work was already called; "
                "a second call would requeue the same work twice"
            )
        previous = self.previous_pickup_dir
        if previous is None:
            self._requeued_once = True
            return []
        pair = self._journals()
        payloads = recovery.requeue(
            previous,
            self.current_pickup_dir,
            self.pickup_file_prefix,
            self.durability,
            self.on_corrupt,
            journalled_here=pair is not None and pair.journalled,
        )
        self._requeued_once = True
        messages = self.codec.from_payloads(payloads, previous)
        self._requeued_unput.update(map(frame_payload, payloads))
        for message in messages:
            self._transport.put(message, True, None)
        log.info(
            "%s: requeued %d messages from %s", self.pickup_file_prefix, len(messages), previous
        )
        return messages


def _optional_dir(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.fspath(path)

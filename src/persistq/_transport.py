"""How messages travel from producers to consumers, chosen once per queue: a
``multiprocessing.JoinableQueue``, or (``use_queue=False``) replay of the current run's
requested journals to a single consuming process."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import multiprocessing
import os
import queue
from collections.abc import Callable
from multiprocessing.context import BaseContext
from typing import Any, Protocol

from persistq import processes
from persistq.errors import PersistqError
from persistq.journal.codec import decode_text_record
from persistq.journal.naming import replay_lock_name
from persistq.journal.opening import open_or_create
from persistq.journal.reader import OnCorrupt
from persistq.pickup.report import requested_payloads
from persistq.sentinels import DONE


class Transport(Protocol):
    """What PersistentQueue needs of a transport (the queue module's meanings); DONE
    and FAILED are acknowledged (``control_taken``) as they are taken, so they never
    hold up ``join()``."""

    def put(self, obj: Any, block: bool, timeout: float | None) -> None: ...

    def get(self, block: bool, timeout: float | None) -> Any: ...

    def control_taken(self) -> None: ...

    def task_done(self) -> None: ...

    def join(self) -> None: ...

    def qsize(self) -> int: ...

    def empty(self) -> bool: ...


class QueueTransport:
    """A ``multiprocessing.JoinableQueue`` shared by every process of the run.
    ``put``, ``get``, ``task_done``, ``control_taken`` and ``join`` are the queue's own
    bound methods (no call in between on the per-message path)."""

    def __init__(self, context: BaseContext) -> None:
        self._bind(context.JoinableQueue())

    def _bind(self, joinable: Any) -> None:
        self.queue: Any = joinable
        self.put: Callable[[Any, bool, float | None], None] = joinable.put
        self.get: Callable[[bool, float | None], Any] = joinable.get
        self.task_done: Callable[[], None] = joinable.task_done
        self.control_taken: Callable[[], None] = joinable.task_done
        self.join: Callable[[], None] = joinable.join

    def __getstate__(self) -> dict[str, Any]:
        return {"queue": self.queue}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._bind(state["queue"])

    def qsize(self) -> int:
        """Approximate number of messages waiting."""
        return int(self.queue.qsize())

    def empty(self) -> bool:
        """Whether no message is waiting (approximate)."""
        return bool(self.queue.empty())


MAX_CARRIED = 4096
"""How many lines of messages taken and not yet done a consumer process keeps."""


def carried_message(line: bytes, lines: dict[str, bytes]) -> str:
    """The str message that travelled from ``put`` as its journal ``line`` (with no
    formatters and converters, a str is its line's one field), noted in ``lines`` so
    that ``task_done`` journals the line it came as instead of encoding it again.
    ``lines`` is a cache: cleared when it holds MAX_CARRIED lines (messages taken and
    never done), it costs a later ``task_done`` only an encoding."""
    message = decode_text_record(line)
    if len(lines) >= MAX_CARRIED:
        lines.clear()
    lines[message] = line
    return message


def make_transport(
    use_queue: bool, context: BaseContext | str | None, replay: ReplayTransport
) -> Transport:
    """The transport of a queue, chosen once: a JoinableQueue of ``context`` (or of the
    start method it names), or ``replay`` with ``use_queue=False``."""
    if not use_queue:
        return replay
    if isinstance(context, str) or context is None:
        context = multiprocessing.get_context(context)
    return QueueTransport(context)


class ReplayTransport:
    """``use_queue=False``: the journals are the transport. Puts go to the journal only;
    the one consuming process reads the run's requested journals when it first gets
    (all puts happen before any get, as PyMPX documents), then DONE per worker.

    A second consuming process would process every message again: it is refused
    (PersistqError naming the mode and the alternative), by an exclusive lock."""

    def __init__(
        self,
        directory: str | None,
        prefix: str,
        workers: int,
        decode: Callable[[list[bytes], str], list[Any]],
        on_corrupt: OnCorrupt,
    ) -> None:
        self.directory = directory
        self.prefix = prefix
        self.workers = workers
        self.decode = decode
        self.on_corrupt: OnCorrupt = on_corrupt
        self._reset()

    def _reset(self) -> None:
        self._forks = processes.forks
        self._work: collections.deque[Any] | None = None
        self._lock_fd: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("_forks", "_work", "_lock_fd"):
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def put(self, obj: Any, block: bool, timeout: float | None) -> None:
        """Nothing: the journal record is the message."""

    def get(self, block: bool, timeout: float | None) -> Any:
        """The next message replayed from the journals, then DONE per worker; then
        ``queue.Empty``."""
        if self._forks != processes.forks:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # the parent's: the child consumes on its own lock
            self._reset()
        if self._work is None:
            self._work = self._load()
        if not self._work:
            raise queue.Empty
        return self._work.popleft()

    def _load(self) -> collections.deque[Any]:
        if self.directory is None:
            raise PersistqError("use_queue=False needs a current_pickup_dir to read work from")
        self._lock_fd = self._take_lock(self.directory)
        payloads = list(requested_payloads(self.directory, self.prefix, on_corrupt=self.on_corrupt))
        work: collections.deque[Any] = collections.deque(self.decode(payloads, self.directory))
        work.extend([DONE] * self.workers)
        return work

    def _take_lock(self, directory: str) -> int:
        path = os.path.join(directory, replay_lock_name(self.prefix))
        fd, _ = open_or_create(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise PersistqError(
                f"{path}: use_queue=False replays the journals to one consuming process, and "
                f"{holder} consumes them already; a second consumer would process every "
                "message again. With several consumer processes use use_queue=True"
            ) from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
        return fd

    def task_done(self) -> None:
        """Nothing to acknowledge: the completed journal is the acknowledgement."""

    def control_taken(self) -> None:
        """Nothing to acknowledge: there is no queue."""

    def join(self) -> None:
        """Nothing to wait for: there is no queue."""

    def qsize(self) -> int:
        """Messages left to replay in this process."""
        return len(self._work) if self._work is not None else 0

    def empty(self) -> bool:
        """Whether nothing is left to replay in this process."""
        return not self._work

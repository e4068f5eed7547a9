"""The consumer side of a folder queue: a thin shell over its parts.

Per process, :class:`~persistq.folder.engine.ReaderProcess` runs the wake schedule
(:mod:`~persistq.folder.schedule`, pure) over its view of the folder
(:mod:`~persistq.folder.view`) and claims batches (:mod:`~persistq.folder.claimer`);
:mod:`~persistq.folder.recovery` says which claims to take back and
:mod:`~persistq.folder.producers` what the producers' markers mean. The reader itself
holds the options, finishes and fails what it claimed, and recovers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import weakref
from typing import Any, Self

from persistq.durability import Durability
from persistq.errors import UpstreamFailureError
from persistq.folder.base import FolderQueueBase
from persistq.folder.engine import ReaderProcess
from persistq.folder.finishing import fail, finish
from persistq.folder.moves import finish_moves
from persistq.folder.names import Kind, marker_kind
from persistq.folder.options import ReaderOptions, check_options
from persistq.folder.ordering import CandidateIndex, OrderedIndex, SortingFunction, sort_key
from persistq.folder.recovery import Abandoned, abandoned, lease_wait, stale_heartbeats
from persistq.folder.view import FolderView
from persistq.folder.waking import ObserverChoice
from persistq.sentinels import Sentinel

log = logging.getLogger(__name__)

__all__ = ["FolderReader", "ReaderOptions", "SortingFunction"]


class FolderReader(FolderQueueBase):
    """What both readers share: claiming, waking, finishing, failing and recovering.

    ``get`` wakes on file-system events (watchdog) and falls back to polling; the folder
    listing stays the truth. The first ``get`` of each process, and every DONE, comes
    after taking back the claims of dead owners; constructing a reader changes nothing
    in the folder. A file that a process of this host still has open for writing is
    claimed only once closed. A reader is a context manager: ``with`` ends in
    :meth:`dispose`.

    Keyword options: ``durability`` (``"fsync"``: every claim and task_done is on disk
    before returning), ``poll_interval`` (seconds: poll instead of using events),
    ``observer`` (``"native"`` or ``"polling"``), ``stable_after`` (seconds: only hand
    out files whose size and mtime have not changed for that long), ``max_attempts``
    (tries before ``task_failed`` gives up on a file), ``retry_delay`` (seconds before
    the first retry, doubling per attempt up to ``max_retry_delay`` seconds if given;
    other files are not held up),
    ``lease_seconds`` (claims and producers of other hosts are judged dead when their
    heartbeat is older than this; every process sharing the folder must then use it;
    DONE waits, one lease at most, until claims held elsewhere are finished or
    taken back),
    ``failed_directory`` (default ``<path>/failed``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        message_extension: str = ".tsv",
        task_done_directory: str | os.PathLike[str] | None = None,
        *,
        sorting_function: SortingFunction | None = None,
        durability: Durability = "flush",
        poll_interval: float | None = None,
        observer: ObserverChoice = "native",
        stable_after: float | None = None,
        max_attempts: int = 1,
        lease_seconds: float | None = None,
        failed_directory: str | os.PathLike[str] | None = None,
        retry_delay: float | None = None,
        max_retry_delay: float | None = None,
    ) -> None:
        super().__init__(path, message_extension, task_done_directory, durability=durability)
        check_options(
            observer,
            max_attempts,
            poll_interval=poll_interval,
            stable_after=stable_after,
            lease_seconds=lease_seconds,
            retry_delay=retry_delay,
            max_retry_delay=max_retry_delay,
        )
        self.sorting_function = sorting_function
        self.poll_interval = poll_interval
        self.observer = observer
        self.stable_after = stable_after
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.failed_directory = os.path.abspath(
            os.fspath(failed_directory) if failed_directory else os.path.join(self.path, "failed")
        )
        self.started = time.time()
        """When this reader was made: producers that all closed well before belong to an
        earlier run (see :mod:`persistq.folder.producers`)."""
        self._process: ReaderProcess | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_process"] = None  # observer thread, index: they stay in their process
        return state

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()

    # -- what the per-process part asks of the reader --------------------------------------

    def new_index(self) -> CandidateIndex:
        """A fresh index of the names this reader claims, in its order."""
        ext, function = self.message_extension, self.sorting_function
        return OrderedIndex(lambda name: sort_key(function, name, ext))

    def finishing(self, view: FolderView) -> None:
        """Called before answering DONE (the grouped reader warns of incomplete groups)."""

    def _here(self) -> ReaderProcess:
        process = self._process
        if process is None or not process.here:
            process = self._process = ReaderProcess(self)
            weakref.finalize(self, process.close)  # a reader never disposed frees its watch
        return process

    def _get(self, timeout: float | None) -> list[str] | Sentinel:
        return self._here().get(self, timeout)

    def held_back(self) -> int:
        """How many messages this process's reader has seen in the folder but holds back
        for now: a retry not due yet, a file still written or not yet stable (0 before
        its first ``get``). A reader with none held back and nothing to hand out is idle."""
        process = self._process
        if process is None or not process.here:
            return 0
        return len(process.view.deferred)

    def attempt_from_wip(self, wip_path: str | os.PathLike[str]) -> int:
        """Which attempt at its message the claim ``wip_path`` is (1: the first)."""
        return self._parse_wip(wip_path).attempt

    # -- finishing ------------------------------------------------------------------------

    def task_done(self, wip_path: str | os.PathLike[str]) -> str | None:
        """Finish a claimed message: move it to ``task_done_directory`` under its original
        name and return that path, or delete it. If an earlier message of that name is
        there, both are kept: this one as ``<name>.againN<ext>`` (a warning says so)."""
        return finish(
            self.path,
            wip_path,
            extension=self.message_extension,
            done_directory=self.task_done_directory,
            durability=self.durability,
        )

    def task_failed(self, wip_path: str | os.PathLike[str], reason: str) -> str:
        """Give up on this attempt at a claimed message; return where the file went.

        Before ``max_attempts`` tries the file goes back to the queue as
        ``<name>.retryN<ext>``; after that it moves to ``failed_directory`` with
        ``<name>.reason.json`` beside it.
        """
        return fail(
            self.path,
            wip_path,
            reason,
            extension=self.message_extension,
            max_attempts=self.max_attempts,
            failed_directory=self.failed_directory,
            durability=self.durability,
        )

    # -- recovery and ending ---------------------------------------------------------------

    def recover_abandoned(self) -> list[str]:
        """Rename back the wip files whose owner is gone; return their queued paths.

        Same host (and PID namespace): the owner PID no longer runs with the recorded
        start time. Owners this process cannot see (other hosts, other PID namespaces,
        hidden PIDs): only with ``lease_seconds``, once the owner's heartbeat (or,
        without one, the claim itself) is older than the lease. Each claim taken back
        is logged (INFO); live owners keep their claims. First, the moves that dead
        owners left half done in the queue folder are finished or rolled back, and
        their temporary files there and in ``failed_directory`` (a reason file half
        written) are removed.
        """
        finish_moves(self.path, self.durability)
        if os.path.isdir(self.failed_directory):
            finish_moves(self.failed_directory, self.durability)
        restored: list[str] = []
        listing = self._names_of(Kind.WIP, Kind.HEARTBEAT, Kind.MARKER)
        held = set(listing[Kind.WIP])
        claims = abandoned(self.path, held, self.lease_seconds)
        for claim in self._settle(claims):
            path = self.give_back(claim.wip)
            if path is not None:
                log.info("took back %s as %s: %s", claim.wip, os.path.basename(path), claim.why)
                restored.append(path)
                held.discard(claim.wip)
        if not any(marker_kind(name) == "helo" for name in listing[Kind.MARKER]):
            # An open producer's liveness is also judged by its heartbeat: keep them all.
            self._remove_stale_heartbeats(listing[Kind.HEARTBEAT], held)
        process = self._process
        if process is not None and process.here:
            for path in restored:
                process.view.offer(os.path.basename(path))
        return restored

    def _remove_stale_heartbeats(self, beats: list[str], held: set[str]) -> None:
        """Remove the heartbeats among ``beats`` that dead or long-silent owners left
        (``held``: the claims still in the folder)."""
        for name in stale_heartbeats(self.path, beats, held, self.lease_seconds):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.path, name))
                log.info("removed heartbeat %s: its owner holds no claim and is gone", name)

    def lease_wait(self) -> float | None:
        """Seconds until the first lease runs out among the claims of owners this process
        cannot see (other hosts, PID namespaces); None when none is held within its lease.
        Before DONE, a reader with ``lease_seconds`` waits for these (one lease at most)."""
        return lease_wait(self.path, self._names(Kind.WIP), self.lease_seconds)

    def _settle(self, claims: list[Abandoned]) -> list[Abandoned]:
        """Which abandoned claims go back to the queue (the grouped reader finishes the
        rest of a group whose owner died finishing it)."""
        return claims

    def dispose(self) -> None:
        """Stop using the queue: stop the observer and heartbeat (claims stay as they are)."""
        process, self._process = self._process, None
        if process is not None and process.here:
            process.close()

    def _failure(self) -> UpstreamFailureError:
        process = self._process
        how = process.view.markers.failure() if process is not None else "a failed marker"
        return UpstreamFailureError(f"a producer of folder queue {self.path!r} failed: {how}")

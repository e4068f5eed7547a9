"""A reader's work in one process: runs the wake schedule over its view of the folder
and claims batches. Rebuilt in each process that uses a reader (never pickled)."""

from __future__ import annotations

import functools
import logging
import os
import time
from queue import Empty
from typing import TYPE_CHECKING

from persistq import processes
from persistq.folder import lease
from persistq.folder.claimer import Claimed, claim_batch
from persistq.folder.names import parse_queued
from persistq.folder.ordering import claimable
from persistq.folder.schedule import (
    BUSY_RETRY_SECONDS,
    SAFETY_RESCAN_SECONDS,
    Action,
    Facts,
    Step,
    WakeSchedule,
    retry_wait,
)
from persistq.folder.view import FolderView, Vetting
from persistq.folder.waking import Watcher
from persistq.sentinels import DONE, FAILED, Sentinel

if TYPE_CHECKING:
    from persistq.folder.readable import FolderReader

log = logging.getLogger(__name__)

POLLING_OBSERVER_SECONDS = 0.5
"""How often watchdog's polling observer (``observer="polling"``) lists the folder."""
LEASE_MARGIN_SECONDS = 0.01
"""Waiting for a lease to run out, wait this much longer, so that it has."""


class ReaderProcess:
    """What a reader holds in one process: its view, schedule and heartbeat."""

    def __init__(self, reader: FolderReader) -> None:
        self.forks = processes.forks
        watcher = None
        if reader.poll_interval is None:
            watcher = Watcher(reader.path, reader.observer, POLLING_OBSERVER_SECONDS)
        ext = reader.message_extension
        self.view = FolderView(
            reader.path,
            ext,
            reader.new_index(),
            watcher,
            reader.stable_after,
            functools.partial(
                retry_due, reader.path, ext, reader.retry_delay, reader.max_retry_delay
            ),
            lambda name: claimable(name, ext),
        )  # no reference back to the reader: a reader never disposed is freed at once
        self.schedule = WakeSchedule()
        self.heartbeat: str | None = None
        self.recovered = False
        self.waiting_since: float | None = None
        """When this process began waiting before DONE for claims held elsewhere."""
        self.claiming_until: float | None = None
        """Until when the schedule's last CLAIM holds while nothing else changes."""

    @property
    def here(self) -> bool:
        """Whether this is the process that made it (not a forked child: no getpid)."""
        return self.forks == processes.forks

    def get(self, reader: FolderReader, timeout: float | None) -> list[str] | Sentinel:
        """The wip paths of the next batch ``reader`` claims, DONE or FAILED; Empty after
        ``timeout`` milliseconds."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0) / 1000
        if not self.recovered:
            self.recovered = True
            reader.recover_abandoned()
        view = self.view
        if self.claiming_until is not None:  # the schedule's last CLAIM may still hold
            if time.monotonic() < self.claiming_until and view.settled(time.monotonic()):
                wips = self._claim_next(reader)
                if wips is not None:
                    return wips
            self.claiming_until = None
        while True:
            now = time.monotonic()
            view.take_events(now)
            markers = view.markers
            step = self.schedule.next_step(
                Facts(
                    now=now,
                    events=view.events,
                    paused=view.paused,
                    failed=markers.any_failed,
                    all_done=markers.all_done,
                    markers_version=markers.version,
                    ready=view.index.ready(),
                    set_aside=view.index.set_aside(),
                    next_due=view.deferred.next_due(),
                    deadline=deadline,
                    poll_interval=reader.poll_interval,
                )
            )
            if step.action is Action.EMPTY:
                raise Empty(f"no message in {reader.path!r} within {timeout} ms")
            result = self._act(reader, step, deadline)
            if result is not None:
                if step.action is Action.CLAIM:
                    self.claiming_until = now + step.holds_for
                return result

    def _act(
        self, reader: FolderReader, step: Step, deadline: float | None
    ) -> list[str] | Sentinel | None:
        """Carry out ``step``; the answer of ``get``, or None to ask for the next step."""
        view, action = self.view, step.action
        if action is Action.LIST:
            self._list(reader)
        elif action is Action.CLAIM:
            return self._claim_next(reader)
        elif action is Action.FAILED:
            view.close()  # release the watch: this reader's work is over
            return FAILED
        elif action is Action.FINISH:
            if reader.recover_abandoned():
                self.schedule.list_soon()
            elif (left := self._lease_wait(reader)) is not None:
                self._await_lease(reader, left, deadline)
            else:
                reader.finishing(view)
                view.close()
                return DONE
        elif action is Action.RESUME:
            if view.watcher is not None:
                view.watcher.resume()
            self.schedule.list_soon()
        elif step.on_events and view.watcher is not None:
            view.watcher.wait(step.seconds)
        else:
            time.sleep(step.seconds)
        return None

    def _lease_wait(self, reader: FolderReader) -> float | None:
        """How long to wait before DONE for claims held where this process cannot see:
        until the first one's lease runs out, for one lease at most. By then the claims
        of a host that was dead when the wait began have all come back; an owner that
        still holds them is beating, so alive (and two readers that each hold a claim
        while they wait for the other's do not wait for ever)."""
        left = reader.lease_wait()
        if left is None or reader.lease_seconds is None:
            return None
        now = time.monotonic()
        if self.waiting_since is None:
            self.waiting_since = now
        cap = self.waiting_since + reader.lease_seconds - now
        return None if cap <= 0 else min(left, cap)

    def _await_lease(self, reader: FolderReader, left: float, deadline: float | None) -> None:
        """Before DONE, wait while an owner this process cannot see holds claims within
        their lease: it may finish them (an event wakes us), or its lease runs out in
        ``left`` seconds and they are taken back. Empty at ``deadline``."""
        seconds = min(left + LEASE_MARGIN_SECONDS, SAFETY_RESCAN_SECONDS)
        if reader.poll_interval is not None:
            seconds = min(seconds, reader.poll_interval)
        if deadline is not None:
            if deadline <= time.monotonic():
                raise Empty(f"no message in {reader.path!r} within the timeout")
            seconds = min(seconds, deadline - time.monotonic())
        if self.view.watcher is not None:
            self.view.watcher.wait(seconds)
        else:
            time.sleep(max(seconds, 0.0))
        self.schedule.list_soon()

    def _list(self, reader: FolderReader) -> None:
        view, schedule = self.view, self.schedule
        schedule.listing_started(view.markers.all_done, view.markers.version)
        missed, watching = view.scan(schedule.proves_missed())
        if view.listings == 1:
            left = len(view.index) or len(view.deferred) or view.claims
            view.markers.ignore_earlier_run(reader.started, bool(left))
        view.markers.check_alive(reader.lease_seconds)
        if schedule.listing_finished(time.monotonic(), watching, missed):
            log.warning(
                "file-system events missed %d file(s) in %s (inotify queue overflow or a "
                "file system without events); polling instead",
                missed,
                reader.path,
            )

    def _claim_next(self, reader: FolderReader) -> list[str] | None:
        # A name another reader took meanwhile costs one failing rename: cheaper than
        # listing the folder again (measured in benchmarks/folder_bench.py); and the
        # index then jumps ahead of the winner, so the next claim rarely fails too.
        view = self.view
        while (names := view.index.pop_batch()) is not None:
            vetted = [view.vet(n) for n in names]
            if Vetting.HELD in vetted:
                for name, vetting in zip(names, vetted, strict=True):
                    if vetting is not Vetting.HELD:
                        view.index.add(name)
                continue
            proven = [n for n, v in zip(names, vetted, strict=True) if v is Vetting.REGULAR]
            result = claim_batch(
                reader.path,
                names,
                reader.wip_filename,
                reader._restore,
                reader.durability,
                proven,
            )
            if isinstance(result, Claimed):
                self._holding(reader)
                self.waiting_since = None  # work again: a later DONE may wait anew
                if view.watcher is not None and self.schedule.pause_for(len(view.index)):
                    view.watcher.pause()
                return list(result.wips)
            for name in result.back:
                view.index.add(name)
            if result.lost:
                view.index.lost_race()
            for name in result.refused:
                view.refuse(name)
            for name in result.busy:
                view.deferred.defer(name, time.monotonic() + BUSY_RETRY_SECONDS)
        return None

    def _holding(self, reader: FolderReader) -> None:
        """Keep the heartbeat fresh while this process may hold claims (with a lease)."""
        if reader.lease_seconds is not None and self.heartbeat is None:
            self.heartbeat = lease.hold(reader.path, reader.owner, reader.lease_seconds)

    def close(self) -> None:
        """Stop the watcher and the heartbeat (idempotent)."""
        self.view.close()
        if self.heartbeat is not None:
            lease.let_go(self.heartbeat)
            self.heartbeat = None


def retry_due(
    folder: str,
    extension: str,
    retry_delay: float | None,
    max_retry_delay: float | None,
    name: str,
) -> float | None:
    """When retried message ``name`` is due (monotonic seconds), None if it is now:
    ``retry_delay`` after the failed attempt (the rename that queued it again),
    doubling per attempt up to ``max_retry_delay``."""
    wait = retry_wait(parse_queued(name, extension)[1], retry_delay, max_retry_delay)
    if wait <= 0:
        return None
    try:
        failed_at = os.stat(os.path.join(folder, name)).st_ctime
    except FileNotFoundError:
        return None
    left = failed_at + wait - time.time()
    return None if left <= 0 else time.monotonic() + left

"""The scheduler: under a lock on the state directory, put every due slot of every
schedule into the queue folder, exactly once; and a loop that sleeps until the next slot."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import FrameType

from persistq.errors import ScheduleError
from persistq.folder.names import normalize_extension
from persistq.schedule.commit import (
    SCHEDULE_FOLDER,
    Folders,
    finish,
    fire,
    log_context,
    remove_uncommitted,
)
from persistq.schedule.definition import Schedule
from persistq.schedule.observer import NoObserver, SlotObserver
from persistq.schedule.slots import check_aware, decide, slots_between, utc
from persistq.schedule.state import ScheduleState, load_state, save_state, state_path
from persistq.service.notify import Notifier

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler.lock"
MAX_SLEEP = 300.0
"""The longest sleep of :meth:`Scheduler.run_forever`, in seconds: a wall clock that
is stepped, or a machine that was suspended, delays a slot by at most this long."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Scheduler:
    """Puts one trigger file per due slot of ``schedules`` into the folder queue at
    ``queue_path``, exactly once however many schedulers share ``state_dir``.

    ``state_dir`` defaults to ``QUEUE/.persistq-schedule`` (hidden from readers); the
    folders are created by the first :meth:`run_pending`. Trigger files end with
    ``message_extension``. The scheduler is not a producer of the queue (no helo/done
    markers): stopping or restarting it never ends the queue for its readers.
    ``observer`` is told of every slot put or skipped (e.g. metrics).
    ScheduleError for duplicate schedule names.
    """

    def __init__(
        self,
        schedules: Iterable[Schedule],
        queue_path: str | os.PathLike[str],
        *,
        state_dir: str | os.PathLike[str] | None = None,
        message_extension: str = ".trigger",
        observer: SlotObserver | None = None,
    ) -> None:
        self.schedules: tuple[Schedule, ...] = tuple(schedules)
        seen: set[str] = set()
        for schedule in self.schedules:
            if schedule.name in seen:
                raise ScheduleError(f"schedule {schedule.name!r}: field 'name': used twice")
            seen.add(schedule.name)
        queue = os.path.abspath(os.fspath(queue_path))
        state = os.path.join(queue, SCHEDULE_FOLDER) if state_dir is None else state_dir
        self.folders = Folders(
            queue, os.path.abspath(os.fspath(state)), normalize_extension(message_extension)
        )
        self.observer: SlotObserver = NoObserver() if observer is None else observer

    @property
    def queue_path(self) -> str:
        """The queue folder that triggers are put into."""
        return self.folders.queue

    @property
    def state_dir(self) -> str:
        """The folder of the schedules' state files and lock."""
        return self.folders.state_dir

    def run_pending(self, now: dt.datetime | None = None) -> list[str]:
        """Put the trigger of every slot due at ``now`` (default: the clock) that no
        scheduler of this state directory has put; return the paths put, oldest first.

        Slots missed while no scheduler ran are put, or skipped and logged, as each
        schedule's ``catch_up`` says; a schedule seen for the first time starts from
        ``now``. A slot that a killed scheduler was putting is finished, never put twice.
        """
        moment = dt.datetime.now(dt.UTC) if now is None else check_aware(now)
        put: list[str] = []
        self.folders.create()
        with self._locked():
            for schedule in self.schedules:
                put.extend(self._run_schedule(schedule, moment))
        return put

    def _run_schedule(self, schedule: Schedule, now: dt.datetime) -> list[str]:
        put, state = self._put_due(schedule, now)
        self.observer.checked(
            self.queue_path, schedule.name, state.last_slot, schedule.next_slot(now)
        )
        return put

    def _put_due(self, schedule: Schedule, now: dt.datetime) -> tuple[list[str], ScheduleState]:
        folders = self.folders
        name = schedule.name
        state = load_state(state_path(folders.state_dir, name))
        if state is None:
            state = ScheduleState.fresh(schedule, now)
            save_state(folders.state_dir, state)
            log.info(
                "schedule %s: no state; starting from %s",
                name,
                now.isoformat(),
                extra=log_context(self.queue_path, name),
            )
            remove_uncommitted(folders, name)
            return [], state
        put: list[str] = []
        if state.pending is not None:
            slot = state.pending
            path, state = finish(folders, state)
            if path is not None:
                put.append(path)
                self._report_put(name, slot, path)
        remove_uncommitted(folders, name)
        changed = state.for_schedule(schedule) != state
        state = state.for_schedule(schedule)
        due = slots_between(schedule.cron, schedule.zone, state.through, now)
        decision = decide(due, now, schedule.catch_up)
        for slot in decision.skipped:
            log.warning(
                "schedule %s: skipped slot %s (missed; catch_up=%s)",
                name,
                slot.isoformat(),
                schedule.catch_up,
                extra=log_context(self.queue_path, name, slot),
            )
            state = state.skipped(slot)
            changed = True
        if decision.skipped:
            self.observer.skipped(self.queue_path, name, decision.skipped)
        for slot in decision.fire:
            path, state = fire(folders, schedule, state, slot)
            changed = False
            if path is not None:
                put.append(path)
                self._report_put(name, slot, path)
        if changed:
            save_state(folders.state_dir, state)
        return put, state

    def _report_put(self, schedule: str, slot: dt.datetime, path: str) -> None:
        log.info(
            "schedule %s: put %s for slot %s",
            schedule,
            path,
            slot.isoformat(),
            extra=log_context(self.queue_path, schedule, slot, path),
        )
        self.observer.put(self.queue_path, schedule, slot)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(os.path.join(self.state_dir, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def next_slot(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """The first slot of any schedule after ``now`` (default: the clock), or None."""
        moment = dt.datetime.now(dt.UTC) if now is None else check_aware(now)
        slots = [s for s in (schedule.next_slot(moment) for schedule in self.schedules) if s]
        return min(slots, key=utc) if slots else None

    def run_forever(self, *, stop: threading.Event | None = None) -> None:
        """Run pending slots, then sleep until the next slot, until SIGTERM or SIGINT
        (or ``stop`` is set); the running put is finished first, and it returns. Under
        a service manager (``NOTIFY_SOCKET``) it says READY, WATCHDOG and STOPPING, as
        :func:`serve` does."""
        serve([self], stop=stop)


def serve(
    schedulers: Sequence[Scheduler],
    *,
    stop: threading.Event | None = None,
    clock: Callable[[], dt.datetime] = _utc_now,
    notifier: Notifier | None = None,
) -> None:
    """Run ``schedulers`` as :meth:`Scheduler.run_forever` does, in one loop: put what
    is due by ``clock``, then sleep until the earliest next slot (at most MAX_SLEEP).

    It tells the service manager (``notifier``, default: the one ``NOTIFY_SOCKET``
    names; nothing without one) ``READY=1`` after the first run, ``WATCHDOG=1`` after
    every run while waking at least as often as ``WATCHDOG_USEC`` asks (so a hung loop
    is noticed, however far the next slot), and ``STOPPING=1`` once it is asked to stop.
    """
    event = threading.Event() if stop is None else stop
    notify = Notifier() if notifier is None else notifier
    announced = False

    def announce_stop() -> None:
        nonlocal announced
        if not announced:
            announced = True
            notify.stopping()

    ready = False
    with _stopping_on_signals(event, announce_stop):
        while not event.is_set():
            for scheduler in schedulers:
                scheduler.run_pending(clock())
            if not ready:
                ready = True
                names = ", ".join(s.name for sch in schedulers for s in sch.schedules)
                notify.ready(f"scheduling {names}")
            elif notify.watchdog_seconds is not None:
                notify.ping()
            delay = _delay(schedulers, clock())
            if notify.watchdog_seconds is not None:
                delay = min(delay, notify.watchdog_seconds)
            log.debug("sleeping %.3f s", delay)
            event.wait(delay)
    announce_stop()
    log.info("scheduler stopped")


def _delay(schedulers: Sequence[Scheduler], now: dt.datetime) -> float:
    """Seconds from ``now`` to just after the earliest next slot (at most MAX_SLEEP)."""
    upcoming = [s for s in (sch.next_slot(now) for sch in schedulers) if s is not None]
    if not upcoming:
        return MAX_SLEEP
    until = (min(utc(s) for s in upcoming) - now).total_seconds()
    return min(MAX_SLEEP, max(0.0, until) + 0.01)


@contextlib.contextmanager
def _stopping_on_signals(event: threading.Event, on_stop: Callable[[], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        on_stop()
        event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

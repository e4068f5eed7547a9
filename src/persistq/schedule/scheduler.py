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

from persistq.folder.names import normalize_extension
from persistq.schedule.commit import SCHEDULE_FOLDER, Folders, finish, fire, remove_uncommitted
from persistq.schedule.definition import Schedule
from persistq.schedule.errors import ScheduleError
from persistq.schedule.slots import check_aware, decide, slots_between, utc
from persistq.schedule.state import ScheduleState, load_state, save_state, state_path

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
    ScheduleError for duplicate schedule names.
    """

    def __init__(
        self,
        schedules: Iterable[Schedule],
        queue_path: str | os.PathLike[str],
        *,
        state_dir: str | os.PathLike[str] | None = None,
        message_extension: str = ".trigger",
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
        folders = self.folders
        state = load_state(state_path(folders.state_dir, schedule.name))
        if state is None:
            save_state(folders.state_dir, ScheduleState.fresh(schedule, now))
            log.info("schedule %s: no state; starting from %s", schedule.name, now.isoformat())
            remove_uncommitted(folders, schedule.name)
            return []
        put: list[str] = []
        if state.pending is not None:
            path, state = finish(folders, state)
            put.extend([path] if path else [])
        remove_uncommitted(folders, schedule.name)
        changed = state.for_schedule(schedule) != state
        state = state.for_schedule(schedule)
        due = slots_between(schedule.cron, schedule.zone, state.through, now)
        decision = decide(due, now, schedule.catch_up)
        for slot in decision.skipped:
            log.warning(
                "schedule %s: skipped slot %s (missed; catch_up=%s)",
                schedule.name,
                slot.isoformat(),
                schedule.catch_up,
            )
            state = state.skipped(slot)
            changed = True
        for slot in decision.fire:
            path, state = fire(folders, schedule, state, slot)
            changed = False
            if path is not None:
                put.append(path)
                log.info("schedule %s: put %s for slot %s", schedule.name, path, slot.isoformat())
        if changed:
            save_state(folders.state_dir, state)
        return put

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
        (or ``stop`` is set); the running put is finished first, and it returns."""
        serve([self], stop=stop)


def serve(
    schedulers: Sequence[Scheduler],
    *,
    stop: threading.Event | None = None,
    clock: Callable[[], dt.datetime] = _utc_now,
) -> None:
    """Run ``schedulers`` as :meth:`Scheduler.run_forever` does, in one loop: put what
    is due by ``clock``, then sleep until the earliest next slot (at most MAX_SLEEP)."""
    event = threading.Event() if stop is None else stop
    with _stopping_on_signals(event):
        while not event.is_set():
            for scheduler in schedulers:
                scheduler.run_pending(clock())
            now = clock()
            upcoming = [s for s in (sch.next_slot(now) for sch in schedulers) if s is not None]
            delay = MAX_SLEEP
            if upcoming:
                until = (min(utc(s) for s in upcoming) - now).total_seconds()
                delay = min(MAX_SLEEP, max(0.0, until) + 0.01)
            log.debug("sleeping %.3f s", delay)
            event.wait(delay)
    log.info("scheduler stopped")


@contextlib.contextmanager
def _stopping_on_signals(event: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""Putting one slot's trigger exactly once: the commit protocol.

Run under the state directory's lock, for one slot of one schedule:

1. **stage**: the trigger is written complete and fsynced under its final name in the
   staging folder (``QUEUE/.persistq-schedule/staged/``, on the queue's file system);
2. **intend**: the schedule's state records the slot as ``pending`` (fsynced);
3. **publish**: the staged file is renamed into the queue folder, never replacing a
   file there (``renameat2(RENAME_NOREPLACE)``), and both folders are fsynced;
4. **advance**: the state records the slot as put, ``pending`` cleared (fsynced).

The staged file is the commit record: while the state says ``pending``, the staged file
still being there means "not yet published", and its absence means "published" — even
when a reader has already consumed the trigger and deleted it or moved it to ``done/``.
A restart finishes a pending slot (step 3 or only 4) and never stages it again. A
staged file with no ``pending`` state (killed between 1 and 2) was never published and
is removed, as are temporary files that a kill left behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from typing import Any

import attrs

from persistq.durability import make_directory
from persistq.folder import files
from persistq.folder.files import exists_error, sync_dirs, write_json
from persistq.folder.names import SEP, check_message_name
from persistq.schedule.definition import Schedule
from persistq.schedule.state import ScheduleState, save_state, state_path
from persistq.schedule.trigger import trigger_name, trigger_prefix, trigger_record

log = logging.getLogger(__name__)

SCHEDULE_FOLDER = ".persistq-schedule"
"""Hidden folder in the queue folder (ignored by readers): the default state directory,
and the parent of the staging folder."""


@attrs.frozen
class Folders:
    """Where one scheduler works: the queue folder, its staging folder, the state folder."""

    queue: str
    state_dir: str
    extension: str

    @property
    def staging(self) -> str:
        """The staging folder: inside the queue folder, so publishing is one rename."""
        return os.path.join(self.queue, SCHEDULE_FOLDER, "staged")

    def create(self) -> None:
        """Create the three folders (durably) if missing."""
        for path in (self.queue, self.staging, self.state_dir):
            make_directory(path, "fsync")

    def names(self, schedule: str, slot: dt.datetime) -> tuple[str, str]:
        """The staged and the published path of ``slot``'s trigger."""
        name = check_message_name(trigger_name(schedule, slot, self.extension), self.extension)
        return os.path.join(self.staging, name), os.path.join(self.queue, name)


def log_context(
    queue: str, schedule: str, slot: dt.datetime | None = None, path: str | None = None
) -> dict[str, Any]:
    """The ``extra=`` of a log record about ``schedule`` of ``queue`` (the context
    fields of JSON log lines): ``queue``, ``schedule``, and ``slot`` and ``file`` when
    given."""
    context: dict[str, Any] = {"queue": queue, "schedule": schedule}
    if slot is not None:
        context["slot"] = slot.isoformat()
    if path is not None:
        context["file"] = path
    return context


def fire(
    folders: Folders, schedule: Schedule, state: ScheduleState, slot: dt.datetime
) -> tuple[str | None, ScheduleState]:
    """Put ``slot``'s trigger (steps 1 to 4); the path put (None if it was there
    already) and the new state."""
    staged, _ = folders.names(schedule.name, slot)
    write_json(staged, trigger_record(schedule, slot), "fsync")
    state = state.staged(slot)
    save_state(folders.state_dir, state)
    return finish(folders, state)


def finish(folders: Folders, state: ScheduleState) -> tuple[str | None, ScheduleState]:
    """Complete the pending slot of ``state`` (steps 3 and 4): the path put, or None
    if it was published before (and perhaps consumed since), and the new state."""
    assert state.pending is not None
    slot = state.pending
    staged, final = folders.names(state.schedule, slot)
    put: str | None = None
    if os.path.lexists(staged):
        try:
            _publish(staged, final)
            put = final
        except FileExistsError:
            log.warning(
                "schedule %s: %s is already in the queue; not put twice",
                state.schedule,
                final,
                extra=log_context(folders.queue, state.schedule, slot, final),
            )
            os.unlink(staged)
        sync_dirs("fsync", folders.queue, folders.staging)
    else:
        log.info(
            "schedule %s: slot %s was put before a restart",
            state.schedule,
            slot.isoformat(),
            extra=log_context(folders.queue, state.schedule, slot, final),
        )
    state = state.fired(slot)
    save_state(folders.state_dir, state)
    return put, state


def _publish(staged: str, final: str) -> None:
    """Rename ``staged`` to ``final``, FileExistsError if ``final`` exists.

    Not ``files.publish``: where the file system lacks ``RENAME_NOREPLACE`` it links
    then unlinks, and a kill between the two with the trigger then consumed and deleted
    would leave the staged file looking unpublished. A rename removes the staged file
    in the same step that shows the trigger, so here the fallback is a check for
    ``final`` and a plain rename (under the scheduler's lock only a file put by someone
    else in between could be replaced).
    """
    if files._rename_noreplace(staged, final):
        return
    if os.path.lexists(final):
        raise exists_error(final)
    os.rename(staged, final)


def remove_uncommitted(folders: Folders, schedule: str) -> None:
    """Remove what a killed run of ``schedule`` left that was never committed: staged
    triggers with no pending state, and temporary files. Only with no slot pending."""
    prefix = trigger_prefix(schedule)
    state_file = os.path.basename(state_path(folders.state_dir, schedule))
    for folder, starts in (
        (folders.staging, (prefix, "." + prefix)),
        (folders.state_dir, (f".{state_file}{SEP}",)),  # files.write_json temporaries
    ):
        removed = False
        for name in os.listdir(folder):
            if name.startswith(starts):
                path = os.path.join(folder, name)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                log.info(
                    "schedule %s: removed uncommitted %s",
                    schedule,
                    path,
                    extra=log_context(folders.queue, schedule, path=path),
                )
                removed = True
        if removed:
            sync_dirs("fsync", folder)

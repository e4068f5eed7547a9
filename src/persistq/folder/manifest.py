"""The per-file read model of a folder queue (``persistq status --files``): every file
that is pending, in progress, failed or done, with its attempts, each attempt's error
and time, its owner, size and mtime. Read only; the command line only renders it."""

from __future__ import annotations

import os
from typing import Any

import attrs

from persistq.folder.admin import owner_state
from persistq.folder.history import DONE, FAILED, REQUEUED, Event, read_history
from persistq.folder.names import Kind, classify, parse_archived, parse_queued, parse_wip

PENDING = "pending"
IN_PROGRESS = "in_progress"
FAILED_STATUS = "failed"
DONE_STATUS = "done"


@attrs.frozen
class FileRecord:
    """One file of the queue as a person asks about it.

    ``name``: the message's original name; ``path``: where it is now; ``attempts``:
    attempts started so far; ``history``: every recorded event (failed attempts with
    their reasons, a success after failures, requeues); ``owner`` and
    ``owner_state`` only while in progress.
    """

    name: str
    status: str
    path: str
    attempts: int
    size: int
    mtime: float
    history: tuple[Event, ...] = ()
    owner: str | None = None
    owner_state: str | None = None

    @property
    def errors(self) -> list[Event]:
        """The failed attempts, oldest first."""
        return [e for e in self.history if e.event == FAILED]

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object."""
        return {
            "name": self.name,
            "status": self.status,
            "path": self.path,
            "attempts": self.attempts,
            "errors": [
                {"attempt": e.attempt, "reason": e.reason, "utc": e.utc} for e in self.errors
            ],
            "history": [e.to_json() for e in self.history],
            "owner": self.owner,
            "owner_state": self.owner_state,
            "size": self.size,
            "mtime": self.mtime,
        }


def read_manifest(
    queue: str,
    extension: str,
    *,
    done_directory: str | None = None,
    failed_directory: str | None = None,
) -> list[FileRecord]:
    """Every file of queue folder ``queue`` (messages ending with ``extension``) and of
    its done and failed folders (default: ``done/`` and ``failed/`` inside it), sorted by
    status then name."""
    done_directory = done_directory or os.path.join(queue, "done")
    failed_directory = failed_directory or os.path.join(queue, "failed")
    records = []
    for name, st in list_files(queue):
        kind = classify(name, extension)
        if kind is Kind.MESSAGE:
            original, attempt = parse_queued(name, extension)
            path = os.path.join(queue, name)
            records.append(_record(queue, original, PENDING, path, attempt - 1, st))
        elif kind is Kind.WIP and (wip := parse_wip(name)) is not None:
            owner = f"{wip.owner.host}:{wip.owner.pid}"
            path = os.path.join(queue, name)
            base = _record(queue, wip.original, IN_PROGRESS, path, wip.attempt, st)
            records.append(attrs.evolve(base, owner=owner, owner_state=owner_state(wip.owner)))
    for status, folder in ((FAILED_STATUS, failed_directory), (DONE_STATUS, done_directory)):
        for name, st in list_files(folder):
            if classify(name, extension) is Kind.MESSAGE:
                original = parse_archived(name)[0]
                records.append(_record(queue, original, status, os.path.join(folder, name), 0, st))
    order = {PENDING: 0, IN_PROGRESS: 1, FAILED_STATUS: 2, DONE_STATUS: 3}
    return sorted(records, key=lambda r: (order[r.status], r.name, r.path))


def _record(
    queue: str, original: str, status: str, path: str, attempts: int, st: os.stat_result
) -> FileRecord:
    events = tuple(read_history(queue, original))
    if status in (FAILED_STATUS, DONE_STATUS):
        attempts = _attempts_made(events, status)
    return FileRecord(
        name=original,
        status=status,
        path=path,
        attempts=attempts,
        size=st.st_size,
        mtime=st.st_mtime,
        history=events,
    )


def _attempts_made(events: tuple[Event, ...], status: str) -> int:
    """Attempts of a finished file since it was last requeued, from its history."""
    start = max((i + 1 for i, e in enumerate(events) if e.event == REQUEUED), default=0)
    since = events[start:]
    last = max((e.attempt for e in since), default=0)
    if status == DONE_STATUS and not any(e.event == DONE for e in since):
        return last + 1  # the success after the last failure recorded no event
    return max(last, 1)


def list_files(folder: str) -> list[tuple[str, os.stat_result]]:
    """The regular files of ``folder`` (not subfolders or symlinks) with their lstat,
    unsorted; [] if it does not exist."""
    found = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                try:
                    if entry.is_file(follow_symlinks=False):
                        found.append((entry.name, entry.stat(follow_symlinks=False)))
                except FileNotFoundError:
                    continue
    except (FileNotFoundError, NotADirectoryError):
        return []
    return found

"""Per-file history of a folder queue: every failed attempt with its reason and time,
the success that follows failures, and requeues of failed files.

One JSON line per event in ``<queue>/.history/<original name>.jsonl`` (a hidden folder:
readers never list it as messages), appended in one write. A file that never failed
costs nothing: no history is written for it. A torn last line (a kill mid-write) is
skipped when read.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from typing import Any

import attrs

from persistq.durability import Durability, fsync_directory
from persistq.folder.names import Owner

log = logging.getLogger(__name__)

HISTORY_DIR = ".history"
FAILED = "failed"
DONE = "done"
REQUEUED = "requeued"


@attrs.frozen
class Event:
    """One event in a file's history: ``failed`` (attempt ``attempt``, with ``reason``),
    ``done`` (after earlier failures) or ``requeued`` (sent back from the failed folder)."""

    event: str
    attempt: int
    utc: str
    reason: str | None = None
    host: str | None = None
    pid: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object (None fields left out)."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


def history_path(queue: str, original: str) -> str:
    """Where the history of message ``original`` of queue folder ``queue`` is kept."""
    return os.path.join(queue, HISTORY_DIR, original + ".jsonl")


def encode(event: Event) -> bytes:
    """One history line."""
    return (json.dumps(event.to_json(), ensure_ascii=False) + "\n").encode()


def decode(line: bytes) -> Event | None:
    """The event of one history line, or None for a torn or foreign line."""
    try:
        data = json.loads(line)
        return Event(
            event=str(data["event"]),
            attempt=int(data["attempt"]),
            utc=str(data["utc"]),
            reason=None if data.get("reason") is None else str(data["reason"]),
            host=None if data.get("host") is None else str(data["host"]),
            pid=None if data.get("pid") is None else int(data["pid"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def now_utc() -> str:
    """The current time, as history records it."""
    return datetime.datetime.now(datetime.UTC).isoformat()


def record(
    queue: str,
    original: str,
    event: str,
    *,
    attempt: int,
    owner: Owner,
    durability: Durability,
    reason: str | None = None,
) -> Event:
    """Append ``event`` to the history of ``original`` in ``queue``; return it."""
    entry = Event(event, attempt, now_utc(), reason, owner.host, owner.pid)
    path = history_path(queue, original)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder, exist_ok=True)
        if durability == "fsync":
            fsync_directory(queue)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, encode(entry))
        if durability == "fsync":
            os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def read_history(queue: str, original: str) -> list[Event]:
    """Every event recorded for ``original`` in ``queue``, oldest first ([] if none)."""
    try:
        fd = os.open(history_path(queue, original), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as f:
        events = [decode(line) for line in f]
    return [e for e in events if e is not None]

"""Producer markers (helo, done, failed): small JSON files, written to a temporary name
and renamed, and read back strictly. :mod:`persistq.folder.producers` keeps the
bookkeeping that decides DONE and FAILED."""

from __future__ import annotations

import datetime
import getpass
import json
import logging
import os
import stat
import uuid
from typing import Any

from persistq.durability import Durability
from persistq.errors import MarkerError, NotAMarkerFile
from persistq.folder.files import write_json
from persistq.folder.names import (
    Owner,
    escape_host,
    marker_kind,
    marker_name,
    marker_producer,
)

FORMAT = "persistq.folder.marker/1"
MAX_MARKER_BYTES = 1 << 16
"""A marker is a few hundred bytes; a larger file named like one is not read whole."""

log = logging.getLogger(__name__)


def new_producer_token(owner: Owner) -> str:
    """A fresh, unique, human-readable producer token: UTC time, host, PID, random part."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}@{escape_host(owner.host)}@{owner.pid}@{uuid.uuid4().hex[:8]}"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def write_marker(
    folder: str, producer: str, kind: str, owner: Owner, durability: Durability
) -> str:
    """Write ``producer``'s ``kind`` marker into ``folder`` atomically; return its path."""
    name = marker_name(producer, kind)
    payload = {
        "format": FORMAT,
        "type": kind,
        "producer": producer,
        "host": owner.host,
        "pid": owner.pid,
        "process_start": owner.start,
        "realm": owner.realm,
        "user": _user(),
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    final = os.path.join(folder, name)
    write_json(final, payload, durability)
    return final


def _open_regular(path: str) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading only if it is a regular file itself: O_NOFOLLOW (a
    symlink is refused) and O_NONBLOCK (a FIFO does not block the open), then fstat."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise NotAMarkerFile(f"{path}: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotAMarkerFile(f"{path}: not a regular file")
    return fd, st


def read_marker(path: str) -> dict[str, Any]:
    """Read and check the marker at ``path``; raise MarkerError naming it if it is corrupt.

    FileNotFoundError passes through (the marker was removed meanwhile);
    NotAMarkerFile when ``path`` is not a regular file (it is never opened for reading).
    The payload gets ``"mtime"``: when the marker file was written (seconds, this host's
    clock).
    """
    name = os.path.basename(path)
    kind = marker_kind(name)
    fd, st = _open_regular(path)
    with os.fdopen(fd, "rb") as f:
        raw = f.read(MAX_MARKER_BYTES + 1)
    if len(raw) > MAX_MARKER_BYTES:
        raise MarkerError(f"corrupt marker {path!r}: larger than {MAX_MARKER_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MarkerError(f"corrupt marker {path!r}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MarkerError(f"corrupt marker {path!r}: expected a JSON object")
    if data.get("type") != kind:
        raise MarkerError(f"corrupt marker {path!r}: type {data.get('type')!r} != {kind!r}")
    if data.get("producer") != marker_producer(name):
        raise MarkerError(f"corrupt marker {path!r}: producer does not match the file name")
    data["mtime"] = st.st_mtime
    return data


def marker_owner(data: dict[str, Any]) -> Owner | None:
    """The producer process a marker names, or None if the marker does not say."""
    host, pid, start = data.get("host"), data.get("pid"), data.get("process_start", 0)
    realm = data.get("realm", "")
    if not isinstance(host, str) or not isinstance(pid, int) or not isinstance(start, int):
        return None
    return Owner(host, pid, start, realm if isinstance(realm, str) else "")

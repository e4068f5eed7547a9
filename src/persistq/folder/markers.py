"""Producer markers (helo, done, failed): small JSON files, written to a temporary name
and renamed, read back strictly, and the producer bookkeeping that decides DONE/FAILED."""

from __future__ import annotations

import datetime
import getpass
import json
import os
import uuid
from typing import Any

import attrs

from persistq.durability import Durability
from persistq.errors import PersistqError
from persistq.folder.files import write_json
from persistq.folder.names import (
    Owner,
    escape_host,
    marker_kind,
    marker_name,
    marker_producer,
)

FORMAT = "persistq.folder.marker/1"


class MarkerError(PersistqError):
    """A marker file in a queue folder is not a valid persistq marker; names the file."""


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
        "user": _user(),
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    final = os.path.join(folder, name)
    write_json(final, payload, durability)
    return final


def read_marker(path: str) -> dict[str, Any]:
    """Read and check the marker at ``path``; raise MarkerError naming it if it is corrupt.

    FileNotFoundError passes through (the marker was removed meanwhile).
    """
    name = os.path.basename(path)
    kind = marker_kind(name)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MarkerError(f"corrupt marker {path!r}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MarkerError(f"corrupt marker {path!r}: expected a JSON object")
    if data.get("type") != kind:
        raise MarkerError(f"corrupt marker {path!r}: type {data.get('type')!r} != {kind!r}")
    if data.get("producer") != marker_producer(name):
        raise MarkerError(f"corrupt marker {path!r}: producer does not match the file name")
    return data


@attrs.define
class MarkerBook:
    """What a reader knows of the producers of one folder, from the markers it has read.

    Each marker file is read (and checked) once; a marker that disappears (``reset``,
    ``purge_control_messages``) is forgotten on the next full listing.
    """

    folder: str
    helo: set[str] = attrs.field(factory=set)
    done: set[str] = attrs.field(factory=set)
    failed: set[str] = attrs.field(factory=set)

    def note(self, name: str) -> None:
        """Take marker ``name`` into account, reading it if it is new."""
        kind = marker_kind(name)
        producer = marker_producer(name)
        seen = {"helo": self.helo, "done": self.done, "failed": self.failed}[kind or "failed"]
        if producer in seen:
            return
        try:
            read_marker(os.path.join(self.folder, name))
        except FileNotFoundError:
            return
        seen.add(producer)

    def replace(self, names: list[str]) -> None:
        """Reset to exactly the markers ``names`` of a full listing."""
        present: dict[str, set[str]] = {"helo": set(), "done": set(), "failed": set()}
        for name in names:
            present[marker_kind(name) or "failed"].add(marker_producer(name))
        self.helo &= present["helo"]
        self.done &= present["done"]
        self.failed &= present["failed"]
        for name in names:
            self.note(name)

    @property
    def any_failed(self) -> bool:
        """Some producer has failed."""
        return bool(self.failed)

    @property
    def all_done(self) -> bool:
        """Some producer announced itself and every announced producer has closed."""
        return bool(self.helo | self.done) and self.helo <= self.done

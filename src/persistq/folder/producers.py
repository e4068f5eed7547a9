"""What a reader knows of the producers of its folder, from their markers: whether all
have closed (DONE), or one failed or died without closing (FAILED).

Markers belong to a run. A reader that starts when every producer it finds closed
well before it started, with nothing queued or claimed, is looking at an earlier
run (yesterday's, say): it ignores those producers and waits for the next one to
announce itself, instead of answering DONE at once.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import attrs

from persistq.errors import NotAMarkerFile
from persistq.folder.lease import lease_expired
from persistq.folder.markers import marker_owner, read_marker
from persistq.folder.names import Owner, marker_kind, marker_name, marker_producer
from persistq.folder.owner import Liveness, judge

log = logging.getLogger(__name__)

EARLIER_RUN_SECONDS = 10.0
"""A run whose producers all closed this long before a reader started is an earlier run."""


@attrs.define
class MarkerBook:
    """The producers of one folder, from the markers read so far.

    Each marker file is read (and checked) once; a marker that disappears (``reset``,
    ``purge_control_messages``) is forgotten on the next full listing. ``version``
    counts every change, so a caller can tell whether a new producer appeared.
    """

    folder: str
    helo: dict[str, Owner | None] = attrs.field(factory=dict)
    done: dict[str, float] = attrs.field(factory=dict)
    """Closed producers, with when they closed (marker mtime)."""
    failed: set[str] = attrs.field(factory=set)
    dead: dict[str, str] = attrs.field(factory=dict)
    """Producers gone without closing, with how that is known."""
    earlier_run: set[str] = attrs.field(factory=set)
    version: int = 0
    _refused: set[str] = attrs.field(factory=set)

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            return read_marker(os.path.join(self.folder, name))
        except FileNotFoundError:
            return None
        except NotAMarkerFile as exc:
            if name not in self._refused:
                self._refused.add(name)
                log.warning("ignoring %s: a marker must be a regular file", exc)
            return None

    def note(self, name: str) -> None:
        """Take marker ``name`` into account, reading it if it is new."""
        kind = marker_kind(name)
        producer = marker_producer(name)
        known: set[str] | dict[str, Any]
        known = self.helo if kind == "helo" else self.done if kind == "done" else self.failed
        if producer in known:
            return
        data = self._read(name)
        if data is None:
            return
        if kind == "helo":
            self.helo[producer] = marker_owner(data)
        elif kind == "done":
            self.done[producer] = float(data["mtime"])
        else:
            self.failed.add(producer)
        self.version += 1

    def replace(self, names: list[str]) -> None:
        """Reset to exactly the markers ``names`` of a full listing."""
        present: dict[str, set[str]] = {"helo": set(), "done": set(), "failed": set()}
        for name in names:
            present[marker_kind(name) or "failed"].add(marker_producer(name))
        before = (len(self.helo), len(self.done), len(self.failed))
        self.helo = {p: o for p, o in self.helo.items() if p in present["helo"]}
        self.done = {p: t for p, t in self.done.items() if p in present["done"]}
        self.failed &= present["failed"]
        if before != (len(self.helo), len(self.done), len(self.failed)):
            self.version += 1
        for name in names:
            self.note(name)

    def _current(self) -> set[str]:
        return (set(self.helo) | set(self.done)) - self.earlier_run

    @property
    def any_failed(self) -> bool:
        """Some producer has failed, or is gone without closing."""
        return bool(self.failed - self.earlier_run) or bool(self.dead)

    @property
    def all_done(self) -> bool:
        """Some producer of this run announced itself and every one has closed."""
        current = self._current()
        return bool(current) and current <= set(self.done)

    def failure(self) -> str:
        """Which producers failed and how that is known, for an error message."""
        parts = [f"{p} wrote a failed marker" for p in sorted(self.failed - self.earlier_run)]
        parts += [f"{p} {how}" for p, how in sorted(self.dead.items())]
        return "; ".join(parts) or "no producer failed"

    def check_alive(self, lease_seconds: float | None) -> None:
        """Find producers gone without closing: dead on this host (PID and start time),
        or elsewhere with ``lease_seconds``, a heartbeat (or helo) older than the lease."""
        for producer, owner in self.helo.items():
            if producer in self.done or producer in self.failed or producer in self.dead:
                continue
            if producer in self.earlier_run or owner is None:
                continue
            how = self._gone(producer, owner, lease_seconds)
            if how is not None and self._closed_meanwhile(producer):
                continue
            if how is not None:
                self.dead[producer] = how
                self.version += 1
                log.error("producer %s of %s %s; readers get FAILED", producer, self.folder, how)

    def _closed_meanwhile(self, producer: str) -> bool:
        """Whether ``producer`` wrote its done or failed marker after the listing: a
        producer closes before it exits, so a look after its death is conclusive."""
        for kind in ("done", "failed"):
            name = marker_name(producer, kind)
            if os.path.lexists(os.path.join(self.folder, name)):
                self.note(name)
                return True
        return False

    def _gone(self, producer: str, owner: Owner, lease_seconds: float | None) -> str | None:
        verdict = judge(owner)
        if verdict is Liveness.DEAD:
            return f"is gone without close() (PID {owner.pid} on {owner.host} ended)"
        if verdict is Liveness.UNKNOWN and lease_seconds is not None:
            helo = f"{producer}.helo"
            if lease_expired(self.folder, owner, helo, lease_seconds):
                return f"sent no heartbeat for {lease_seconds} s (PID {owner.pid} on {owner.host})"
        return None

    def ignore_earlier_run(self, reader_started: float, anything_left: bool) -> None:
        """At a reader's first listing: if every producer closed well before the reader
        started and nothing is queued or claimed, that run is over; wait for the next."""
        if anything_left or not self.all_done or self.failed:
            return
        cutoff = reader_started - EARLIER_RUN_SECONDS
        if all(self.done[p] < cutoff for p in self._current()):
            self.earlier_run |= self._current()
            self.version += 1
            log.info(
                "%s: every producer closed before this reader started (an earlier run); "
                "waiting for a producer of a new run",
                self.folder,
            )

"""Producer records on the control stream and what a consumer concludes from them.

Pure logic, no I/O. A producer writes ``helo`` before its first message, and ``done``
at ``close()`` or ``failed`` at ``fail()``; the records are journal-codec payloads of
two fields (kind, producer). A consumer folds every record from the start of the
stream into a :class:`ControlState`: the work is over (DONE) once at least one producer
closed, none that announced itself is still open and no message is left; FAILED as
soon as any producer failed. A consumer also writes a ``mark`` of its own as it
subscribes, and takes no message before it has read the stream up to that mark (the
stream keeps its order), so every record written before it joined comes first.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Final, Literal

import attrs

from persistq.journal.codec import RecordError, decode_payload, encode_payload
from persistq.sentinels import DONE, FAILED, Sentinel

log = logging.getLogger(__name__)

ControlKind = Literal["helo", "done", "failed", "mark"]
KINDS: Final = ("helo", "done", "failed", "mark")


def new_producer_id() -> str:
    """A name unique across hosts (of a producer, or of a consumer's mark): host, PID
    and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def encode_control(kind: ControlKind, producer: str) -> bytes:
    """The body of one control record."""
    return encode_payload((kind, producer))


def decode_control(body: bytes) -> tuple[ControlKind, str]:
    """The (kind, producer) of a control record; raise RecordError for anything else."""
    fields = decode_payload(body)
    if len(fields) != 2 or fields[0] not in KINDS:
        raise RecordError(f"not a persistq control record: {body[:80]!r}")
    kind: ControlKind = fields[0]  # type: ignore[assignment]  # checked just above
    return kind, fields[1]


@attrs.define
class ControlState:
    """What the control records read so far say about the producers."""

    open: set[str] = attrs.field(factory=set)
    closed: set[str] = attrs.field(factory=set)
    failed: list[str] = attrs.field(factory=list)

    def apply(self, kind: ControlKind, producer: str) -> None:
        """Take one record into account (records may repeat after a reconnect; a
        consumer's ``mark`` says nothing about the producers)."""
        if kind == "helo":
            if producer not in self.closed:
                self.open.add(producer)
        elif kind == "done":
            self.open.discard(producer)
            self.closed.add(producer)
        elif kind == "failed" and producer not in self.failed:
            self.open.discard(producer)
            self.failed.append(producer)

    @property
    def all_closed(self) -> bool:
        """At least one producer closed and none that announced itself is open."""
        return bool(self.closed) and not self.open


def fold(state: ControlState, body: bytes, where: str) -> bool:
    """Take the control record ``body`` into ``state``; a foreign record is logged and
    left out (False)."""
    try:
        kind, producer = decode_control(body)
    except RecordError as exc:
        log.warning("%s: ignoring a foreign record on the control stream: %s", where, exc)
        return False
    state.apply(kind, producer)
    return True


@attrs.define
class Absences:
    """Since when each producer has been seen gone (its presence queue missing)."""

    since: dict[str, float] = attrs.field(factory=dict)

    def seen(self, producer: str, alive: bool, now: float) -> None:
        """Record one look at ``producer``'s presence at time ``now``."""
        if alive:
            self.since.pop(producer, None)
        else:
            self.since.setdefault(producer, now)

    def expired(self, now: float, lease: float) -> list[str]:
        """The producers gone for at least ``lease`` seconds without a break."""
        return [p for p, since in self.since.items() if now - since >= lease]


def conclusion(state: ControlState, ready_messages: int | None) -> Sentinel | None:
    """What ``get`` returns when no message is at hand: FAILED once a producer failed;
    DONE once every producer closed and the queue holds no ready message
    (``ready_messages``, None when not known yet); None to keep waiting."""
    if state.failed:
        return FAILED
    if state.all_closed and ready_messages == 0:
        return DONE
    return None

"""Repairing a folder queue: an administrator's handle that is no producer (it writes no
helo marker, so a killed repair leaves nothing that readers wait for)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Sequence

import attrs

from persistq.durability import Durability
from persistq.folder import history
from persistq.folder.base import FolderQueueBase
from persistq.folder.files import remove_quietly, sync_dirs
from persistq.folder.moves import finish_moves
from persistq.folder.names import (
    REASON_SUFFIX,
    Kind,
    Owner,
    Wip,
    classify,
    parse_archived,
    parse_wip,
)
from persistq.folder.owner import is_alive, is_local
from persistq.folder.placement import put_file

log = logging.getLogger(__name__)


@attrs.frozen
class Claim:
    """A claimed (wip) file: its name, what the name says, and whether its owner runs
    (``"alive"``, ``"dead"``, or ``"remote"``: on another host, not judged here)."""

    name: str
    wip: Wip
    state: str


@attrs.frozen
class Purged:
    """How many entries of each kind a purge deleted."""

    messages: int = 0
    claims: int = 0
    markers: int = 0
    leases: int = 0

    @property
    def total(self) -> int:
        """Every entry deleted."""
        return self.messages + self.claims + self.markers + self.leases


def owner_state(owner: Owner) -> str:
    """``alive`` or ``dead`` for an owner on this host, ``remote`` for another host."""
    if not is_local(owner):
        return "remote"
    return "alive" if is_alive(owner) else "dead"


_PURGED = {Kind.MESSAGE: "messages", Kind.WIP: "claims", Kind.MARKER: "markers"}


def purge_folder(path: str, extension: str, durability: Durability) -> Purged:
    """Delete every message, claim, marker and lease in queue folder ``path``; count them.

    Foreign files (other extensions) and subfolders are left untouched.
    """
    counts = dict.fromkeys(("messages", "claims", "markers", "leases"), 0)
    for name in os.listdir(path):
        kind = classify(name, extension)
        field = _PURGED.get(kind, "leases" if kind is Kind.HEARTBEAT else None)
        if field is not None and _unlink(os.path.join(path, name)):
            counts[field] += 1
    sync_dirs(durability, path)
    purged = Purged(**counts)
    log.info("purged queue %s (%d entries)", path, purged.total)
    return purged


def remove_markers(path: str, extension: str, durability: Durability) -> int:
    """Delete every producer marker in queue folder ``path``; return how many."""
    removed = sum(
        _unlink(os.path.join(path, n))
        for n in os.listdir(path)
        if classify(n, extension) is Kind.MARKER
    )
    sync_dirs(durability, path)
    return removed


def _unlink(path: str) -> bool:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
        return True
    return False


class FolderAdmin(FolderQueueBase):
    """A handle for repairing queue folder ``path`` (``persistq reset``/``requeue``):
    no producer, no reader; it announces nothing. ``durability`` defaults to
    ``"fsync"``: repairs are rare and must hold."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        message_extension: str = ".tsv",
        *,
        durability: Durability = "fsync",
    ) -> None:
        super().__init__(path, message_extension, durability=durability)

    def claims(self) -> list[Claim]:
        """Every claimed file of the queue, with its owner's state, by name."""
        found = []
        for name in sorted(self._names(Kind.WIP)):
            wip = parse_wip(name)
            if wip is not None:
                found.append(Claim(name, wip, owner_state(wip.owner)))
        return found

    def take_back(self, *, live: bool = False) -> list[str]:
        """Give back the claims of dead owners (with ``live``, every claim: only when
        nothing runs); return the queued paths. Claims of live or remote owners stay.
        Dead owners' half-done moves are finished or rolled back first."""
        finish_moves(self.path, self.durability)
        restored = []
        for claim in self.claims():
            if claim.state == "dead" or live:
                path = self.give_back(claim.name)
                if path is not None:
                    restored.append(path)
        return restored

    def remove_markers(self) -> int:
        """Delete every producer marker (earlier runs' helo/done/failed); how many."""
        return remove_markers(self.path, self.message_extension, self.durability)

    def purge(self) -> Purged:
        """Delete every message, claim, marker and lease; how many of each."""
        return purge_folder(self.path, self.message_extension, self.durability)

    def failed_files(self, failed_directory: str | None = None) -> list[str]:
        """The names of the files in the failed folder (default ``<path>/failed``)."""
        folder = failed_directory or os.path.join(self.path, "failed")
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        ext = self.message_extension
        return [n for n in names if classify(n, ext) is Kind.MESSAGE]

    def requeue_failed(
        self, names: Sequence[str] = (), failed_directory: str | None = None
    ) -> list[str]:
        """Send failed files back to the queue under their original names, as a first
        attempt again (their history is kept, with a ``requeued`` event); return their
        queued paths.

        ``names`` (names in the failed folder, or original names) choose which; all by
        default. FileNotFoundError names any that is not there, before anything moves;
        a file whose name is queued already stays where it is (a warning says so).
        """
        folder = failed_directory or os.path.join(self.path, "failed")
        present = {n: parse_archived(n)[0] for n in self.failed_files(folder)}
        unknown = set(names) - set(present) - set(present.values())
        if unknown:
            raise FileNotFoundError(
                errno.ENOENT,
                f"no failed file named {', '.join(sorted(unknown))} in {folder!r} "
                f"(there: {', '.join(present) or 'none'})",
                folder,
            )
        requeued = []
        for name, original in present.items():
            if names and name not in names and original not in names:
                continue
            src, dst = os.path.join(folder, name), os.path.join(self.path, original)
            try:
                put_file(src, dst, copy=False, queue=self.path, durability=self.durability)
            except FileExistsError:
                log.warning("not requeueing %s: %s is queued already", src, dst)
                continue
            remove_quietly(src + REASON_SUFFIX)
            history.record(
                self.path,
                original,
                history.REQUEUED,
                attempt=0,
                owner=self.owner,
                durability=self.durability,
            )
            log.info("requeued %s as %s", src, dst)
            requeued.append(dst)
        return requeued

"""A reader's view of its folder in one process: the claimable names (index), the
producers' markers, the held-back names, kept up to date from events and listings.

Events are hints; a listing is the truth, except that a name an event announced while
the listing ran is kept (the listing may have begun before the file arrived).
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable

from persistq.folder.names import Kind, classify
from persistq.folder.ordering import CandidateIndex
from persistq.folder.producers import MarkerBook
from persistq.folder.schedule import Deferrals, Stability
from persistq.folder.schedule import count_missed as missed_among
from persistq.folder.waking import Watcher
from persistq.folder.writers import RECHECK_SECONDS, Writing, check_writing, leases_work


class Vetting(enum.Enum):
    """What :meth:`FolderView.vet` says of a name about to be claimed."""

    HELD = "held back for now (deferred)"
    REGULAR = "claim it: a regular file, no writer on this host"
    UNCHECKED = "claim it: no writer known, and the claim checks the file's type"


class FolderView:
    """The names of one folder as one process of a reader sees them."""

    def __init__(
        self,
        folder: str,
        extension: str,
        index: CandidateIndex,
        watcher: Watcher | None,
        stable_after: float | None,
        held_back: Callable[[str], float | None],
        accept: Callable[[str], bool],
    ) -> None:
        self.folder = folder
        self.extension = extension
        self.index = index
        self.markers = MarkerBook(folder)
        self.watcher = watcher
        self.deferred = Deferrals()
        self.stability = None if stable_after is None else Stability(stable_after)
        self._held_back = held_back
        """When a newly seen message may first be claimed (monotonic), None: at once."""
        self._accept = accept
        """Whether a message name may be claimed at all (else it is left alone)."""
        self._leases: bool | None = None
        """Whether leases tell writers apart here (probed at the first claim)."""
        self.writing: set[str] = set()
        """Names found open for writing: claimed once closed (an event, or a recheck)."""
        self.listings = 0
        self.refused: set[str] = set()
        """Names a claim found no regular file: events of them are ignored until the
        next listing (whose type check judges them), or each give-back would announce
        the name again."""
        self.claims = 0
        """How many wip files the last listing found (of any owner)."""

    @property
    def events(self) -> bool:
        """Whether events arrive from a healthy watcher."""
        return self.watcher is not None and self.watcher.healthy

    @property
    def paused(self) -> bool:
        """Whether events are switched off for a backlog."""
        return self.watcher is not None and self.watcher.paused

    def offer(self, name: str) -> None:
        """Index message ``name`` unless it is held back (a retry not yet due)."""
        if name in self.deferred or name in self.index or not self._accept(name):
            return
        due = self._held_back(name)
        if due is not None:
            self.deferred.defer(name, due)
        else:
            self.index.add(name)

    def _note(self, name: str, appeared: bool) -> None:
        kind = classify(name, self.extension)
        if kind is Kind.MESSAGE:
            if appeared and name in self.writing:  # closed after writing: look again now
                self.writing.discard(name)
                self.deferred.defer(name, 0.0)
            elif appeared and name not in self.refused:
                self.offer(name)
            else:
                self.index.discard(name)
        elif kind is Kind.MARKER and appeared:
            self.markers.note(name)

    def refuse(self, name: str) -> None:
        """Note that ``name`` is no regular file (see :attr:`refused`)."""
        self.refused.add(name)
        self.index.discard(name)

    def settled(self, now: float) -> bool:
        """Whether nothing changed what the reader knows: no event waits to be taken
        and no held-back name has come due."""
        if self.watcher is not None and self.watcher.pending:
            return False
        due = self.deferred.next_due()
        return due is None or due > now

    def take_events(self, now: float) -> None:
        """Apply the events that arrived, and index the held-back names now due."""
        if self.watcher is not None:
            for name, appeared in self.watcher.take():
                self._note(name, appeared)
        for name in self.deferred.pop_due(now):
            self.index.add(name)

    def scan(self, count_missed: bool) -> tuple[int, bool]:
        """List the folder: the truth for the index and markers. Return how many old
        files it found that no event announced (if ``count_missed`` and events were on:
        a stat per new file), and whether events were on."""
        watching = self.events and not self.paused
        self.take_events(time.monotonic())
        messages: list[str] = []
        markers: list[str] = []
        claims = 0
        index, ext = self.index, self.extension
        for entry in os.scandir(self.folder):
            name = entry.name
            if name in index:  # known messages need no second look
                messages.append(name)
                continue
            kind = classify(name, ext)
            if kind is Kind.MESSAGE:
                # not a symlink or directory, nor a name the reader refuses
                if entry.is_file(follow_symlinks=False) and self._accept(name):
                    messages.append(name)
            elif kind is Kind.MARKER:
                markers.append(name)
            elif kind is Kind.WIP:
                claims += 1
        self.claims = claims
        self.refused.clear()
        self.markers.replace(markers)
        listed = set(messages)
        self.deferred.keep_only(listed)
        self.writing &= listed
        if self.stability is not None:
            self.stability.keep_only(listed)
        added = index.replace({n for n in listed if n not in self.deferred})
        for name in added:
            due = self._held_back(name)
            if due is not None:
                index.discard(name)
                self.deferred.defer(name, due)
        self.take_events(time.monotonic())  # what arrived while listing stays indexed
        self.listings += 1
        return (self._missed(added) if watching and count_missed else 0), watching

    def _missed(self, added: list[str]) -> int:
        now = time.time()
        ages = []
        for name in added:
            try:
                ages.append(now - os.stat(os.path.join(self.folder, name)).st_ctime)
            except FileNotFoundError:
                continue
        return missed_among(ages)

    def vet(self, name: str) -> Vetting:
        """Whether ``name`` may be claimed now: HELD (and deferred) while a process of
        this host has it open for writing (looked at again when closed, or after a
        short while) or, with ``stable_after``, while it still changes or is gone."""
        writing = self._writing(name)
        if writing is Writing.YES:
            self.writing.add(name)
            self.deferred.defer(name, time.monotonic() + RECHECK_SECONDS)
            return Vetting.HELD
        self.writing.discard(name)
        if self.stability is not None and self._changing(self.stability, name):
            return Vetting.HELD
        return Vetting.REGULAR if writing is Writing.NO else Vetting.UNCHECKED

    def _writing(self, name: str) -> Writing:
        if self._leases is None:
            self._leases = leases_work(self.folder)
        if not self._leases:
            return Writing.UNKNOWN
        return check_writing(os.path.join(self.folder, name))

    def _changing(self, stability: Stability, name: str) -> bool:
        try:
            st = os.stat(os.path.join(self.folder, name))
        except FileNotFoundError:
            stability.forget(name)
            return True
        due = stability.check(name, (st.st_size, st.st_mtime_ns), time.monotonic())
        if due is None:
            return False
        self.deferred.defer(name, due)
        return True

    def close(self) -> None:
        """Stop the watcher and forget it (idempotent): from now on this view polls."""
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.stop()

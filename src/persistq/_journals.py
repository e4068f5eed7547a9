"""This process's pair of journals (requested, completed) in one pickup directory.

A PersistentQueue holds one of these per process: it is rebuilt, in one place, after
a fork (the parent's journals are not the child's) and after unpickling (spawn).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from persistq import processes
from persistq.durability import Durability
from persistq.errors import JournalClosedError
from persistq.journal.naming import JournalKind, journal_file_name
from persistq.journal.writer import JournalWriter


class JournalPair:
    """The requested and completed journals of this process, each opened on first use
    and reopened (appending) after a close. ``journalled`` says whether this process
    appended anything yet."""

    def __init__(self, directory: str, prefix: str, durability: Durability) -> None:
        self.directory = directory
        self.prefix = prefix
        self.durability = durability
        self.forks = processes.forks
        self.journalled = False
        self._token: str | None = None
        self._writers: dict[JournalKind, JournalWriter] = {}
        self._appends: dict[JournalKind, Callable[[bytes], None]] = {}
        self._lock = threading.Lock()

    def path(self, kind: JournalKind) -> str:
        """Where this process's ``kind`` journal is (named after PID and writer token)."""
        if self._token is None:
            self._token = processes.writer_token()
        name = journal_file_name(self.prefix, kind, os.getpid(), token=self._token)
        return os.path.join(self.directory, name)

    def writer(self, kind: JournalKind) -> JournalWriter:
        """This process's ``kind`` journal, opened if it is not open."""
        writer = self._writers.get(kind)
        if writer is None or writer.closed:
            with self._lock:  # never two writers of one journal at once
                writer = self._writers.get(kind)
                if writer is None or writer.closed:
                    writer = JournalWriter(self.path(kind), self.durability)
                    self._writers[kind] = writer
                    self._appends[kind] = writer.line_appender()
        return writer

    def append(self, kind: JournalKind, line: bytes) -> None:
        """Append one encoded record line to this process's ``kind`` journal."""
        append = self._appends.get(kind)
        if append is not None:
            try:
                append(line)
                self.journalled = True
                return
            except JournalClosedError:  # closed meanwhile (dispose, put_file.close())
                pass
        while True:
            self.writer(kind)  # a new one: each close ends one writer
            try:
                self._appends[kind](line)
                break
            except (KeyError, JournalClosedError):  # closed again by another thread
                continue
        self.journalled = True

    def close(self, kind: JournalKind) -> None:
        """Close the ``kind`` journal (the next record opens it again)."""
        with self._lock:  # closed before another thread may open it again
            writer = self._writers.pop(kind, None)
            self._appends.pop(kind, None)
            if writer is not None:
                writer.close()

    def release_inherited(self) -> None:
        """In a forked child: let go of the parent's journals (touching nothing)."""
        for writer in self._writers.values():
            writer.close()  # in a child, a writer only drops its inherited descriptor
        self._writers.clear()
        self._appends.clear()


class ProcessJournals:
    """The JournalPair of whichever process uses this object: made anew, in this one
    place, in a forked child and after unpickling (spawn, forkserver)."""

    def __init__(self, directory: str, prefix: str, durability: Durability) -> None:
        self.directory = directory
        self.prefix = prefix
        self.durability = durability
        self._pair = JournalPair(directory, prefix, durability)

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory, "prefix": self.prefix, "durability": self.durability}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pair = JournalPair(self.directory, self.prefix, self.durability)

    def append(self, kind: JournalKind, line: bytes) -> None:
        """Append one encoded record line to this process's ``kind`` journal (the
        per-record path)."""
        pair = self._pair
        if pair.forks != processes.forks:
            pair = self.pair()
        pair.append(kind, line)

    def pair(self) -> JournalPair:
        """This process's journal pair."""
        pair = self._pair
        if pair.forks != processes.forks:
            pair.release_inherited()
            pair = self._pair = JournalPair(self.directory, self.prefix, self.durability)
        return pair

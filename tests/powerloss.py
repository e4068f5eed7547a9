"""A power cut, simulated: only what was fsynced survives.

``PowerLoss`` wraps ``os.fsync`` and ``os.fdatasync`` (every durability promise goes
through one of them):
it records, for each file, its content when it was last fsynced, and for each
directory, its entries when it was last fsynced. ``cut(directory, into)`` then builds
what a disk would hold after power loss at that moment: only the entries of the last
directory fsync (so unsynced creations and renames are undone), each file as long as
when it was last fsynced (empty if never synced), holding what was synced, except
that each page written since may have reached the disk or not, independently (the
OS writes pages back in no set order): ``keep_unsynced_pages`` picks those that did,
at random by default. Entries removed after the last
directory fsync cannot be brought back; persistq only removes temporary files. A file
that an unsynced rename moved to another watched directory is found there by inode.
Renames are atomic, as on a journaling file system: when the directory a file left is
synced, the file's new entry in another watched directory counts as synced too.

While a cut is taken, renames, links and unlinks wait (they are wrapped too), so the
cut sees every directory at one instant, which may fall inside an operation: between
a rename and the fsync that makes it durable.
"""

from __future__ import annotations

import mmap
import os
import random
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from persistq.folder import files
from persistq.journal import storage as writer

PAGE = mmap.PAGESIZE


def _coin_flips(seed: int = 0) -> Callable[[list[int]], list[int]]:
    rng = random.Random(seed)
    return lambda pages: [page for page in pages if rng.random() < 0.5]


class PowerLoss:
    """Records what each fsync made durable; see the module docstring."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        keep_unsynced_pages: Callable[[list[int]], list[int]] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._synced_content: dict[int, bytes] = {}
        self._keep_unsynced_pages = keep_unsynced_pages or _coin_flips()
        self._directory_entries: dict[str, dict[str, int]] = {}
        real_fsync = os.fsync

        def recording_fsync(fd: int) -> None:
            real_fsync(fd)
            info = os.fstat(fd)
            with self._lock:
                if stat.S_ISDIR(info.st_mode):
                    self._record_directory(os.readlink(f"/proc/self/fd/{fd}"))
                else:
                    with open(f"/proc/self/fd/{fd}", "rb") as f:
                        self._synced_content[info.st_ino] = f.read(info.st_size)

        monkeypatch.setattr(os, "fsync", recording_fsync)
        monkeypatch.setattr(os, "fdatasync", recording_fsync)
        monkeypatch.setattr(writer, "sync_data", recording_fsync)
        for name in ("rename", "replace", "link", "unlink", "remove"):
            monkeypatch.setattr(os, name, self._frozen_during_cuts(getattr(os, name)))
        monkeypatch.setattr(  # renameat2(RENAME_NOREPLACE), called through ctypes
            files, "_rename_noreplace", self._frozen_during_cuts(files._rename_noreplace)
        )

    def _record_directory(self, path: str) -> None:
        now = {entry.name: entry.inode() for entry in os.scandir(path)}
        gone = set(self._directory_entries.get(path, {}).values()) - set(now.values())
        self._directory_entries[path] = now
        if gone:
            # A rename is one transaction of a journaling file system: once the
            # directory it left is synced, the directory it entered holds it too.
            for directory, entries in self._directory_entries.items():
                for entry in os.scandir(directory):
                    if entry.inode() in gone:
                        entries[entry.name] = entry.inode()

    def _frozen_during_cuts(self, operation: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return operation(*args, **kwargs)

        return wrapped

    def cut(self, directory: Path, into: Path) -> None:
        """Write to ``into`` what ``directory`` would hold after a power cut now."""
        self.cut_many({directory: into})

    def cut_many(self, directories: dict[Path, Path]) -> None:
        """For each ``directory: into``, write to ``into`` what ``directory`` would hold
        after a power cut now (one instant for all of them)."""
        with self._lock:
            where = self._inodes_now([*self._directory_entries, *map(str, directories)])
            for directory, into in directories.items():
                into.mkdir(parents=True)
                for name, inode in self._directory_entries.get(str(directory), {}).items():
                    if inode in where:  # the file, wherever an unsynced rename took it
                        with open(where[inode], "rb") as f:
                            now = f.read()
                        (into / name).write_bytes(self._on_disk(inode, now))

    def _on_disk(self, inode: int, now: bytes) -> bytes:
        """What a cut leaves of a file that holds ``now``: its synced content, with
        each page changed since the sync either kept or not."""
        disk = bytearray(self._synced_content.get(inode, b""))
        changed = [
            start // PAGE
            for start in range(0, len(disk), PAGE)
            if now[start : start + PAGE][: len(disk) - start]
            != disk[start : start + PAGE][: len(now) - start]
        ]
        for page in self._keep_unsynced_pages(changed):
            start = page * PAGE
            written = now[start : start + PAGE][: len(disk) - start]
            disk[start : start + len(written)] = written
        return bytes(disk)

    @staticmethod
    def _inodes_now(directories: list[str]) -> dict[int, str]:
        found: dict[int, str] = {}
        for directory in directories:
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    found[entry.inode()] = entry.path
        return found


def record_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, append the path of every file or directory fsynced to the list
    returned (the syncs still happen)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    monkeypatch.setattr(writer, "sync_data", spy)
    return synced

"""A power cut, simulated: only what was fsynced survives.

``PowerLoss`` wraps ``os.fsync`` and ``os.fdatasync`` (every durability promise goes
through one of them):
it records, for each file, its length when it was last fsynced, and for each
directory, its entries when it was last fsynced. ``cut(directory, into)`` then builds
what a disk would hold after power loss at that moment: only the entries of the last
directory fsync (so unsynced creations and renames are undone), each file truncated to
its last fsynced length (zero if never synced). Entries removed after the last
directory fsync cannot be brought back; persistq only removes temporary files. A file
that an unsynced rename moved to another watched directory is found there by inode.
Renames are atomic, as on a journaling file system: when the directory a file left is
synced, the file's new entry in another watched directory counts as synced too.

While a cut is taken, renames, links and unlinks wait (they are wrapped too), so the
cut sees every directory at one instant, which may fall inside an operation: between
a rename and the fsync that makes it durable.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from persistq.folder import files
from persistq.journal import writer


class PowerLoss:
    """Records what each fsync made durable; see the module docstring."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._lock = threading.Lock()
        self._file_length: dict[int, int] = {}
        self._directory_entries: dict[str, dict[str, int]] = {}
        real_fsync = os.fsync

        def recording_fsync(fd: int) -> None:
            real_fsync(fd)
            info = os.fstat(fd)
            with self._lock:
                if stat.S_ISDIR(info.st_mode):
                    self._record_directory(os.readlink(f"/proc/self/fd/{fd}"))
                else:
                    self._file_length[info.st_ino] = info.st_size

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
                            (into / name).write_bytes(f.read(self._file_length.get(inode, 0)))

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

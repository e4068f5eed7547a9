"""A power cut, simulated: only what was fsynced survives.

``PowerLoss`` wraps ``os.fsync`` (the one call every durability promise goes through):
it records, for each file, its length when it was last fsynced, and for each
directory, its entries when it was last fsynced. ``cut(directory, into)`` then builds
what a disk would hold after power loss at that moment: only the entries of the last
directory fsync (so unsynced creations and renames are undone), each file truncated to
its last fsynced length (zero if never synced). Entries removed after the last
directory fsync cannot be brought back; persistq only removes temporary files.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
from pathlib import Path

import pytest


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
                    path = os.readlink(f"/proc/self/fd/{fd}")
                    self._directory_entries[path] = {
                        entry.name: entry.inode() for entry in os.scandir(path)
                    }
                else:
                    self._file_length[info.st_ino] = info.st_size

        monkeypatch.setattr(os, "fsync", recording_fsync)

    def cut(self, directory: Path, into: Path) -> None:
        """Write to ``into`` what ``directory`` would hold after a power cut now."""
        with self._lock:
            entries = dict(self._directory_entries.get(str(directory), {}))
            lengths = dict(self._file_length)
        into.mkdir(parents=True)
        for name, inode in entries.items():
            source = directory / name
            try:
                if source.stat().st_ino != inode:
                    continue  # replaced after the last directory fsync
                with open(source, "rb") as f:
                    data = f.read(lengths.get(inode, 0))
            except FileNotFoundError:
                continue
            (into / name).write_bytes(data)


def copy_tree(source: Path, into: Path) -> None:
    """A copy of ``source`` as a killed process leaves it (everything in the OS)."""
    shutil.copytree(source, into)

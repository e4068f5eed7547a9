"""Folder queues: a folder of data files is the queue, and ``ls`` shows its state.

Producers publish files with :class:`WritableFolderQueue`; consumers claim them by an
atomic rename with :class:`ReadableFolderQueue` (one file at a time) or
:class:`ReadableGroupedFileFolderQueue` (one complete group of files at a time).
"""

from __future__ import annotations

from persistq.errors import MarkerError
from persistq.folder.grouped import ReadableGroupedFileFolderQueue
from persistq.folder.readable import FolderReader
from persistq.folder.single import ReadableFolderQueue
from persistq.folder.writable import WritableFolderQueue

__all__ = [
    "FolderReader",
    "MarkerError",
    "ReadableFolderQueue",
    "ReadableGroupedFileFolderQueue",
    "WritableFolderQueue",
]

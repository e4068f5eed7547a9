"""persistq: crash-recoverable queues for ETL pipelines.

``PersistentQueue`` journals every put and task_done so that a restarted run requeues
exactly the unfinished work; the folder queues make a folder of data files the queue.
"""

from __future__ import annotations

import logging
from queue import Empty, Full

from persistq._version import __version__
from persistq.errors import PersistqError, UpstreamFailureError
from persistq.folder import (
    ReadableFolderQueue,
    ReadableGroupedFileFolderQueue,
    WritableFolderQueue,
)
from persistq.persistent_queue import PersistentQueue
from persistq.sentinels import DONE, FAILED

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DONE",
    "FAILED",
    "Empty",
    "Full",
    "PersistentQueue",
    "PersistqError",
    "ReadableFolderQueue",
    "ReadableGroupedFileFolderQueue",
    "UpstreamFailureError",
    "WritableFolderQueue",
    "__version__",
]

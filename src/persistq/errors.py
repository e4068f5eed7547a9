"""The exceptions persistq raises of its own, all in one place.

Every one survives pickling with its message and attributes (errors cross process
boundaries in the multiprocessing setting the library is made for): an error with
attributes of its own rebuilds itself from them in ``__reduce__``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


class PersistqError(Exception):
    """Base of every error that persistq raises of its own."""


class UpstreamFailureError(PersistqError):
    """A producer upstream failed: a consumer received FAILED."""


class JournalClosedError(PersistqError):
    """An append to a journal that was closed (open a new writer to go on)."""


class RecordError(PersistqError, ValueError):
    """A line is not a valid record (bad checksum, bad escape, bad framing)."""


class MessageFormatError(PersistqError, ValueError):
    """A message cannot be written to, or read back from, a journal record."""


class NotRegularFileError(PersistqError):
    """A journal, pointer or temporary file name is taken by something that is not a
    regular file (a FIFO, a device, a symbolic link): persistq never opens those."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self.path = os.fspath(path)
        self.what = what
        super().__init__(
            f"{self.path}: is {what}, not a regular file; persistq opens only regular "
            "files here: remove or rename it"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.what))


class LiveRunError(PersistqError):
    """Recovery refused: a process of another run may still write the journals of the
    directory it would recover (``path`` names its journal, ``pid`` the process)."""

    def __init__(self, path: str, pid: int, action: str) -> None:
        self.path = path
        self.pid = pid
        self.action = action
        super().__init__(
            f"{path}: process {pid} of another run may still be writing this journal; "
            f"{action} only once that run has ended (or recover into another directory)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.pid, self.action))


class JournalCorruptError(PersistqError):
    """A journal holds lines that are neither valid records nor a torn last line.

    ``path`` names the journal and ``line_numbers`` the corrupt lines (1-based); the
    good records around them are still available to callers that choose to skip.
    """

    def __init__(
        self, path: str | os.PathLike[str], line_numbers: Sequence[int], reason: str = ""
    ) -> None:
        self.path = os.fspath(path)
        self.line_numbers = tuple(line_numbers)
        self.reason = reason
        shown = ", ".join(str(n) for n in self.line_numbers[:10])
        more = f" and {len(self.line_numbers) - 10} more" if len(self.line_numbers) > 10 else ""
        super().__init__(
            f"{self.path}: corrupt journal record on line {shown}{more} "
            f"({reason or 'checksum, format or UTF-8 encoding does not match'}); "
            "on_corrupt='skip' (persistq: --skip-corrupt) keeps the good records around it"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.line_numbers, self.reason))


class MarkerError(PersistqError):
    """A marker file in a queue folder is not a valid persistq marker; names the file."""


class NotAMarkerFile(MarkerError):
    """A name of a marker that is not a regular file in the folder (a FIFO, a directory,
    a symlink): never opened for reading, never trusted."""


class ScheduleError(PersistqError, ValueError):
    """A schedule, or a schedule file, is invalid (bad cron field, unknown time zone,
    duplicate name, ...): the message names the schedule and the field."""


class StateError(PersistqError):
    """A scheduler's state file cannot be read: the message names the file and says
    what to do."""


class BrokerError(PersistqError):
    """Something between this process and the RabbitMQ broker went wrong; the message
    says what."""


class BrokerUnavailableError(BrokerError):
    """The broker could not be reached (or did not confirm) within ``retry_seconds``."""


class UnconfirmedError(BrokerError):
    """Messages that the broker refused (nack) or never confirmed; they may be missing."""


class DeliveryLostError(BrokerError):
    """``task_done`` came after the broker took the message back (the connection or its
    channel was lost: a host cut off, a broker restart); the message went back to the
    queue and is delivered again, maybe to another consumer: the work done here on it
    may be done again there."""


class ConsumerTimeoutError(DeliveryLostError):
    """The broker took a message back because it was not acknowledged within its
    ``consumer_timeout``; the message went back to the queue and will be delivered again."""


class QueueSettingsError(BrokerError):
    """The queue exists on the broker with other settings than this client asks for."""


class NotDeliveredError(BrokerError, ValueError):
    """``task_done`` or ``task_failed`` of a message this consumer does not hold."""

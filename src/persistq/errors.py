"""The exceptions persistq raises of its own."""

from __future__ import annotations

import os
from collections.abc import Sequence


class PersistqError(Exception):
    """Base of every error that persistq raises of its own."""


class UpstreamFailureError(PersistqError):
    """A producer upstream failed: a consumer received FAILED."""


class JournalClosedError(PersistqError):
    """An append to a journal that was closed (open a new writer to go on)."""


class JournalCorruptError(PersistqError):
    """A journal holds lines that are neither valid records nor a torn last line.

    ``path`` names the journal and ``line_numbers`` the corrupt lines (1-based); the
    good records around them are still available to callers that choose to skip.
    """

    def __init__(self, path: str | os.PathLike[str], line_numbers: Sequence[int]) -> None:
        self.path = os.fspath(path)
        self.line_numbers = tuple(line_numbers)
        shown = ", ".join(str(n) for n in self.line_numbers[:10])
        more = f" and {len(self.line_numbers) - 10} more" if len(self.line_numbers) > 10 else ""
        super().__init__(
            f"{self.path}: corrupt journal record on line {shown}{more} "
            "(checksum or format does not match)"
        )


class MessageFormatError(PersistqError, ValueError):
    """A message cannot be written to, or read back from, a journal record."""

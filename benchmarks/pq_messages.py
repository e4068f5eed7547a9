"""The messages every ``PersistentQueue`` benchmark sends: typical ETL work items."""

from __future__ import annotations

from collections.abc import Callable

Message = Callable[[int], str]
"""Makes the ``i``-th message of a trial."""


def plain(i: int) -> str:
    """A data file name, which the journal codec stores as it is."""
    return f"file_{i:06d}.csv"


def escaped(i: int) -> str:
    """A TSV-minded PyMPX message: a file name and a date joined by a tab, which the
    journal codec must escape."""
    return f"file_{i:06d}.tsv\t2026-11-01"


MESSAGES: dict[str, Message] = {"plain": plain, "escaped": escaped}

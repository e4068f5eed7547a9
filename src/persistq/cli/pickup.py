"""Reading the pickup directory of a PersistentQueue: its journals grouped by prefix,
and what was requested, completed and is still outstanding for each prefix."""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator

import attrs

from persistq.cli.progress import Progress
from persistq.errors import JournalCorruptError
from persistq.journal.naming import JournalName, parse_journal_name
from persistq.journal.reader import read_records

log = logging.getLogger(__name__)

Fields = tuple[str, ...]

_KIND_AT = re.compile(r"_(?:requested|completed)_PID")


@attrs.frozen
class Journal:
    """One journal file of a pickup directory."""

    name: str
    prefix: str
    parsed: JournalName


def split_journal_name(name: str) -> Journal | None:
    """The journal that file ``name`` is (prefix, kind, PID), or None if it is none.

    A prefix may itself hold ``_requested_PID``; the longest prefix that parses wins.
    """
    for match in reversed(list(_KIND_AT.finditer(name))):
        prefix = name[: match.start()]
        parsed = parse_journal_name(name, prefix) if prefix else None
        if parsed is not None:
            return Journal(name, prefix, parsed)
    return None


def group_journals(names: Iterable[str]) -> dict[str, list[Journal]]:
    """The journals among ``names``, by prefix (sorted), each list in reading order."""
    groups: dict[str, list[Journal]] = {}
    for name in names:
        journal = split_journal_name(name)
        if journal is not None:
            groups.setdefault(journal.prefix, []).append(journal)
    return {
        prefix: sorted(journals, key=lambda j: (j.parsed.sort_key(), j.name))
        for prefix, journals in sorted(groups.items())
    }


@attrs.frozen
class PrefixWork:
    """What the journals of one prefix say."""

    prefix: str
    journals: int
    requested: int
    completed: int
    outstanding: tuple[Fields, ...]
    writers: tuple[int, ...]
    corrupt: tuple[str, ...]


def tally(
    prefix: str,
    journals: list[Journal],
    requested: Iterable[Fields],
    completed: Iterable[Fields],
    corrupt: Iterable[str] = (),
) -> PrefixWork:
    """Count what ``requested`` and ``completed`` records say; outstanding is a multiset
    difference in requested order (as ``requeue_unprocessed_work`` computes it)."""
    done = Counter(completed)
    n_completed = sum(done.values())
    n_requested = 0
    left: list[Fields] = []
    for fields in requested:
        n_requested += 1
        if done[fields] > 0:
            done[fields] -= 1
        else:
            left.append(fields)
    writers = sorted({j.parsed.pid for j in journals if j.parsed.pid is not None})
    return PrefixWork(
        prefix,
        len(journals),
        n_requested,
        n_completed,
        tuple(left),
        tuple(writers),
        tuple(corrupt),
    )


class JournalReader:
    """Reads the journals of one pickup directory, with a progress report.

    ``skip_corrupt``: corrupt records are skipped and named in ``corrupt``; otherwise
    the first corrupt journal raises JournalCorruptError naming its lines.
    """

    def __init__(self, directory: str, *, skip_corrupt: bool, progress: Progress | None) -> None:
        self.directory = directory
        self.skip_corrupt = skip_corrupt
        self.progress = progress
        self.corrupt: list[str] = []

    def records(self, journals: Iterable[Journal]) -> Iterator[Fields]:
        """Every record of ``journals``, in order."""
        for journal in journals:
            path = os.path.join(self.directory, journal.name)
            try:
                records = read_records(path)
            except JournalCorruptError as exc:
                if not self.skip_corrupt:
                    raise
                self.corrupt.append(str(exc))
                records = read_records(path, on_corrupt="skip")
            if self.progress is not None:
                self.progress.advance(len(records))
            yield from records

    def work(self, prefix: str, journals: list[Journal]) -> PrefixWork:
        """The tally of one prefix's journals."""
        self.corrupt = []
        completed = list(self.records(j for j in journals if j.parsed.kind == "completed"))
        requested = self.records(j for j in journals if j.parsed.kind == "requested")
        return tally(prefix, journals, requested, completed, self.corrupt)


def journal_names(directory: str) -> list[str]:
    """The names of the journal files in ``directory`` (sorted)."""
    return sorted(n for n in os.listdir(directory) if split_journal_name(n) is not None)

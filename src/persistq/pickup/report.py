"""The one read model of a pickup directory: ``inspect(dir)`` says, per prefix, who
wrote which journals and whether they still run, how much was requested and completed,
which work is outstanding, and where compaction and recovery stand.

The library's recovery and every ``persistq`` command that looks at a pickup
directory use this and nothing else, so they cannot disagree.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator, Sequence

import attrs

from persistq.errors import JournalCorruptError, NotRegularFileError, PersistqError
from persistq.journal.codec import decode_payloads
from persistq.journal.naming import replay_lock_name
from persistq.journal.opening import in_use
from persistq.journal.reader import OnCorrupt, iter_payload_blocks
from persistq.outstanding import outstanding
from persistq.pickup import layout
from persistq.processes import Liveness, start_epoch, token_liveness, writer_token

log = logging.getLogger(__name__)

Fields = tuple[str, ...]


@attrs.frozen
class Writer:
    """One process that wrote journals here, and whether it still runs (see
    :func:`writer_liveness`)."""

    pid: int
    token: str | None
    liveness: Liveness
    journals: tuple[str, ...]


@attrs.frozen
class PrefixReport:
    """What one prefix's files in a pickup directory say.

    ``outstanding`` holds the payloads (``codec.encode_payload``) of the work requested
    and not completed, in order, duplicates counted, including ``inherited`` records of
    the run named by ``recovering_from`` when this run died before journalling them.
    """

    directory: str
    prefix: str
    journals: tuple[str, ...]
    requested: int
    completed: int
    outstanding: tuple[bytes, ...]
    writers: tuple[Writer, ...]
    corrupt: tuple[str, ...]
    compaction: layout.Compaction | None
    recovering_from: str | None
    inherited: int
    recovered_by: str | None
    temporaries: tuple[str, ...]

    def outstanding_fields(self) -> list[Fields]:
        """The fields of each outstanding record, in order."""
        return decode_payloads(self.outstanding)

    def writers_that(self, liveness: Liveness) -> list[Writer]:
        """The writers whose liveness is ``liveness``, other than this very process."""
        me = (os.getpid(), writer_token())
        return [w for w in self.writers if w.liveness == liveness and (w.pid, w.token) != me]

    def files(self) -> list[str]:
        """Every file of this prefix in the directory (journals, superseded ones,
        pointers, compaction record, temporaries)."""
        names = [*self.journals, *self.temporaries, replay_lock_name(self.prefix)]
        if self.compaction is not None:
            names += [self.compaction.temporary, *self.compaction.superseded]
            names.append(layout.compaction_file_name(self.prefix))
        if self.recovering_from is not None:
            names.append(layout.pointer_file_name(self.prefix))
        if self.recovered_by is not None:
            names.append(layout.recovered_by_file_name(self.prefix))
        return sorted({n for n in names if os.path.lexists(os.path.join(self.directory, n))})


@attrs.frozen
class PickupReport:
    """What a pickup directory holds, per prefix (sorted)."""

    directory: str
    prefixes: tuple[PrefixReport, ...]

    def prefix(self, name: str) -> PrefixReport:
        """The report of prefix ``name`` (empty when the directory holds none of it)."""
        for report in self.prefixes:
            if report.prefix == name:
                return report
        return _inspect_prefix(self.directory, name, [], _Reading("raise"), frozenset())


def inspect(
    directory: str | os.PathLike[str],
    prefix: str | None = None,
    *,
    on_corrupt: OnCorrupt = "raise",
    progress: Callable[[int], object] | None = None,
) -> PickupReport:
    """Read pickup directory ``directory`` (every prefix, or only ``prefix``).

    ``on_corrupt="raise"``: a corrupt journal raises JournalCorruptError naming its
    lines (a file that is not regular: NotRegularFileError); ``"skip"``: its good
    records count, and the problem is named in ``corrupt``. ``progress`` is called
    with the number of records of each block read.
    """
    path = os.path.abspath(directory)
    names = os.listdir(path)
    wanted = layout.prefixes(names) if prefix is None else [prefix]
    reading = _Reading(on_corrupt, progress)
    reports = tuple(_inspect_prefix(path, p, names, reading, frozenset()) for p in wanted)
    return PickupReport(path, reports)


@attrs.frozen
class _Reading:
    on_corrupt: OnCorrupt
    progress: Callable[[int], object] | None = None


def _inspect_prefix(
    directory: str, prefix: str, names: list[str], reading: _Reading, seen: frozenset[str]
) -> PrefixReport:
    compaction = layout.read_compaction(directory, prefix)
    journals = layout.journal_files(names, prefix, compaction)
    corrupt: list[str] = []
    counts = {"requested": 0, "completed": 0}
    completed = _payloads(
        directory, layout.of_kind(journals, "completed"), reading, corrupt, counts, "completed"
    )
    requested = _payloads(
        directory, layout.of_kind(journals, "requested"), reading, corrupt, counts, "requested"
    )
    pointer = os.path.join(directory, layout.pointer_file_name(prefix))
    previous = layout.read_directory_field(pointer, "recovery pointer", "previous_pickup_dir")
    inherited: tuple[bytes, ...] = ()
    journalled = any(j.parsed.requeued for j in journals)
    seen = seen | {directory}
    if previous is not None and not journalled and os.path.abspath(previous) not in seen:
        if not os.path.isdir(previous):
            raise PersistqError(
                f"{pointer}: this run died while recovering {previous!r}, which no longer "
                "exists; its outstanding work cannot be found"
            )
        older = _inspect_prefix(
            os.path.abspath(previous), prefix, os.listdir(previous), reading, seen
        )
        inherited = older.outstanding
        corrupt += older.corrupt
    left = tuple(outstanding(itertools.chain(inherited, requested), completed))
    recovered_by = layout.read_directory_field(
        os.path.join(directory, layout.recovered_by_file_name(prefix)),
        "recovered-by record",
        "pickup_dir",
    )
    return PrefixReport(
        directory,
        prefix,
        tuple(j.name for j in journals),
        counts["requested"],
        counts["completed"],
        left,
        _writers(directory, journals),
        tuple(corrupt),
        compaction,
        previous,
        len(inherited),
        recovered_by,
        tuple(layout.temporaries(names, prefix, compaction)),
    )


def _payloads(
    directory: str,
    journals: Sequence[layout.JournalFile],
    reading: _Reading,
    corrupt: list[str],
    counts: dict[str, int],
    kind: str,
) -> Iterator[bytes]:
    """The payloads of ``journals`` in order, counted into ``counts[kind]``; problems of
    skipped journals are added to ``corrupt`` (``reading.on_corrupt == "skip"``)."""

    def blocks() -> Iterator[list[bytes]]:
        for journal in journals:
            path = os.path.join(directory, journal.name)
            skipped: list[int] = []
            try:
                for block in iter_payload_blocks(
                    path, on_corrupt=reading.on_corrupt, skipped=skipped
                ):
                    counts[kind] += len(block)
                    if reading.progress is not None:
                        reading.progress(len(block))
                    yield block
            except FileNotFoundError:
                continue  # removed meanwhile by a compaction finishing
            except NotRegularFileError as exc:
                if reading.on_corrupt == "raise":
                    raise
                corrupt.append(str(exc))
                log.warning("skipping: %s", exc)
            if skipped:
                corrupt.append(str(JournalCorruptError(path, skipped)))

    return itertools.chain.from_iterable(blocks())  # flattened in C, not a yield per record


def writer_liveness(directory: str, pid: int, token: str | None, names: Sequence[str]) -> Liveness:
    """Whether the writer of journals ``names`` still runs: ``alive`` while it holds one
    open (its lock, seen from any PID namespace) or its PID runs here; ``dead`` when
    neither (for a writer of another host or namespace: none of its journals is open);
    ``unknown`` when neither can be told. A PyMPX journal (no token, no lock) whose PID
    now belongs to a process started after the journal was last written is dead: the
    PID was reused."""
    paths = [os.path.join(directory, name) for name in names]
    locks = [in_use(path) for path in paths]
    if any(locks):
        return "alive"
    liveness = token_liveness(pid, token)
    if liveness == "unknown" and locks and all(lock is False for lock in locks):
        return "dead"
    if liveness == "alive" and token is None and _started_after(pid, paths):
        return "dead"
    return liveness


def _started_after(pid: int, paths: Sequence[str]) -> bool:
    started = start_epoch(pid)
    if started is None:
        return False
    written = [os.stat(path).st_mtime for path in paths if os.path.lexists(path)]
    return bool(written) and started > max(written) + 1.0  # a second for clock rounding


def _writers(directory: str, journals: Sequence[layout.JournalFile]) -> tuple[Writer, ...]:
    by_writer: dict[tuple[int, str | None], list[str]] = {}
    for journal in journals:
        if journal.parsed.pid is not None:
            key = (journal.parsed.pid, journal.parsed.token)
            by_writer.setdefault(key, []).append(journal.name)
    return tuple(
        Writer(pid, token, writer_liveness(directory, pid, token, names), tuple(names))
        for (pid, token), names in sorted(
            by_writer.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        )
    )


def requested_payloads(
    directory: str, prefix: str, *, on_corrupt: OnCorrupt = "raise"
) -> Iterator[bytes]:
    """Every requested record of ``prefix`` in ``directory``, in reading order (what a
    ``use_queue=False`` consumer replays)."""
    names = os.listdir(directory)
    journals = layout.journal_files(names, prefix, layout.read_compaction(directory, prefix))
    counts = {"requested": 0}
    return _payloads(
        directory,
        layout.of_kind(journals, "requested"),
        _Reading(on_corrupt),
        [],
        counts,
        "requested",
    )

"""Compaction: a prefix's journals rewritten as one journal of the work they leave
outstanding, so that recovering in place costs what is outstanding, not what was ever
done.

The protocol: write the new journal whole under a ``.part`` name; commit by writing
``<prefix>_compaction.json`` (atomically) naming it and the journals it supersedes;
then link it in, remove the ``.part`` and the superseded journals, and remove the
record. Readers (``report.inspect``) honour a committed record at once, so every crash
point leaves the same outstanding work, and the next ``compact`` finishes the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence

from persistq.durability import Durability, fsync_directory
from persistq.errors import LiveRunError
from persistq.folder.files import write_json
from persistq.folder.owner import Liveness, current_owner, judge
from persistq.folder.tempnames import temp_owner
from persistq.journal.codec import frame_payload
from persistq.journal.naming import journal_file_name, parse_journal_name
from persistq.journal.opening import hold_shared, open_regular
from persistq.journal.reader import OnCorrupt
from persistq.journal.writer import JournalWriter
from persistq.pickup import layout
from persistq.pickup.report import PrefixReport, inspect, writer_liveness
from persistq.processes import writer_token

log = logging.getLogger(__name__)


def refuse_live_writers(report: PrefixReport, action: str) -> None:
    """Raise LiveRunError naming a journal of ``report`` whose persistq writer may still
    run (its journal held open, from any PID namespace, or its PID running here). A PyMPX
    journal names only a PID, which may belong to anyone by now: a live one is logged."""
    for writer in report.writers_that("alive"):
        path = os.path.join(report.directory, writer.journals[0])
        if writer.token is None:
            log.warning("%s: PyMPX journal of PID %d, which runs now; going on", path, writer.pid)
            continue
        raise LiveRunError(path, writer.pid, action)
    for writer in report.writers_that("unknown"):
        log.warning(
            "%s: cannot tell whether process %d (%s) still runs; going on",
            report.directory,
            writer.pid,
            writer.journals[0],
        )


def requeued_name(directory: str, prefix: str) -> str:
    """A free name for this process's journal of requeued work in ``directory``."""
    name = journal_file_name(prefix, "requested", os.getpid(), token=writer_token(), requeued=True)
    return layout.free_name(directory, name)


def write_whole(path: str, payloads: Sequence[bytes], durability: Durability) -> int:
    """Write a journal of ``payloads`` at new file ``path`` (as durable as asked); return
    a descriptor that holds its lock (see ``opening.in_use``) until the caller has
    published the file and closes it, so no other start takes it for a dead run's."""
    writer = JournalWriter(path, durability)
    held = -1
    try:
        writer.append_lines([frame_payload(payload) for payload in payloads])
        held = open_regular(path, os.O_RDONLY)
        hold_shared(held)  # taken before the writer lets go of its own
    except BaseException:
        if held >= 0:
            os.close(held)
        raise
    finally:
        writer.close()
    return held


def remove_temporaries(directory: str, prefix: str, durability: Durability) -> list[str]:
    """Remove the temporaries of ``prefix`` that killed compactions, requeues or
    recoveries left in ``directory`` (not those of a writer that may still run); return
    them."""
    names = os.listdir(directory)
    removed = []
    for name in layout.temporaries(names, prefix, layout.read_compaction(directory, prefix)):
        if not _left_by_the_dead(directory, prefix, name):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
            removed.append(name)
            log.info("%s: removed %s, left by a killed compaction or requeue", directory, name)
    if removed and durability == "fsync":
        fsync_directory(directory)
    return removed


def _left_by_the_dead(directory: str, prefix: str, name: str) -> bool:
    """Whether the writer of temporary ``name`` is known to be gone."""
    owner = temp_owner(name)
    if owner is not None:
        return owner != current_owner() and judge(owner) is Liveness.DEAD
    parsed = parse_journal_name(name[: -len(layout.PART)], prefix)
    if parsed is None or parsed.pid is None or parsed.pid == os.getpid():
        return False
    return writer_liveness(directory, parsed.pid, parsed.token, [name]) == "dead"


def compact(
    directory: str | os.PathLike[str],
    prefix: str,
    *,
    durability: Durability = "flush",
    on_corrupt: OnCorrupt = "raise",
) -> str | None:
    """Rewrite the journals of ``prefix`` in ``directory`` as one journal of the work
    they leave outstanding; return its path (None when there were no journals).

    Crash-safe at every step (see the module). Refuses with LiveRunError naming the
    journal while a process that wrote one may still run."""
    path, _ = compact_report(os.path.abspath(directory), prefix, durability, on_corrupt)
    return path


def compact_report(
    directory: str, prefix: str, durability: Durability, on_corrupt: OnCorrupt
) -> tuple[str | None, PrefixReport]:
    """:func:`compact`, also returning the report of the journals it compacted."""
    finish(directory, prefix, durability)
    remove_temporaries(directory, prefix, durability)
    report = inspect(directory, prefix, on_corrupt=on_corrupt).prefix(prefix)
    if not report.journals:
        return None, report
    refuse_live_writers(report, "compact its journals")
    name = requeued_name(directory, prefix)
    temporary = name + layout.PART
    held = write_whole(os.path.join(directory, temporary), report.outstanding, durability)
    try:
        write_json(
            os.path.join(directory, layout.compaction_file_name(prefix)),
            {"journal": name, "temporary": temporary, "superseded": sorted(report.journals)},
            durability,
        )
        finish(directory, prefix, durability)
    finally:
        os.close(held)
    log.info(
        "%s: compacted %d journals of %r into %s", directory, len(report.journals), prefix, name
    )
    return os.path.join(directory, name), report


def finish(directory: str, prefix: str, durability: Durability) -> None:
    """Carry a committed compaction through: link its journal, drop what it supersedes."""
    intent = layout.read_compaction(directory, prefix)
    if intent is None:
        return
    journal = os.path.join(directory, intent.journal)
    if not os.path.lexists(journal):
        os.link(os.path.join(directory, intent.temporary), journal)
    for name in [intent.temporary, *intent.superseded]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
    if durability == "fsync":
        fsync_directory(directory)
    os.unlink(os.path.join(directory, layout.compaction_file_name(prefix)))
    if durability == "fsync":
        fsync_directory(directory)

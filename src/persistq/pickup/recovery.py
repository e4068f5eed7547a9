"""Recovery: the work a previous run left outstanding, journalled again in this run.

A run that recovers another directory writes ``<prefix>_recovering_from.json`` as soon
as it starts, and ``<prefix>_requested_PID<pid>_<writer>_requeued.tsv`` (whole, then
linked in) once its requeued work is journalled; then ``<prefix>_recovered_by.json`` in
the recovered directory, so that ``persistq status`` there knows its work moved on. A
run that dies before journalling the work leaves the pointer, through which the next
run (and ``inspect``) still finds it. Recovering in place compacts instead.
"""

from __future__ import annotations

import logging
import os

from persistq.durability import Durability, fsync_directory, make_directory
from persistq.errors import PersistqError
from persistq.folder.files import write_json
from persistq.journal.naming import journal_file_name
from persistq.journal.reader import OnCorrupt
from persistq.pickup import compaction, layout
from persistq.pickup.report import inspect
from persistq.processes import writer_token

log = logging.getLogger(__name__)


def write_pointer(directory: str, prefix: str, previous: str, durability: Durability) -> None:
    """Record in ``directory`` that this run recovers ``previous`` (atomically)."""
    write_json(
        os.path.join(directory, layout.pointer_file_name(prefix)),
        {"previous_pickup_dir": os.path.abspath(previous)},
        durability,
    )


def publish_journal(
    directory: str, name: str, payloads: list[bytes], durability: Durability
) -> str:
    """Journal ``payloads`` as new journal ``name`` in ``directory``, all or nothing;
    return its path. Written whole under a ``.part`` name and then linked in (never
    over another file), so a crash leaves either every record journalled or none."""
    temporary = os.path.join(directory, name + layout.PART)
    held = compaction.write_whole(temporary, payloads, durability)
    try:
        os.link(temporary, os.path.join(directory, name))
        os.unlink(temporary)
    finally:
        os.close(held)
    if durability == "fsync":
        fsync_directory(directory)
    return os.path.join(directory, name)


def publish_requeued(
    directory: str, prefix: str, payloads: list[bytes], durability: Durability
) -> str:
    """Journal ``payloads`` as this process's requeued work (see :func:`publish_journal`)."""
    return publish_journal(
        directory, compaction.requeued_name(directory, prefix), payloads, durability
    )


def mark_completed(
    directory: str, prefix: str, payloads: list[bytes], durability: Durability
) -> str:
    """Journal ``payloads`` as completed by this process, all or nothing (``persistq
    reset``: the work is forgotten; deleting the returned journal undoes it)."""
    name = journal_file_name(prefix, "completed", os.getpid(), token=writer_token())
    return publish_journal(directory, layout.free_name(directory, name, "_"), payloads, durability)


def _mark_recovered(previous: str, prefix: str, current: str, durability: Durability) -> None:
    path = os.path.join(previous, layout.recovered_by_file_name(prefix))
    try:
        write_json(path, {"pickup_dir": os.path.abspath(current)}, durability)
    except OSError as exc:  # a read-only archive: status there will not know, nothing lost
        log.warning("%s: could not record that %s recovered it: %s", previous, current, exc)


def outstanding_payloads(previous: str, prefix: str, on_corrupt: OnCorrupt) -> list[bytes]:
    """What ``previous`` leaves outstanding for ``prefix``, nothing changed."""
    return list(inspect(previous, prefix, on_corrupt=on_corrupt).prefix(prefix).outstanding)


def check_previous(previous: str | None) -> str | None:
    """``previous`` if it is None or a directory; PersistqError naming it otherwise."""
    if previous is not None and not os.path.isdir(previous):
        raise PersistqError(
            f"previous_pickup_dir {previous!r} does not exist or is not a directory; pass "
            "None when there is no previous run to recover"
        )
    return previous


def requeue(
    previous: str,
    current: str | None,
    prefix: str,
    durability: Durability,
    on_corrupt: OnCorrupt,
    *,
    journalled_here: bool,
) -> list[bytes]:
    """Return the payloads that ``previous`` leaves outstanding, journalled again in
    ``current`` (compacted when it is ``previous``: only before this run journalled
    anything there). Refuses (LiveRunError naming the run) while a process that wrote
    ``previous`` may still run."""
    if current is not None and os.path.samefile(previous, current):
        if journalled_here:
            raise PersistqError(
                f"{current}: previous_pickup_dir is current_pickup_dir; call "
                "requeue_unprocessed_work before any put or task_done of this run"
            )
        _, report = compaction.compact_report(
            os.path.abspath(current), prefix, durability, on_corrupt
        )
        return list(report.outstanding)
    if prefix not in layout.prefixes(os.listdir(previous)):
        log.warning(
            "%s holds no journal or recovery pointer of prefix %r: nothing to requeue. If "
            "it is the pickup directory of a run killed while it started (before it wrote "
            "anything of its own), that run's work is still in its previous_pickup_dir: "
            "recover from that one instead",
            previous,
            prefix,
        )
    report = inspect(previous, prefix, on_corrupt=on_corrupt).prefix(prefix)
    compaction.refuse_live_writers(report, "requeue its work")
    if report.recovered_by is not None:
        log.warning(
            "%s: already recovered by %s; requeuing its work again", previous, report.recovered_by
        )
    payloads = list(report.outstanding)
    if current is not None:
        publish_requeued(current, prefix, payloads, durability)
        _mark_recovered(previous, prefix, current, durability)
    return payloads


def start(directory: str, prefix: str, previous: str | None, durability: Durability) -> None:
    """Prepare ``directory`` for a run: create it (and its parents) if missing, remove
    what killed compactions or requeues left, and point at ``previous`` when this run
    will recover it."""
    make_directory(directory, durability)
    compaction.remove_temporaries(directory, prefix, durability)
    if previous is not None and not os.path.samefile(previous, directory):
        write_pointer(directory, prefix, previous, durability)

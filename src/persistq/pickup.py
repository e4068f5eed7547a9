"""Pickup directories: the journals one run leaves, and the work they leave outstanding.

A run writes, per process, ``<prefix>_requested_PID<pid>.tsv`` and
``<prefix>_completed_PID<pid>.tsv``. A recovering run also writes
``<prefix>_recovering_from.json`` (naming the pickup directory it recovers) as soon as
it starts, and ``<prefix>_requested_PID<pid>_requeued.tsv`` once its requeued work is
journalled. So if a recovering run dies before it journals the requeued work, the
next run still finds that work through the pointer: nothing is lost to a crash
during recovery.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
from collections.abc import Iterable, Iterator

from persistq.durability import Durability, fsync_directory
from persistq.errors import PersistqError
from persistq.journal.codec import decode_payload
from persistq.journal.naming import Kind, journal_file_name, parse_journal_name
from persistq.journal.reader import OnCorrupt, iter_payload_blocks, iter_records
from persistq.journal.writer import JournalWriter
from persistq.outstanding import outstanding

log = logging.getLogger(__name__)

Fields = tuple[str, ...]


def pointer_file_name(prefix: str) -> str:
    """Name of the file in which a recovering run names the directory it recovers."""
    return f"{prefix}_recovering_from.json"


def journal_paths(directory: str, prefix: str, kind: Kind) -> list[str]:
    """The ``kind`` journals of ``prefix`` in ``directory``: requeued work first, then by PID."""
    found = []
    for name in os.listdir(directory):
        parsed = parse_journal_name(name, prefix)
        if parsed is not None and parsed.kind == kind:
            found.append((parsed.sort_key(), name))
    return [os.path.join(directory, name) for _, name in sorted(found)]


def read_fields(
    directory: str, prefix: str, kind: Kind, on_corrupt: OnCorrupt = "raise"
) -> Iterator[Fields]:
    """Every record of the ``kind`` journals of ``prefix`` in ``directory``, in order."""
    for path in journal_paths(directory, prefix, kind):
        yield from iter_records(path, on_corrupt=on_corrupt)


def outstanding_fields(
    directory: str, prefix: str, on_corrupt: OnCorrupt = "raise"
) -> Iterator[Fields]:
    """Records requested and not completed in ``directory`` (a multiset, in order),
    including work inherited from a run it recovered that never journalled it again."""
    payloads = _outstanding(os.path.abspath(directory), prefix, on_corrupt, frozenset())
    return map(decode_payload, payloads)


def _payloads(directory: str, prefix: str, kind: Kind, on_corrupt: OnCorrupt) -> Iterator[bytes]:
    for path in journal_paths(directory, prefix, kind):
        yield from itertools.chain.from_iterable(iter_payload_blocks(path, on_corrupt=on_corrupt))


def _outstanding(
    directory: str, prefix: str, on_corrupt: OnCorrupt, seen: frozenset[str]
) -> Iterator[bytes]:
    if not journal_paths(directory, prefix, "requested") and not os.path.exists(
        os.path.join(directory, pointer_file_name(prefix))
    ):
        log.warning(
            "%s: no journals of prefix %r here: nothing to recover from this directory",
            directory,
            prefix,
        )
    completed = _payloads(directory, prefix, "completed", on_corrupt)
    requested: Iterable[bytes] = _payloads(directory, prefix, "requested", on_corrupt)
    inherited = _unjournalled_predecessor(directory, prefix)
    if inherited is not None and inherited not in seen:
        older = _outstanding(inherited, prefix, on_corrupt, seen | {directory})
        requested = _chain(older, requested)
    return outstanding(requested, completed)


def _chain(first: Iterable[bytes], second: Iterable[bytes]) -> Iterator[bytes]:
    yield from first
    yield from second


def _unjournalled_predecessor(directory: str, prefix: str) -> str | None:
    """The directory this run was recovering, if it died before journalling that work."""
    pointer = os.path.join(directory, pointer_file_name(prefix))
    try:
        with open(pointer, encoding="utf-8") as f:
            data = json.load(f)
        previous = data["previous_pickup_dir"]
        if not isinstance(previous, str):
            raise TypeError("previous_pickup_dir is not a string")
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise PersistqError(f"{pointer}: corrupt recovery pointer: {exc}") from exc
    for path in journal_paths(directory, prefix, "requested"):
        parsed = parse_journal_name(os.path.basename(path), prefix)
        if parsed is not None and parsed.requeued:
            return None
    if not os.path.isdir(previous):
        raise PersistqError(
            f"{pointer}: this run died while recovering {previous!r}, which no longer "
            "exists; its outstanding work cannot be found"
        )
    return os.path.abspath(previous)


def write_pointer(directory: str, prefix: str, previous: str, durability: Durability) -> None:
    """Record in ``directory`` that this run recovers ``previous`` (atomically)."""
    final = os.path.join(directory, pointer_file_name(prefix))
    temporary = f"{final}.{os.getpid()}.part"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump({"previous_pickup_dir": os.path.abspath(previous)}, f)
        f.flush()
        if durability == "fsync":
            os.fsync(f.fileno())
    os.replace(temporary, final)
    if durability == "fsync":
        fsync_directory(directory)


def publish_requeued(
    directory: str, prefix: str, records: list[Fields], durability: Durability
) -> str:
    """Journal ``records`` as this process's requeued work, all or nothing; return the path.

    Written whole under a temporary name and then linked in (never over another
    file), so a crash leaves either every requeued record journalled or none.
    """
    name = journal_file_name(prefix, "requested", os.getpid(), requeued=True)
    temporary = os.path.join(directory, name + ".part")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)  # left by a crash during an earlier requeue
    writer = JournalWriter(temporary, durability)
    try:
        writer.append_many(records)
    finally:
        writer.close()
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while True:
        try:
            os.link(temporary, os.path.join(directory, candidate))
            break
        except FileExistsError:
            n += 1
            candidate = f"{stem}{n}{ext}"
    os.unlink(temporary)
    if durability == "fsync":
        fsync_directory(directory)
    return os.path.join(directory, candidate)

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
from typing import Any

import attrs

from persistq.durability import Durability, fsync_directory
from persistq.errors import PersistqError
from persistq.journal.codec import decode_payloads, encode_payload, frame_payload
from persistq.journal.naming import Kind, journal_file_name, parse_journal_name
from persistq.journal.reader import OnCorrupt, iter_payload_blocks, iter_records
from persistq.journal.writer import JournalWriter
from persistq.outstanding import outstanding
from persistq.processes import pid_alive

log = logging.getLogger(__name__)

Fields = tuple[str, ...]


def pointer_file_name(prefix: str) -> str:
    """Name of the file in which a recovering run names the directory it recovers."""
    return f"{prefix}_recovering_from.json"


def journal_paths(directory: str, prefix: str, kind: Kind) -> list[str]:
    """The ``kind`` journals of ``prefix`` in ``directory``: requeued work first, then by PID.

    Journals that a committed compaction supersedes are left out, even before the
    compaction has removed them."""
    intent = _read_compaction(directory, prefix)
    names = os.listdir(directory)
    found = []
    for name in names:
        parsed = parse_journal_name(name, prefix)
        superseded = intent is not None and name in intent.superseded
        if parsed is not None and parsed.kind == kind and not superseded:
            found.append((parsed.sort_key(), name))
    if intent is not None and kind == "requested" and intent.journal not in names:
        found.append(((-1, -1), intent.temporary))  # committed, not yet linked
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
    chunks = iter(lambda: list(itertools.islice(payloads, 1 << 16)), [])
    return itertools.chain.from_iterable(map(decode_payloads, chunks))


def _payloads(directory: str, prefix: str, kind: Kind, on_corrupt: OnCorrupt) -> Iterator[bytes]:
    blocks = (
        block
        for path in journal_paths(directory, prefix, kind)
        for block in iter_payload_blocks(path, on_corrupt=on_corrupt)
    )
    return itertools.chain.from_iterable(blocks)  # flattened in C, not a yield per record


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
    data = _read_json(pointer, "recovery pointer")
    if data is None:
        return None
    previous = data.get("previous_pickup_dir")
    if not isinstance(previous, str):
        raise PersistqError(f"{pointer}: corrupt recovery pointer: no previous_pickup_dir")
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


def _read_json(path: str, what: str) -> dict[str, Any] | None:
    """The JSON object at ``path``, None if there is no file; PersistqError if corrupt."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PersistqError(f"{path}: corrupt {what}: {exc}") from exc
    if not isinstance(data, dict):
        raise PersistqError(f"{path}: corrupt {what}: not a JSON object")
    return data


def _write_json(path: str, data: dict[str, Any], durability: Durability) -> None:
    """Write ``data`` to ``path`` atomically (temporary name, then rename)."""
    temporary = f"{path}.{os.getpid()}.part"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        if durability == "fsync":
            os.fsync(f.fileno())
    os.replace(temporary, path)
    if durability == "fsync":
        fsync_directory(os.path.dirname(path))


def write_pointer(directory: str, prefix: str, previous: str, durability: Durability) -> None:
    """Record in ``directory`` that this run recovers ``previous`` (atomically)."""
    _write_json(
        os.path.join(directory, pointer_file_name(prefix)),
        {"previous_pickup_dir": os.path.abspath(previous)},
        durability,
    )


def publish_requeued(
    directory: str, prefix: str, records: list[Fields], durability: Durability
) -> str:
    """Journal ``records`` as this process's requeued work, all or nothing; return the path.

    Written whole under a temporary name and then linked in (never over another
    file), so a crash leaves either every requeued record journalled or none.
    """
    name = _free_requeued_name(directory, prefix)
    temporary = os.path.join(directory, name + ".part")
    _write_temporary(temporary, [encode_payload(fields) for fields in records], durability)
    os.link(temporary, os.path.join(directory, name))
    os.unlink(temporary)
    if durability == "fsync":
        fsync_directory(directory)
    return os.path.join(directory, name)


def _free_requeued_name(directory: str, prefix: str) -> str:
    name = journal_file_name(prefix, "requested", os.getpid(), requeued=True)
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while os.path.lexists(os.path.join(directory, candidate)):
        n += 1
        candidate = f"{stem}{n}{ext}"
    return candidate


def _write_temporary(path: str, payloads: list[bytes], durability: Durability) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # left by a crash during an earlier attempt
    writer = JournalWriter(path, durability)
    try:
        writer.append_lines([frame_payload(payload) for payload in payloads])
    finally:
        writer.close()


# -- compaction -------------------------------------------------------------------


def compaction_file_name(prefix: str) -> str:
    """Name of the file that commits a compaction of ``prefix``'s journals."""
    return f"{prefix}_compaction.json"


@attrs.frozen
class _Compaction:
    journal: str
    temporary: str
    superseded: frozenset[str]


def _read_compaction(directory: str, prefix: str) -> _Compaction | None:
    path = os.path.join(directory, compaction_file_name(prefix))
    data = _read_json(path, "compaction record")
    if data is None:
        return None
    journal, temporary, superseded = (data.get(k) for k in ("journal", "temporary", "superseded"))
    names = [journal, temporary, *(superseded if isinstance(superseded, list) else [None])]
    if not all(isinstance(n, str) and n == os.path.basename(n) and n != ".." for n in names):
        raise PersistqError(f"{path}: corrupt compaction record: bad file names {names!r}")
    return _Compaction(str(journal), str(temporary), frozenset(str(n) for n in names[2:]))


def compact(
    directory: str | os.PathLike[str],
    prefix: str,
    *,
    durability: Durability = "flush",
    on_corrupt: OnCorrupt = "raise",
) -> str | None:
    """Rewrite the journals of ``prefix`` in ``directory`` as one journal of the work
    they leave outstanding, so that recovering from it costs what is outstanding, not
    what was ever done. Returns the new journal's path (None when there were none).

    Crash-safe: until the compaction commits, the old journals stand; after, the new
    one does, and an interrupted compaction is finished by the next ``compact`` or
    ignored by readers. Refuses (PersistqError naming the file) while a process whose
    PID a journal carries is alive: nothing may write to the journals meanwhile.
    """
    directory = os.path.abspath(directory)
    _finish_compaction(directory, prefix, durability)
    old = journal_paths(directory, prefix, "requested") + journal_paths(
        directory, prefix, "completed"
    )
    if not old:
        return None
    for path in old:
        pid = parse_journal_name(os.path.basename(path), prefix)
        if pid is not None and pid.pid not in (None, os.getpid()) and pid_alive(pid.pid):
            raise PersistqError(
                f"{path}: process {pid.pid} may still be writing this journal; compact "
                "only when the run that wrote it has ended"
            )
    payloads = list(_outstanding(directory, prefix, on_corrupt, frozenset()))
    name = _free_requeued_name(directory, prefix)
    temporary = name + ".part"
    _write_temporary(os.path.join(directory, temporary), payloads, durability)
    superseded = sorted(os.path.basename(p) for p in old)
    _write_json(
        os.path.join(directory, compaction_file_name(prefix)),
        {"journal": name, "temporary": temporary, "superseded": superseded},
        durability,
    )
    _finish_compaction(directory, prefix, durability)
    log.info("%s: compacted %d journals of %r into %s", directory, len(old), prefix, name)
    return os.path.join(directory, name)


def _finish_compaction(directory: str, prefix: str, durability: Durability) -> None:
    """Carry a committed compaction through: link its journal, drop what it supersedes."""
    intent = _read_compaction(directory, prefix)
    if intent is None:
        return
    temporary = os.path.join(directory, intent.temporary)
    journal = os.path.join(directory, intent.journal)
    if not os.path.exists(journal):
        os.link(temporary, journal)
    for name in [intent.temporary, *intent.superseded]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
    if durability == "fsync":
        fsync_directory(directory)
    os.unlink(os.path.join(directory, compaction_file_name(prefix)))
    if durability == "fsync":
        fsync_directory(directory)

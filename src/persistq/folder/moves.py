"""Moves across file systems that a restart can finish.

A rename cannot cross file systems, so such a move is a copy to a temporary name beside
the destination, a publish (rename) of that copy, then an unlink of the source. A kill
between the publish and the unlink would leave the file in both places (done and still
claimed, or queued and still in the producer's folder), so each move keeps a *record*
(``.<unique>@<owner>.pqmove``, written atomically) in the queue folder:

1. the record, state ``copying``: the source, its identity, the temporary file;
2. the copy into the temporary file (fsynced unless ``durability="none"``);
3. the record again, state ``ready``: the copy is complete;
4. the publish of the temporary file under its final name (never replacing one);
5. the unlink of the source, then of the record.

:func:`finish_moves` -- run by a producer when it is made, by a reader at its first
``get`` and before DONE, and by the repairs -- takes up each record whose owner is dead
(see :func:`decide`): a move that had not published is rolled back (its copy removed;
the source stays where it was), one that had is finished (the source removed). Either
way the file is in exactly one place.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from persistq.durability import Durability
from persistq.folder.files import publish, remove_quietly, sync_dirs, temporary, write_json
from persistq.folder.names import UNIQUE_LEN, Owner
from persistq.folder.owner import current_owner, is_alive, is_local
from persistq.folder.tempnames import move_record_name, move_record_owner, temp_name, temp_owner

log = logging.getLogger(__name__)

FORMAT = "persistq.folder.move/1"
COPYING = "copying"
READY = "ready"


class Step(enum.Enum):
    """What a restart does with the record of a move whose owner died."""

    ROLL_BACK = "roll back"
    """Not published: remove the copy; the source stays."""
    FINISH = "finish"
    """Published: remove the source (and the copy's second name after a link)."""


def decide(state: str, copy_links: int | None) -> Step:
    """The step for a dead owner's record in ``state`` whose temporary copy has
    ``copy_links`` names (None: it is gone).

    The copy is published only once the record says ``ready``; publishing renames it
    away (or, without renameat2, links it and then unlinks the temporary name). So a
    ``ready`` copy that is gone, or has a second name, was published.
    """
    if state == READY and (copy_links is None or copy_links > 1):
        return Step.FINISH
    return Step.ROLL_BACK


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def move_across(
    src: str, destinations: Iterable[str], *, record_dir: str, durability: Durability
) -> str:
    """Move regular file ``src`` to the first free name of ``destinations`` (all in one
    directory, on another file system) with a record in ``record_dir``; return the name.

    FileExistsError (naming the last name tried) once every destination is taken; on any
    error ``src`` is untouched and neither the copy nor the record is left behind.
    """
    src = os.path.abspath(src)
    names = iter(destinations)
    dst = os.path.abspath(next(names))
    dst_dir = os.path.dirname(dst)
    owner = current_owner()
    unique = uuid.uuid4().hex[:UNIQUE_LEN]
    tmp = os.path.join(dst_dir, temp_name(os.path.basename(dst), owner, unique))
    record = os.path.join(record_dir, move_record_name(owner, unique))
    st = os.stat(src)
    intent = {"format": FORMAT, "state": COPYING, "src": src, "tmp": tmp, "src_id": _identity(st)}
    write_json(record, intent, durability)
    with temporary(record, dst), temporary(tmp, dst):
        copy_file(src, tmp, st, durability)
        write_json(record, {**intent, "state": READY}, durability)
        dst = _publish_first_free(tmp, dst, names)
    sync_dirs(durability, dst_dir)
    os.unlink(src)
    sync_dirs(durability, os.path.dirname(src))
    os.unlink(record)
    sync_dirs(durability, record_dir)
    return dst


def _publish_first_free(tmp: str, dst: str, others: Iterator[str]) -> str:
    while True:
        try:
            publish(tmp, dst)
            return dst
        except FileExistsError:
            following = next(others, None)
            if following is None:
                raise
            dst = following


def copy_file(src: str, tmp: str, st: os.stat_result, durability: Durability) -> None:
    """Copy ``src`` (whose stat is ``st``) to new file ``tmp``, keeping its times; synced
    unless ``durability="none"``."""
    with open(src, "rb") as fin, open(tmp, "xb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        if durability != "none":
            fout.flush()
            os.fsync(fout.fileno())
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))


def finish_moves(folder: str, durability: Durability) -> int:
    """Take up what dead owners left in queue folder ``folder``: finish or roll back
    their moves (see :func:`decide`), then remove their temporary files. Return how
    many entries it took up.

    Only owners on this host known to be dead are judged; restarts that run at once
    take turns (a lock on the folder). Idempotent: a restart killed here is itself
    finished by the next one.
    """
    with _folder_lock(folder):
        names = sorted(os.listdir(folder))
        records = [n for n in names if _dead(move_record_owner(n))]
        for name in records:
            _take_up(os.path.join(folder, name), durability)
        temps = [n for n in names if _dead(temp_owner(n))]
        for name in temps:
            remove_quietly(os.path.join(folder, name))
            log.info("removed %s, a temporary file of a process that is gone", name)
    if records or temps:
        sync_dirs(durability, folder)
    return len(records) + len(temps)


_settled: set[tuple[str, Owner]] = set()
"""(folder, owner) pairs whose moves are all taken up: the owner was dead then, and a
dead owner writes no new records."""


def settle_owner(folder: str, owner: Owner, durability: Durability) -> None:
    """Make sure ``owner``'s interrupted moves in ``folder`` are taken up (when it is
    dead) before one of its claims is given back; one listing per dead owner."""
    if (folder, owner) in _settled:
        return
    dead = _dead(owner)  # judged before listing, so the listing holds all it wrote
    finish_moves(folder, durability)
    if dead:
        _settled.add((folder, owner))


def _dead(owner: Owner | None) -> bool:
    if owner is None or owner == current_owner():
        return False
    return is_local(owner) and not is_alive(owner)


def _take_up(record: str, durability: Durability) -> None:
    try:
        intent = _read_record(record)
        state, src, tmp, src_id = intent["state"], intent["src"], intent["tmp"], intent["src_id"]
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("%s is not a persistq move record; left in place", record)
        return
    try:
        links: int | None = os.lstat(tmp).st_nlink
    except FileNotFoundError:
        links = None
    step = decide(state, links)
    if step is Step.ROLL_BACK or links is not None:
        remove_quietly(tmp)
    if step is Step.FINISH:
        _remove_if_same(src, src_id)
    sync_dirs(durability, os.path.dirname(tmp), os.path.dirname(src))
    remove_quietly(record)
    log.info("%s a move of %s interrupted by a kill (%s)", step.value, src, record)


def _read_record(path: str) -> Any:
    """The JSON of record ``path``, opened as a regular file only (never following a
    symlink, never blocking on a FIFO); ValueError for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path!r} is not a regular file")
        return json.loads(f.read(1 << 16))


def _remove_if_same(src: str, src_id: list[int]) -> None:
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return
    if _identity(st) != src_id:
        log.warning("not removing %s: it is another file than the one moved", src)
        return
    remove_quietly(src)


@contextlib.contextmanager
def _folder_lock(folder: str) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):  # file systems without flock: no turns
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

"""What becomes of a claimed file: finished (done folder or deleted), failed (queued
again, or to the failed folder with its reason), or given back unfinished."""

from __future__ import annotations

import logging
import os

from persistq.durability import Durability
from persistq.folder import history
from persistq.folder.files import publish, release, sync_dirs, write_json
from persistq.folder.moves import settle_owner
from persistq.folder.names import REASON_SUFFIX, Wip, parse_wip, queued_name
from persistq.folder.owner import current_owner
from persistq.folder.placement import archive

log = logging.getLogger(__name__)


def parse_claim(wip_path: str | os.PathLike[str], extension: str) -> Wip:
    """The parsed wip name of ``wip_path``; ValueError naming it if it is no claim of a
    queue whose messages end with ``extension``."""
    return _parse_claim(os.path.basename(wip_path), extension, wip_path)


def _parse_claim(name: str, extension: str, wip_path: str | os.PathLike[str]) -> Wip:
    wip = parse_wip(name)
    if wip is None or not wip.original.endswith(extension):
        raise ValueError(f"not a work-in-progress file of this queue: {os.fspath(wip_path)!r}")
    return wip


def finish(
    queue: str,
    wip_path: str | os.PathLike[str],
    *,
    extension: str,
    done_directory: str | None,
    durability: Durability,
) -> str | None:
    """Finish claim ``wip_path`` of queue folder ``queue``: move it into
    ``done_directory`` under its original name (see :func:`placement.archive` for a
    name already there) and return that path, or delete it when there is none."""
    name = os.path.basename(wip_path)
    wip = _parse_claim(name, extension, wip_path)
    src = os.path.join(queue, name)
    release(src)
    if done_directory is None:
        os.unlink(src)
        sync_dirs(durability, queue)
        dst = None
    else:
        dst = archive(src, done_directory, wip.original, queue=queue, durability=durability)
    if wip.attempt > 1:  # earlier attempts failed: their history ends in success
        _record(queue, wip, history.DONE, durability)
    return dst


def _record(
    queue: str, wip: Wip, event: str, durability: Durability, reason: str | None = None
) -> None:
    history.record(
        queue,
        wip.original,
        event,
        attempt=wip.attempt,
        owner=wip.owner,
        durability=durability,
        reason=reason,
    )


def fail(
    queue: str,
    wip_path: str | os.PathLike[str],
    reason: str,
    *,
    extension: str,
    max_attempts: int,
    failed_directory: str,
    durability: Durability,
) -> str:
    """Give up on this attempt at claim ``wip_path``; return where the file went.

    Before ``max_attempts`` tries it is queued again as ``<name>.retryN<ext>``; after
    that it moves to ``failed_directory`` with ``<name>.reason.json`` beside it (the
    last reason, and the history of every attempt). Each attempt's reason is kept in
    the file's history (:mod:`persistq.folder.history`).
    """
    wip = parse_claim(wip_path, extension)
    src = os.path.join(queue, os.path.basename(os.fspath(wip_path)))
    release(src)
    _record(queue, wip, history.FAILED, durability, reason)
    if wip.attempt < max_attempts:
        dst = os.path.join(queue, queued_name(wip.original, wip.attempt + 1, extension))
        publish(src, dst)
        sync_dirs(durability, queue)
        log.info("attempt %d of %s failed (%s); queued again", wip.attempt, src, reason)
        return dst
    os.makedirs(failed_directory, exist_ok=True)
    dst = archive(src, failed_directory, wip.original, queue=queue, durability=durability)
    failures = [e.to_json() for e in history.read_history(queue, wip.original)]
    record = {
        "file": wip.original,
        "reason": reason,
        "attempts": wip.attempt,
        "queue": queue,
        "host": wip.owner.host,
        "pid": wip.owner.pid,
        "failed_utc": history.now_utc(),
        "history": failures,
    }
    write_json(dst + REASON_SUFFIX, record, durability)
    log.warning("gave up on %s after %d attempt(s): %s", wip.original, wip.attempt, reason)
    return dst


def give_back(
    queue: str, wip_path: str | os.PathLike[str], *, extension: str, durability: Durability
) -> str | None:
    """Give claim ``wip_path`` of queue folder ``queue`` back, unfinished, as the same
    attempt; return its queued path, or None if it is gone or its queued name is taken
    (a warning then says so and the claim stays).

    Another process's claim is given back only after that process's interrupted move
    (a task_done across file systems) is finished or rolled back: a claim whose file is
    done already is not queued again.
    """
    wip = parse_claim(wip_path, extension)
    src = os.path.join(queue, os.path.basename(os.fspath(wip_path)))
    dst = os.path.join(queue, queued_name(wip.original, wip.attempt, extension))
    if wip.owner != current_owner():
        settle_owner(queue, wip.owner, durability)  # its interrupted move decides first
    try:
        publish(src, dst)
    except FileNotFoundError:
        release(src)
        return None
    except FileExistsError:
        if os.path.lexists(src):
            log.warning("cannot give back %s: %s exists; left in place", src, dst)
        return None
    release(src)
    sync_dirs(durability, queue)
    log.info("gave back %s as %s", src, dst)
    return dst

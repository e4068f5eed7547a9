"""Where a file goes: into a queue (``put``) and into a done or failed folder, under the
one rule for names already taken there. Same file system: one rename; otherwise a
move that a restart can finish (:mod:`persistq.folder.moves`)."""

from __future__ import annotations

import errno
import itertools
import logging
import os
import stat
import uuid

from persistq.durability import Durability
from persistq.folder.files import exists_error, fsync_file, publish, sync_dirs, temporary
from persistq.folder.moves import copy_file, move_across
from persistq.folder.names import UNIQUE_LEN, archived_name
from persistq.folder.owner import current_owner
from persistq.folder.tempnames import temp_name

log = logging.getLogger(__name__)


def source_stat(src: str, *, copy: bool) -> os.stat_result:
    """The stat of ``src`` if it can be put: a regular file, or with ``copy`` a link to one.

    FileNotFoundError, IsADirectoryError, or ValueError for a symbolic link that a move
    would move instead of its file; each names ``src``.
    """
    try:
        st = os.lstat(src)
        if copy and stat.S_ISLNK(st.st_mode):
            st = os.stat(src)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"no such file: {src!r}", src) from None
    if stat.S_ISLNK(st.st_mode):
        raise ValueError(
            f"{src!r} is a symbolic link (to {os.readlink(src)!r}): moving it would queue "
            "the link, not the file; put the file it points to, or use copy=True"
        )
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"not a file: {src!r}", src)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{src!r} is not a regular file (a FIFO, socket or device)")
    return st


def put_file(src: str, dst: str, *, copy: bool, queue: str, durability: Durability) -> None:
    """Make file ``src`` appear complete as ``dst`` in queue folder ``queue``, never
    replacing a file; keep ``src`` if ``copy``.

    Same file system: one atomic rename (after an fsync of the data with
    ``durability="fsync"``). Otherwise the data goes to a temporary name beside
    ``dst`` and is published; a move removes ``src`` only after that, keeping a record
    in ``queue`` that a restart finishes. On any error ``src`` is untouched and nothing
    is left behind.
    """
    st = source_stat(src, copy=copy)
    if not copy:
        if durability == "fsync":
            fsync_file(src)
        try:
            publish(src, dst)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        else:
            sync_dirs(durability, os.path.dirname(dst), os.path.dirname(src))
            return
    if os.path.lexists(dst):  # before a copy that may take long
        raise exists_error(dst)
    if not copy:
        move_across(src, [dst], record_dir=queue, durability=durability)
        return
    unique = uuid.uuid4().hex[:UNIQUE_LEN]
    tmp = os.path.join(queue, temp_name(os.path.basename(dst), current_owner(), unique))
    with temporary(tmp, dst):
        copy_file(src, tmp, st, durability)
        publish(tmp, dst)
    sync_dirs(durability, queue)


def archive(src: str, directory: str, original: str, *, queue: str, durability: Durability) -> str:
    """Move claimed file ``src`` of queue folder ``queue`` into ``directory``; return
    its path there.

    It keeps the name ``original`` unless an earlier file of that name is there: both are
    kept, this one as the first free ``<name>.againN<ext>`` (a warning says so). This is
    the one rule for names already taken in done and failed folders.
    """
    candidates = (os.path.join(directory, archived_name(original, n)) for n in itertools.count(1))
    for candidate in candidates:
        try:
            publish(src, candidate)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            others = itertools.chain([candidate], candidates)
            dst = move_across(src, others, record_dir=queue, durability=durability)
        else:
            dst = candidate
        break
    sync_dirs(durability, directory, queue)
    if os.path.basename(dst) != original:
        log.warning(
            "%s already holds %s (an earlier file of that name); keeping both: this one is %s",
            directory,
            original,
            dst,
        )
    return dst

"""Atomic file operations of folder queues: publish without overwriting, move across
file systems, claim by rename, and the directory fsyncs of ``durability="fsync"``."""

from __future__ import annotations

import contextlib
import ctypes
import enum
import errno
import json
import logging
import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from persistq import processes
from persistq.durability import Durability, fsync_directory
from persistq.folder.names import UNIQUE_LEN
from persistq.folder.owner import current_owner
from persistq.folder.tempnames import temp_name

log = logging.getLogger(__name__)

_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}
)
_claim_lock = threading.Lock()
_held: set[str] = set()
"""wip paths this process created and has not finished: only these names can clash."""


def _after_fork() -> None:
    global _claim_lock  # noqa: PLW0603 - a fork may copy the lock while it is held
    _claim_lock = threading.Lock()
    _held.clear()


processes.after_fork_in_child(_after_fork)


def exists_error(path: str, what: str = "file") -> FileExistsError:
    """A FileExistsError naming ``path``."""
    return FileExistsError(errno.EEXIST, f"{what} already exists: {path!r}", path)


def _load_renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    function: Callable[..., int] | None = getattr(libc, "renameat2", None)
    return function


_renameat2 = _load_renameat2()
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_NO_RENAMEAT2 = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})


def _rename_noreplace(src: str, dst: str) -> bool:
    """``renameat2(RENAME_NOREPLACE)`` where the C library and file system have it.

    True when renamed; False when unsupported; OSError (FileExistsError, EXDEV, ...)
    naming both files otherwise.
    """
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _NO_RENAMEAT2:
        return False
    raise OSError(err, os.strerror(err), src, None, dst)


def publish(src: str, dst: str) -> None:
    """Rename ``src`` to ``dst`` on one file system, raising FileExistsError if ``dst`` exists.

    POSIX ``rename`` would replace ``dst`` silently, so this uses
    ``renameat2(RENAME_NOREPLACE)`` (Linux), else a hard link then an unlink; when two
    callers race for ``dst`` exactly one wins. After a crash between that link and
    unlink, publishing the same file again completes the move. Where the file system
    has no hard links it checks first and renames (a race there can still replace
    ``dst``).
    """
    try:
        if _rename_noreplace(src, dst):
            return
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        if _same_file(src, dst):
            os.unlink(src)
            return
        raise exists_error(dst) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        if os.path.lexists(dst):
            raise exists_error(dst) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_json(path: str, payload: dict[str, Any], durability: Durability) -> None:
    """Write ``payload`` as a small JSON file at ``path``: a temporary name, then a rename,
    so a reader never sees half of it (with ``durability="fsync"``, synced first)."""
    folder = os.path.dirname(path) or "."
    unique = uuid.uuid4().hex[:UNIQUE_LEN]
    tmp = os.path.join(folder, temp_name(os.path.basename(path), current_owner(), unique))
    with temporary(tmp, path):
        with open(tmp, "x", encoding="utf-8") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
            if durability == "fsync":
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    sync_dirs(durability, folder)


def sync_dirs(durability: Durability, *paths: str) -> None:
    """fsync each distinct directory in ``paths`` when ``durability`` is ``"fsync"``."""
    if durability == "fsync":
        for path in dict.fromkeys(paths):
            fsync_directory(path)


class ClaimOutcome(enum.Enum):
    """What :func:`claim` did; true only for :attr:`WON`."""

    WON = "claimed"
    TAKEN = "another process claimed it first, or took the claim back at once"
    REFUSED = "not a regular file (a symlink, directory or FIFO): put back as it was"

    def __bool__(self) -> bool:
        return self is ClaimOutcome.WON


def claim(src: str, wip: str, *, regular: bool = False) -> ClaimOutcome:
    """Rename message ``src`` to this process's ``wip`` name (see :class:`ClaimOutcome`).

    One rename per claim; only a regular file is claimed (a symlink or directory named
    like a message is put back and left alone): an lstat after the rename checks,
    unless the caller has just proven ``src`` a regular file (``regular``: a lease
    taken on it, see :func:`persistq.folder.writers.check_writing`). ``wip`` names
    belong to this process, so only a name this process still holds (the same message
    name claimed twice before ``task_done``) can be taken: that rare case is checked
    under a process-wide lock and raises FileExistsError naming ``wip``, leaving the
    message where it is.
    """
    with _claim_lock:
        if wip in _held and os.path.lexists(wip):
            raise exists_error(wip, "work in progress")
        try:
            os.rename(src, wip)
        except FileNotFoundError:
            return ClaimOutcome.TAKEN
        if not regular:
            try:
                mode = os.lstat(wip).st_mode
            except FileNotFoundError:  # a reset or a reader judging this process dead
                log.info("%s was taken back before its claim as %s finished", src, wip)
                return ClaimOutcome.TAKEN
            if not stat.S_ISREG(mode):
                _give_back(wip, src)
                return ClaimOutcome.REFUSED
        _held.add(wip)
    return ClaimOutcome.WON


def _give_back(wip: str, src: str) -> None:
    # A symlink or directory named like a message: never a message, and a symlink is
    # never followed out of the queue folder. Put it back as it was.
    log.warning("%s is not a regular file; leaving it alone", src)
    try:
        publish(wip, src)
    except OSError as exc:
        log.warning("could not put %s back as %s: %s", wip, src, exc)


def release(wip: str) -> None:
    """Note that this process no longer holds ``wip`` (finished, failed or restored)."""
    _held.discard(wip)


def fsync_file(path: str) -> None:
    """fsync the data of file ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def temporary(tmp: str, final: str) -> Iterator[None]:
    """Remove ``tmp`` on any error; an OSError that names no file (a full disk) is
    raised again naming ``final``, the file that was being written."""
    try:
        yield
    except OSError as exc:
        remove_quietly(tmp)
        if exc.filename is None:
            message = f"{final}: {exc.strerror}; nothing was written there"
            raise OSError(exc.errno, message, final) from exc
        raise
    except BaseException:
        remove_quietly(tmp)
        raise


def remove_quietly(path: str) -> None:
    """Remove ``path`` if it exists; a failure is logged, not raised."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        log.warning("could not remove temporary file %s", path, exc_info=True)

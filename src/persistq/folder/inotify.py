"""Linux inotify on one folder, read in the caller's own thread.

watchdog's native observer hands every event through three threads (an inotify
reader, an emitter that pairs moves in a queue it searches, a dispatcher) before a
reader's thread sees it; with two readers and a producer that cost most of the
readers' CPU. Here the reader polls the inotify descriptor itself while it waits and
reads it when it looks: no thread, no lock. Where inotify is missing (another OS, a C
library without it) :data:`AVAILABLE` is False and the watchdog observer is used.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
from collections.abc import Callable

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
WATCHED = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF
"""What a reader needs: names that appear (created, moved in, closed after writing),
names that go (moved out), and the folder itself going away."""
_GONE = IN_DELETE_SELF | IN_MOVE_SELF
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)
_READ_SIZE = 64 * 1024


def _functions() -> tuple[Callable[..., int], Callable[..., int], Callable[..., int]] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library already loaded
        return libc.inotify_init1, libc.inotify_add_watch, libc.inotify_rm_watch
    except (OSError, AttributeError):
        return None


_LIBC = _functions()
AVAILABLE = _LIBC is not None


def _error(what: str, path: str | None = None) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}", path)


class Inotify:
    """An inotify instance watching the entries of one folder (not its subfolders).

    Raises OSError naming the folder when inotify cannot be had (no instances or
    watches left: EMFILE, ENOSPC)."""

    def __init__(self, folder: str) -> None:
        if _LIBC is None:
            raise OSError(errno.ENOSYS, "inotify is not available here", folder)
        self.folder = folder
        init, self._add, self._remove = _LIBC
        self._wd: int | None = None
        self._pending: list[tuple[str, bool]] = []
        self.gone = False
        """The folder was deleted or moved away: no event will come any more."""
        fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise _error("cannot create an inotify instance", folder)
        self._fd: int | None = fd
        try:
            self.watch()
        except OSError:
            self.close()
            raise

    @property
    def watching(self) -> bool:
        """Whether the folder is watched now (not closed, not unwatched)."""
        return self._fd is not None and self._wd is not None

    def watch(self) -> None:
        """Watch the folder (again); events since :meth:`unwatch` are lost."""
        if self._fd is None or self._wd is not None:
            return
        wd = self._add(self._fd, os.fsencode(self.folder), WATCHED | IN_ONLYDIR)
        if wd < 0:
            raise _error(f"cannot watch {self.folder}", self.folder)
        self._wd = wd

    def unwatch(self) -> None:
        """Stop the events of the folder (a reader with a backlog does not need them);
        those that arrived before are still read."""
        self._pending = self.read()
        wd, self._wd = self._wd, None
        if wd is not None and self._fd is not None:
            self._remove(self._fd, wd)  # fails only if the watch is gone already

    @property
    def pending(self) -> bool:
        """Whether events arrived that :meth:`read` has not returned yet (while
        unwatched, no system call)."""
        return bool(self._pending) or (self.watching and self.wait(0))

    def wait(self, timeout: float) -> bool:
        """Block until an event can be read or ``timeout`` seconds pass; True if one can."""
        if self._fd is None:
            return False
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        return bool(poller.poll(max(0, round(timeout * 1000))))

    def read(self) -> list[tuple[str, bool]]:
        """``(name, appeared)`` for each event since the last read, in order (while
        unwatched, only those that arrived before: no system call)."""
        names, self._pending = self._pending, []
        while self._fd is not None and self._wd is not None:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                break
            names.extend(self._parse(data))
        return names

    def _parse(self, data: bytes) -> list[tuple[str, bool]]:
        names = []
        offset = 0
        while offset + _HEADER.size <= len(data):
            wd, mask, _, length = _HEADER.unpack_from(data, offset)
            raw = data[offset + _HEADER.size : offset + _HEADER.size + length]
            offset += _HEADER.size + length
            if wd != self._wd or mask & (IN_IGNORED | IN_Q_OVERFLOW):
                continue  # an earlier watch's, or lost events: the listing finds them
            if mask & _GONE:
                self.gone = True
                continue
            name = os.fsdecode(raw.rstrip(b"\0"))
            if name:
                names.append((name, not mask & IN_MOVED_FROM))
        return names

    def close(self) -> None:
        """Close the instance (idempotent)."""
        fd, self._fd, self._wd = self._fd, None, None
        if fd is not None:
            os.close(fd)

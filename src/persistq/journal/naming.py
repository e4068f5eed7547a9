"""Journal file names: ``<prefix>_requested_PID<pid>_<writer>.tsv`` and
``<prefix>_completed_PID<pid>_<writer>.tsv``.

Pure logic, no I/O. ``<writer>`` (see ``processes.writer_token``: a hash of host, boot
and PID namespace, and the process's start tick) makes the name unique per writer even
where two containers both run as PID 1 on one shared pickup directory. The PyMPX names
``<prefix>_requested_PID<pid>.tsv`` (no writer part) are still read, so a PyMPX run's
journals resume, and PyMPX's pattern ``<prefix>_requested_PID*.tsv`` matches the new
names too. Requeued work is journalled to ``..._PID<pid>_<writer>_requeued.tsv``.
"""

from __future__ import annotations

import os
import re
from typing import Literal

import attrs

JournalKind = Literal["requested", "completed"]

_NAME = re.compile(
    r"_(requested|completed)_PID(\d*)(?:_([0-9a-f]{8}-\d+))?(_requeued\d*)?(.*)\.tsv\Z", re.DOTALL
)


@attrs.frozen
class JournalName:
    """What a journal file name says: its kind, the writer's PID and identity token
    (None in a PyMPX name), and whether it holds requeued work."""

    kind: JournalKind
    pid: int | None
    requeued: bool
    token: str | None = None

    def sort_key(self) -> tuple[int, int, str]:
        """Requeued work (older) before fresh work, then by PID and writer."""
        return (
            0 if self.requeued else 1,
            self.pid if self.pid is not None else -1,
            self.token or "",
        )


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can name journal files; raise ValueError naming it."""
    if not prefix or os.sep in prefix or "/" in prefix or prefix in {".", ".."} or "\0" in prefix:
        raise ValueError(f"pickup_file_prefix must be a plain file-name prefix; got {prefix!r}")
    return prefix


def journal_file_name(
    prefix: str, kind: JournalKind, pid: int, *, token: str | None = None, requeued: bool = False
) -> str:
    """Return the file name of the ``kind`` journal written by process ``pid`` (the
    PyMPX name when ``token`` is None)."""
    writer = f"_{token}" if token else ""
    return f"{prefix}_{kind}_PID{pid}{writer}{'_requeued' if requeued else ''}.tsv"


def replay_lock_name(prefix: str) -> str:
    """The file whose lock the one consuming process of a ``use_queue=False`` run holds."""
    return f"{prefix}_replay.lock"


def parse_journal_name(name: str, prefix: str) -> JournalName | None:
    """Return what ``name`` says if it is a journal of ``prefix``, else None."""
    if not name.startswith(prefix):
        return None
    match = _NAME.match(name, len(prefix))
    if match is None:
        return None
    kind: JournalKind = "requested" if match.group(1) == "requested" else "completed"
    pid = int(match.group(2)) if match.group(2) else None
    requeued = match.group(4) is not None or match.group(5).startswith("_requeued")
    return JournalName(kind, pid, requeued, match.group(3))

"""Journal file names: ``<prefix>_requested_PID<pid>.tsv`` and ``<prefix>_completed_PID<pid>.tsv``.

Pure logic, no I/O. These are the PyMPX names, so a PyMPX run's journals resume.
Requeued work is journalled to ``<prefix>_requested_PID<pid>_requeued.tsv``, which
PyMPX's pattern ``<prefix>_requested_PID*.tsv`` also matches.
"""

from __future__ import annotations

import os
import re
from typing import Literal

import attrs

Kind = Literal["requested", "completed"]

_NAME = re.compile(r"_(requested|completed)_PID(\d*)(.*)\.tsv\Z", re.DOTALL)


@attrs.frozen
class JournalName:
    """What a journal file name says: its kind, the writer's PID, and whether it
    holds requeued work."""

    kind: Kind
    pid: int | None
    requeued: bool

    def sort_key(self) -> tuple[int, int]:
        """Requeued work (older) before fresh work, then by PID."""
        return (0 if self.requeued else 1, self.pid if self.pid is not None else -1)


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can name journal files; raise ValueError naming it."""
    if not prefix or os.sep in prefix or "/" in prefix or prefix in {".", ".."} or "\0" in prefix:
        raise ValueError(f"pickup_file_prefix must be a plain file-name prefix; got {prefix!r}")
    return prefix


def journal_file_name(prefix: str, kind: Kind, pid: int, *, requeued: bool = False) -> str:
    """Return the file name of the ``kind`` journal written by process ``pid``."""
    return f"{prefix}_{kind}_PID{pid}{'_requeued' if requeued else ''}.tsv"


def parse_journal_name(name: str, prefix: str) -> JournalName | None:
    """Return what ``name`` says if it is a journal of ``prefix``, else None."""
    if not name.startswith(prefix):
        return None
    match = _NAME.match(name, len(prefix))
    if match is None:
        return None
    kind: Kind = "requested" if match.group(1) == "requested" else "completed"
    pid = int(match.group(2)) if match.group(2) else None
    return JournalName(kind, pid, match.group(3).startswith("_requeued"))

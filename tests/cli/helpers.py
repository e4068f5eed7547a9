"""Running the ``persistq`` command as a subprocess, and building pickup directories."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from persistq.journal.naming import journal_file_name
from persistq.journal.writer import JournalWriter

PERSISTQ = os.path.join(os.path.dirname(sys.executable), "persistq")


def persistq(*args: str, timeout: float = 60, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``persistq ARGS`` to completion; its output as text."""
    return subprocess.run(
        [PERSISTQ, *args], capture_output=True, text=True, timeout=timeout, input=stdin
    )


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_journal(
    directory: str, prefix: str, kind: str, pid: int, records: Sequence[Sequence[str]]
) -> str:
    """Write a persistq journal of ``records`` as process ``pid`` would have."""
    assert kind in ("requested", "completed")
    path = os.path.join(directory, journal_file_name(prefix, kind, pid))  # type: ignore[arg-type]
    writer = JournalWriter(path)
    writer.append_many(records)
    writer.close()
    return path

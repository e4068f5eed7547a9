"""Recovery time and peak memory of ``PersistentQueue`` (used by ``compare.py``).

:func:`write_journals` leaves in a directory the journals of a crashed run;
:func:`recover` times ``PersistentQueue(...).get_list_of_outstanding_work()`` on them in
a fresh Python process (this file run as a script), so that the peak resident set size
(``resource.getrusage(...).ru_maxrss``) is the recovery's own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

from persistq import PersistentQueue
from persistq.journal import JournalWriter, encode_record, journal_file_name
from persistq.journal.naming import JournalKind

PREFIX = "bench"
CRASHED_PID = 4_000_000  # a PID no live process has: the run that crashed
COMPLETED_SHARE = 0.9
CHUNK = 100_000


def record(i: int) -> bytes:
    """The journal line of work item ``i``: a data file name, as in ``pq_bench``."""
    return encode_record((f"file_{i:07d}.csv",))


def write_journals(directory: str, requested: int) -> int:
    """Write ``requested`` requested records and complete the first 90% of them;
    return the number completed."""
    completed = int(requested * COMPLETED_SHARE)
    counts: list[tuple[JournalKind, int]] = [("requested", requested), ("completed", completed)]
    for kind, count in counts:
        path = os.path.join(directory, journal_file_name(PREFIX, kind, CRASHED_PID))
        writer = JournalWriter(path, durability="none")
        for first in range(0, count, CHUNK):
            writer.append_lines([record(i) for i in range(first, min(count, first + CHUNK))])
        writer.close()
    return completed


@dataclass(frozen=True)
class Recovery:
    seconds: float
    outstanding: int
    peak_mb: float  # peak resident set size of the recovering process
    baseline_mb: float  # the same, before recovery (Python + imports)


# On Linux a process inherits its parent's peak RSS across fork + exec, and a child
# of this (large) benchmark would report the benchmark's. A small launcher process
# starts the measuring one, whose ru_maxrss is then its own.
LAUNCHER = (
    "import subprocess, sys; sys.exit(subprocess.run([sys.executable, *sys.argv[1:]]).returncode)"
)


def recover(directory: str) -> Recovery:
    """Recover ``directory`` in a fresh process; return what it measured."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, os.path.abspath(__file__), directory],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Recovery(**json.loads(done.stdout))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _main(directory: str) -> None:
    baseline = _peak_mb()
    started = time.perf_counter()
    work = PersistentQueue(PREFIX, previous_pickup_dir=directory).get_list_of_outstanding_work()
    seconds = time.perf_counter() - started
    result = Recovery(seconds, len(work), _peak_mb(), baseline)
    print(json.dumps(result.__dict__))


if __name__ == "__main__":
    _main(sys.argv[1])

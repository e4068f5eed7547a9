"""Recovery time and peak memory of ``PersistentQueue`` (used by ``compare.py``).

:func:`measure_recovery` and :func:`recovery_table` are the report's section;

:func:`write_journals` leaves in a directory the journals of a crashed run;
:func:`recover` times ``PersistentQueue(...).get_list_of_outstanding_work()`` on them in
a fresh Python process (this file run as a script), so that the peak resident set size
(``resource.getrusage(...).ru_maxrss``) is the recovery's own.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import attrs
from harness import load_average, load_text, markdown_table

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


RECOVERY_GOAL_LINES = 1_000_000
RECOVERY_GOAL_SECONDS = 2.0


@attrs.frozen
class RecoveryRow:
    """The rounds of recovering journals of ``requested`` lines, ``completed`` of them
    completed, with the 1-minute load average after each round."""

    requested: int
    completed: int
    runs: tuple[Recovery, ...]
    loads: tuple[float, ...]

    @property
    def seconds(self) -> float:
        """The median seconds over the rounds."""
        return statistics.median(r.seconds for r in self.runs)


def measure_recovery(root: str, sizes: list[int], rounds: int) -> list[RecoveryRow]:
    """Write the journals of each size once, then recover them ``rounds`` times."""
    rows = []
    for requested in sizes:
        directory = tempfile.mkdtemp(prefix="recovery_", dir=root)
        try:
            completed = write_journals(directory, requested)
            runs, loads = [], []
            for _ in range(rounds):
                runs.append(recover(directory))
                loads.append(load_average())
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        rows.append(RecoveryRow(requested, completed, tuple(runs), tuple(loads)))
        print(f"  recovery of {requested:,} lines done", file=sys.stderr)
    return rows


def recovery_table(rows: list[RecoveryRow]) -> str:
    """Seconds and memory per size, and the 1M-line goal when that size ran."""
    header = [
        "requested lines",
        "completed lines",
        "outstanding",
        "seconds (median)",
        "peak RSS MB",
        "RSS before recovery MB",
        "load",
    ]
    lines = [
        [
            f"{r.requested:,}",
            f"{r.completed:,}",
            f"{r.runs[0].outstanding:,}",
            f"{r.seconds:.2f}",
            f"{max(x.peak_mb for x in r.runs):.0f}",
            f"{r.runs[0].baseline_mb:.0f}",
            load_text(r.loads),
        ]
        for r in rows
    ]
    text = markdown_table(header, lines, "rrrrrrr")
    for r in rows:
        if r.requested == RECOVERY_GOAL_LINES:
            verdict = "PASS" if r.seconds <= RECOVERY_GOAL_SECONDS else "**MISS**"
            text += (
                f"\n\nGoal: recovery of a {RECOVERY_GOAL_LINES:,}-line journal in "
                f"≤ {RECOVERY_GOAL_SECONDS:g} s: {r.seconds:.2f} s — {verdict}."
            )
    return text


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

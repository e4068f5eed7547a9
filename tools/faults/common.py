"""What every campaign shares: killing a pipeline's processes and auditing a ledger."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from persistq.processes import pid_alive

REPO = Path(__file__).resolve().parents[2]
NEW_PER_RUN = 50  # each run's producer finds this many new items, as a daily feed would
SECONDS_PER_ITEM = 0.002  # what each of a pipeline's 2 consumers takes per item
KILLED_RUN_ERRORS = ("UpstreamFailureError",)
"""What a killed run's consumers may die of: its producer was SIGKILLed a moment before
them, and readers that notice answer FAILED."""


@attrs.define
class ChainReport:
    """What one chain of killed runs and a final clean run left behind."""

    family: str
    runs: int = 0
    kills: int = 0
    mid_work_kills: int = 0
    messages: int = 0
    lost: int = 0
    completed_twice: int = 0
    reprocessed_in_flight: int = 0
    late_on_cut_hosts: int = 0  # of completed_twice: a cut-off host finished late, reported
    violations: list[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing completed twice (except late on a cut-off host, which
        the host was told of), no other broken promise."""
        twice = self.completed_twice - self.late_on_cut_hosts
        return not (self.lost or twice or self.violations)


def group_pids(pgid: int) -> list[int]:
    """The processes of process group ``pgid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except ProcessLookupError:
                continue
    return pids


def kill_pipeline(proc: subprocess.Popen[str], rng: random.Random) -> bool:
    """SIGKILL a random process of ``proc``'s group, then, a moment later, the rest.
    Returns whether anything was still running to be killed."""
    members = group_pids(proc.pid)
    if not members:
        proc.wait(timeout=30)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(rng.choice(members), signal.SIGKILL)
    time.sleep(rng.uniform(0, 0.02))  # the others go on briefly, as they would
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(pid_alive(pid) for pid in group_pids(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.005)  # orphans die a moment later; zombies count as dead
    return True


def start(
    module: str, *args: str, stderr: Path, wrapper: Sequence[str] = ()
) -> subprocess.Popen[str]:
    """Start ``python -m module args`` (under the command ``wrapper``, e.g. unshare) in
    its own process group, stdout piped, stderr to the file ``stderr``."""
    with open(stderr, "w") as err:
        return subprocess.Popen(
            [*wrapper, sys.executable, "-m", module, *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )


def join_workers(workers: list[Any]) -> None:
    """Wait for the pipeline's worker processes; exit 1 if any of them failed."""
    for w in workers:
        w.join()
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        print(f"workers failed with exit codes {failed}", file=sys.stderr)
        sys.exit(1)


def drive_run(
    proc: subprocess.Popen[str],
    rng: random.Random,
    report: ChainReport,
    run: str,
    stderr: Path,
    *,
    kill: bool,
    backlog: int,
) -> None:
    """See a started pipeline run through: SIGKILL it at a random moment (sometimes
    during start-up, before it reports ``ready``) when ``kill``, else let it finish."""
    assert proc.stdout is not None
    report.runs += 1
    if kill and rng.random() < 0.2:
        time.sleep(rng.uniform(0, 0.3))  # kill during start-up (and requeue)
    elif proc.stdout.readline().strip() != "ready":
        report.violations.append(f"{run}: the pipeline did not start")
    if kill:
        time.sleep(rng.uniform(0, backlog * SECONDS_PER_ITEM / 2))
        report.kills += kill_pipeline(proc, rng)
    elif proc.wait(timeout=120) != 0:
        tail = stderr.read_text(errors="replace").strip().splitlines()[-5:]
        report.violations.append(f"{run}: the clean run failed: " + " / ".join(tail))


def audit_loads(
    ledger: Path, items: list[str], completed_in: dict[str, Counter[str]], report: ChainReport
) -> None:
    """Check the ledger of loads (``<run> <item>`` lines) against completions per run
    (``completed_in``, in run order): every item completed exactly once; a second load
    only where one was in flight (in an earlier run, or earlier in the same run when a
    consumer died in it), never after the item's completion."""
    total: Counter[str] = sum(completed_in.values(), Counter())
    report.messages = len(items)
    report.lost = sum(1 for item in items if total[item] == 0)
    report.completed_twice = sum(1 for item in items if total[item] > 1)
    loads: dict[str, Counter[str]] = defaultdict(Counter)
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            run, item = line.split(" ", 1)
            loads[item][run] += 1
    order = {run: index for index, run in enumerate(completed_in)}
    for item in items:
        in_flight = [  # loads of a run beyond its completions (a redo within one run too)
            run
            for run, count in loads[item].items()
            for _ in range(count - min(count, completed_in.get(run, Counter())[item]))
        ]
        report.reprocessed_in_flight += len(in_flight)
        if not loads[item]:
            report.violations.append(f"{item} was never loaded")
        done_at = min((order[r] for r, c in completed_in.items() if c[item]), default=None)
        late = [run for run in in_flight if done_at is not None and order.get(run, -1) > done_at]
        if late:
            report.violations.append(f"{item} was delivered again after completion, in {late}")
    unknown = set(loads) - set(items)
    if unknown:
        report.violations.append(f"loads of unknown items: {sorted(unknown)[:5]}")


_AGAIN = re.compile(r"\.again[0-9]+(?=\.[^.]+$)")


def completions(names: Iterable[str]) -> Counter[str]:
    """Completions among the file names of a done/ folder: ``x.again2.dat`` (the second
    ``x.dat`` finished) counts as a second completion of ``x.dat``."""
    return Counter(_AGAIN.sub("", name) for name in names)


def crashes(stderr: Path, *, expected: Sequence[str] = ()) -> list[str]:
    """The error line ending each traceback in the file ``stderr`` (a run's processes
    print one when they die of an error), unless it names one of the ``expected``
    errors. Tracebacks of processes writing at once may interleave: only the error
    lines themselves are looked for."""
    if not stderr.exists():
        return []
    lines = stderr.read_text(errors="replace").splitlines()
    return [
        line
        for line in lines
        if _ERROR_LINE.match(line) and not any(error in line for error in expected)
    ]


_ERROR_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")

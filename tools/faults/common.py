"""What every campaign shares: killing a pipeline's processes and auditing a ledger."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import attrs

REPO = Path(__file__).resolve().parents[2]


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
    violations: list[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing completed twice, no other broken promise."""
        return not (self.lost or self.completed_twice or self.violations)


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
    return True


def start(module: str, *args: str) -> subprocess.Popen[str]:
    """Start ``python -m module args`` in its own process group, stdout piped."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def audit_loads(
    ledger: Path, items: list[str], completed_in: dict[str, Counter[str]], report: ChainReport
) -> None:
    """Check the ledger of loads (``<run> <item>`` lines) against completions per run:
    every item completed exactly once; a second load only where one was in flight."""
    total: Counter[str] = sum(completed_in.values(), Counter())
    report.messages = len(items)
    report.lost = sum(1 for item in items if total[item] == 0)
    report.completed_twice = sum(1 for item in items if total[item] > 1)
    loads: dict[str, list[str]] = defaultdict(list)
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            run, item = line.split(" ", 1)
            loads[item].append(run)
    for item in items:
        in_flight = [run for run in loads[item] if not completed_in.get(run, Counter())[item]]
        report.reprocessed_in_flight += len(in_flight)
        if not loads[item]:
            report.violations.append(f"{item} was never loaded")
    unknown = set(loads) - set(items)
    if unknown:
        report.violations.append(f"loads of unknown items: {sorted(unknown)[:5]}")

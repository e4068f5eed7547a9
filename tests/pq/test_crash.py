"""SIGKILL a running pipeline at random points, recover, and check what survived.

After a chain of killed runs and one clean run, every item's completion is journalled
exactly once (nothing lost, nothing completed comes back), every requeue is exactly
the previous run's requested-and-not-completed work, and an item loaded twice was
always in flight (loaded, completion not journalled) in a killed run.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from persistq.journal import read_records
from persistq.outstanding import outstanding

REPO = Path(__file__).resolve().parents[2]
ITEMS = [f"file_{i:04d}.csv" for i in range(400)]
NEW_PER_RUN = 50  # each run's producer finds this many new items, as a daily feed would
SECONDS_PER_ITEM = 0.002  # what the pipeline's consumers take per item, 2 of them


def records(run: Path, kind: str, requeued: bool | None = None) -> list[str]:
    out: list[str] = []
    for path in sorted(run.glob(f"items_{kind}_PID*.tsv")):
        if requeued is None or requeued == ("_requeued" in path.name):
            out.extend(r[0] for r in read_records(path))
    return out


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except ProcessLookupError:
                continue
    return pids


def start_run(
    tmp: Path, run: Path, previous: Path | None, items: list[str], method: str
) -> subprocess.Popen[str]:
    items_file = tmp / f"{run.name}.json"
    items_file.write_text(json.dumps(items))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.pq.pipeline",
            str(run),
            str(previous or "-"),
            str(items_file),
            str(tmp / "ledger.txt"),
            method,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run_chain(tmp: Path, rng: random.Random, kills: int, method: str) -> int:
    """Run ``kills`` killed runs and one clean run; return how many kills landed."""
    runs: list[Path] = []
    landed = mid_work = 0
    for k in range(kills + 1):
        run = tmp / f"run{k}"
        handed_over = {item for r in runs for item in records(r, "requested")}
        available = ITEMS if k == kills else ITEMS[: NEW_PER_RUN * (k + 1)]
        source = [i for i in available if i not in handed_over]
        backlog = len(source) + len(expected_outstanding(runs))
        proc = start_run(tmp, run, runs[-1] if runs else None, source, method)
        assert proc.stdout is not None
        if k < kills and rng.random() < 0.2:
            time.sleep(rng.uniform(0, 0.3))  # kill during start-up and requeue
        else:
            assert proc.stdout.readline().strip() == "ready"
        if k < kills:
            time.sleep(rng.uniform(0, backlog * SECONDS_PER_ITEM / 2))
            members = group_pids(proc.pid)
            if members:
                os.kill(rng.choice(members), signal.SIGKILL)
                landed += 1
                time.sleep(rng.uniform(0, 0.02))
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            if not run.exists() or not any(run.iterdir()):
                continue  # killed before it wrote anything: as if never started
            mid_work += len(records(run, "completed")) < len(records(run, "requested"))
        else:
            assert proc.wait(timeout=60) == 0
        runs.append(run)
    check_chain(tmp, runs)
    assert mid_work >= kills // 2, f"only {mid_work} of {kills} kills landed mid-work"
    return landed


def check_chain(tmp: Path, runs: list[Path]) -> None:
    completed_in = {run.name: Counter(records(run, "completed")) for run in runs}
    # Each requeue is exactly the previous run's requested minus completed.
    for previous, run in itertools.pairwise(runs):
        requeued = records(run, "requested", requeued=True)
        if list(run.glob("*_requeued.tsv")):
            inherited: list[str] = []
            if not list(previous.glob("*_requeued.tsv")) and previous != runs[0]:
                inherited = expected_outstanding(runs[: runs.index(previous)])
            expected = list(
                outstanding(
                    inherited + records(previous, "requested"), records(previous, "completed")
                )
            )
            assert Counter(requeued) == Counter(expected), run.name
    # Every item completed exactly once over the chain.
    total = sum(completed_in.values(), Counter())
    assert total == Counter(ITEMS)
    # A second load happened only where the first was in flight at a kill.
    loads: dict[str, list[str]] = defaultdict(list)
    for line in (tmp / "ledger.txt").read_text().splitlines():
        run_name, item = line.split(" ", 1)
        loads[item].append(run_name)
    assert set(loads) == set(ITEMS)
    for item, in_runs in loads.items():
        completed_runs = [r for r in in_runs if completed_in[r][item]]
        assert len(completed_runs) == 1, (item, in_runs)
        assert runs[-1].name not in set(in_runs) - set(completed_runs)


def expected_outstanding(runs: list[Path]) -> list[str]:
    """Outstanding work at the end of ``runs`` (following un-journalled recoveries)."""
    carried: list[str] = []
    for run in runs:
        if list(run.glob("*_requeued.tsv")):
            carried = []
        carried = list(outstanding(carried + records(run, "requested"), records(run, "completed")))
    return carried


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("seed", "kills", "method"), [(1, 7, "fork"), (2, 7, "fork"), (3, 6, "fork"), (4, 4, "spawn")]
)
def test_sigkilled_pipelines_recover_exactly(
    tmp_path: Path, seed: int, kills: int, method: str
) -> None:
    landed = run_chain(tmp_path, random.Random(seed), kills, method)
    assert landed == kills

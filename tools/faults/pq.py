"""The PersistentQueue campaign: producer + 2 consumer processes, SIGKILLed and recovered.

As a module (``python -m tools.faults.pq RUN PREVIOUS|- ITEMS_JSON LEDGER METHOD``) it is
the pipeline: consumers append ``<run> <item>`` to LEDGER after "loading" an item and
before its task_done, so the ledger shows every load, including those in flight at a
kill. ``run_chain`` drives killed runs and a final clean one, then audits them.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from persistq import PersistentQueue
from persistq.folder.names import TEMP_SUFFIX
from persistq.journal import read_records
from persistq.outstanding import outstanding
from tools.faults.common import (
    NEW_PER_RUN,
    SECONDS_PER_ITEM,
    ChainReport,
    audit_loads,
    drive_run,
    join_workers,
    start,
)


def consume(q: PersistentQueue, ledger: str, run: str) -> None:
    """A worker: load each item (a ledger line), then mark it done."""
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for item in q:
        time.sleep(SECONDS_PER_ITEM)
        os.write(fd, f"{run} {item}\n".encode())
        q.task_done(item)


def pipeline(run_dir: str, previous: str, items_json: str, ledger: str, method: str) -> None:
    """One run: start the workers, requeue the previous run's work, put the new items."""
    ctx: Any = multiprocessing.get_context(method)
    q = PersistentQueue(
        "items",
        run_dir,
        None if previous == "-" else previous,
        number_of_workers=2,
        mp_context=ctx,
    )
    run = os.path.basename(run_dir)
    workers = [ctx.Process(target=consume, args=(q, ledger, run)) for _ in range(2)]
    for w in workers:
        w.start()
    q.requeue_unprocessed_work()
    print("ready", flush=True)
    with open(items_json) as f:
        items = json.load(f)
    for n, item in enumerate(items):
        q.put(item)
        if n % 20 == 0:
            time.sleep(0.002)
    q.close()
    join_workers(workers)
    q.join()


def records(run: Path, kind: str, requeued: bool | None = None) -> list[str]:
    """The messages of ``run``'s ``kind`` journals (only requeued or fresh ones if asked)."""
    out: list[str] = []
    for path in sorted(run.glob(f"items_{kind}_PID*.tsv")):
        if requeued is None or requeued == ("_requeued" in path.name):
            out.extend(r[0] for r in read_records(path))
    return out


def expected_outstanding(runs: list[Path]) -> list[str]:
    """Outstanding work at the end of ``runs`` (following un-journalled recoveries)."""
    carried: list[str] = []
    for run in runs:
        if list(run.glob("*_requeued.tsv")):
            carried = []
        carried = list(outstanding(carried + records(run, "requested"), records(run, "completed")))
    return carried


UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc", "--kill-child")
"""Each run in a PID namespace of its own: its pipeline is PID 1, 2, 3 in every run."""


def namespaces_available() -> bool:
    """Whether runs can be put into PID namespaces of their own here (root, unshare)."""
    if shutil.which(UNSHARE[0]) is None or os.geteuid() != 0:
        return False
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, check=False)
    return probe.returncode == 0


def run_chain(
    workdir: Path,
    rng: random.Random,
    kills: int,
    items: int = 400,
    method: str = "fork",
    *,
    namespaces: bool = False,
) -> ChainReport:
    """``kills`` runs SIGKILLed at random moments, then one clean run; audited. With
    ``namespaces``, each run is a container of its own (a fresh PID namespace), so
    every run's processes have the same PIDs as the killed run's."""
    names = [f"file_{i:04d}.csv" for i in range(items)]
    where = ", PID namespaces" if namespaces else ""
    report = ChainReport(family=f"PersistentQueue ({method}{where})")
    runs: list[Path] = []
    for k in range(kills + 1):
        run = workdir / f"run{k}"
        handed_over = {item for r in runs for item in records(r, "requested")}
        available = names if k == kills else names[: NEW_PER_RUN * (k + 1)]
        source = [i for i in available if i not in handed_over]
        backlog = len(source) + len(expected_outstanding(runs))
        items_file = workdir / f"{run.name}.json"
        items_file.write_text(json.dumps(source))
        previous = str(runs[-1]) if runs else "-"
        stderr = workdir / f"{run.name}.stderr"
        proc = start(
            "tools.faults.pq",
            str(run),
            previous,
            str(items_file),
            str(workdir / "ledger.txt"),
            method,
            stderr=stderr,
            wrapper=UNSHARE if namespaces else (),
        )
        drive_run(proc, rng, report, run.name, stderr, kill=k < kills, backlog=backlog)
        if k < kills:
            if not run.exists() or all(n.name.endswith(TEMP_SUFFIX) for n in run.iterdir()):
                # Killed before it wrote anything of its own (at most the temporary of
                # its recovery pointer): as if never started, so the next run recovers
                # its predecessor (the library warns when pointed at such a directory).
                continue
            report.mid_work_kills += len(records(run, "completed")) < len(records(run, "requested"))
        runs.append(run)
    _audit_requeues(runs, report)
    completed_in = {run.name: Counter(records(run, "completed")) for run in runs}
    audit_loads(workdir / "ledger.txt", names, completed_in, report)
    return report


def _audit_requeues(runs: list[Path], report: ChainReport) -> None:
    """Each requeue is exactly what its predecessor requested and did not complete."""
    for index, (previous, run) in enumerate(itertools.pairwise(runs)):
        if not list(run.glob("*_requeued.tsv")):
            continue
        inherited: list[str] = []
        if not list(previous.glob("*_requeued.tsv")) and index > 0:
            inherited = expected_outstanding(runs[:index])
        expected = Counter(
            outstanding(inherited + records(previous, "requested"), records(previous, "completed"))
        )
        if Counter(records(run, "requested", requeued=True)) != expected:
            report.violations.append(
                f"{run.name}: requeue differs from {previous.name}'s outstanding"
            )


if __name__ == "__main__":
    pipeline(*sys.argv[1:6])

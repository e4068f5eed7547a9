"""Two PID namespaces sharing one queue folder: a producer and 2 consumers in one,
2 consumers in the other, every run in fresh namespaces (``unshare``), so consumers
in both have the same PIDs; SIGKILLs land in one namespace or in both.

As a module (``python -m tools.faults.folder_namespaces ROLE RUN QUEUE DONE SOURCE
WORKDIR``) it is one namespace's part of a run: ROLE ``producer`` (after removing the
killed run's markers) announces itself and, once the other namespace is up (the file
``RUN.go``), starts 2 consumers and moves the source files in; ROLE ``consumers``
starts 2 consumers. Readers and the producer use a lease: a process of the other
namespace is never judged dead by its PID (equal PIDs there mean nothing here), only
by its heartbeat's age.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from persistq import WritableFolderQueue
from tools.faults.common import (
    KILLED_RUN_ERRORS,
    NEW_PER_RUN,
    SECONDS_PER_ITEM,
    ChainReport,
    audit_loads,
    completions,
    crashes,
    join_workers,
    kill_pipeline,
    start,
)
from tools.faults.folder import EXTENSION, arrive, consume, lay_out, put_source, queued_work
from tools.faults.pq import UNSHARE

LEASE_SECONDS = 3.0
"""Every reader's and the producer's ``lease_seconds`` (heartbeats every second)."""


def part(role: str, run_dir: str, queue: str, done: str, source: str, workdir: str) -> None:
    """One namespace's part of a run (see the module's docstring)."""
    writer = None
    if role == "producer":
        writer = WritableFolderQueue(queue, EXTENSION, lease_seconds=LEASE_SECONDS)
        writer.purge_control_messages()  # the killed run's producer will never close
        print("ready", flush=True)
        _wait_for(Path(run_dir + ".go"))  # the other namespace is up: start together
    ctx = multiprocessing.get_context("fork")
    run = os.path.basename(run_dir)
    ledger = os.path.join(workdir, "ledger.txt")
    workers = [
        ctx.Process(target=consume, args=(queue, done, ledger, run, LEASE_SECONDS))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    with open(os.path.join(workdir, "pids.txt"), "a") as pids:
        pids.write(f"{run} {role} {' '.join(str(w.pid) for w in workers)}\n")
    if writer is None:
        print("ready", flush=True)
    else:
        put_source(writer, source)
    join_workers(workers)


def run_chain(workdir: Path, rng: random.Random, kills: int, items: int = 400) -> ChainReport:
    """``kills`` runs SIGKILLed in one namespace or both, then (a lease later, so every
    killed claim may be taken back) a clean run; audited."""
    report = ChainReport(family="folder queues, two PID namespaces sharing the folder (lease)")
    names = [f"item_{i:04d}{EXTENSION}" for i in range(items)]
    feed, source, queue, done = (workdir / d for d in ("feed", "source", "queue", "done"))
    lay_out(names, feed, source, queue, done)
    completed_in: dict[str, Counter[str]] = {}
    for k in range(kills + 1):
        run, clean = f"run{k}", k == kills
        arrive(names if clean else names[: NEW_PER_RUN * (k + 1)], feed, source)
        if clean:
            time.sleep(LEASE_SECONDS)  # the killed runs' claims are free to take back now
        backlog = len(os.listdir(source)) + len(queued_work(queue))
        before = set(os.listdir(done))
        report.runs += 1
        procs = {}
        for role in ("producer", "consumers"):  # the producer has removed the old markers
            args = (role, workdir / run, queue, done, source, workdir)
            stderr = workdir / f"{run}.{role}.stderr"
            proc = start("tools.faults.folder_namespaces", *map(str, args),
                         stderr=stderr, wrapper=UNSHARE)  # fmt: skip
            procs[role] = proc
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                report.violations.append(f"{run}: the {role} namespace did not start")
        (workdir / f"{run}.go").touch()
        if not clean:
            time.sleep(rng.uniform(0, backlog * SECONDS_PER_ITEM / 2))
            victims = rng.choice([["producer"], ["consumers"], ["producer", "consumers"]])
            report.kills += sum(kill_pipeline(procs[v], rng) for v in victims)
            report.mid_work_kills += bool(os.listdir(source) or queued_work(queue))
        for role, proc in procs.items():
            _finish(proc, f"{run} ({role} namespace)", clean, workdir / f"{run}.{role}.stderr",
                    report)  # fmt: skip
        completed_in[run] = completions(set(os.listdir(done)) - before)
    stranded = queued_work(queue) + sorted(os.listdir(source))
    if stranded:
        report.violations.append(f"left in the queue after the clean run: {stranded[:5]}")
    audit_loads(workdir / "ledger.txt", names, completed_in, report)
    _audit_pids(workdir / "pids.txt", report)
    return report


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(f"{path} did not appear within 60 s")
        time.sleep(0.005)


def _finish(
    proc: subprocess.Popen[str], what: str, clean: bool, stderr: Path, report: ChainReport
) -> None:
    """Wait for a namespace's part that was not killed. In a killed run, consumers whose
    producer died end with FAILED (UpstreamFailureError) once its lease expired."""
    code = proc.wait(timeout=120)
    expected = () if clean else KILLED_RUN_ERRORS
    report.violations += [f"{what}: {line}" for line in crashes(stderr, expected=expected)]
    if clean and code != 0:
        report.violations.append(f"{what}: the clean run failed (exit code {code})")


def _audit_pids(pids: Path, report: ChainReport) -> None:
    """The topology held: in some run, consumers of both namespaces had equal PIDs."""
    seen: dict[str, dict[str, set[str]]] = {}
    for line in pids.read_text().splitlines() if pids.exists() else []:
        run, role, *numbers = line.split()
        seen.setdefault(run, {})[role] = set(numbers)
    if not any(len(r) == 2 and r["producer"] & r["consumers"] for r in seen.values()):
        report.violations.append("no run had consumers with equal PIDs in both namespaces")


if __name__ == "__main__":
    part(*sys.argv[1:7])

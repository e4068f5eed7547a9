"""The daily-rerun campaign: one queue folder used day after day, each day's run
SIGKILLed once at a random moment and restarted.

As a module (``python -m tools.faults.folder_days RUN QUEUE DONE SOURCE LEDGER ORDER
RESTART``) it is one run of a day: with ``RESTART`` (the day's earlier run was killed)
it first removes the producer markers, as ``persistq reset`` does; then, in ``ORDER``
``consumers-first`` the 2 consumers start before the producer announces itself, in
``producer-first`` after. The producer never purges the markers of earlier days: a
day that ends well leaves its helo and done markers for the next day's readers.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

from persistq import WritableFolderQueue
from persistq.folder.admin import FolderAdmin
from tools.faults.common import (
    KILLED_RUN_ERRORS,
    ChainReport,
    audit_loads,
    completions,
    crashes,
    drive_run,
    start,
)
from tools.faults.folder import EXTENSION, consume, put_source, queued_work

PER_DAY = 40
NIGHT_SECONDS = 86_400.0
"""How far a finished day's markers are moved back in time: the night between days."""


def pipeline(
    run_dir: str, queue: str, done: str, source: str, ledger: str, order: str, restart: str
) -> None:
    """One run of a day: (after a kill) remove the markers, start the consumers and
    the producer in ``order``, move the day's source files in."""
    if restart == "1":
        FolderAdmin(queue, EXTENSION).remove_markers()  # the killed run's producer
    ctx = multiprocessing.get_context("fork")
    run = os.path.basename(run_dir)
    workers = [ctx.Process(target=consume, args=(queue, done, ledger, run)) for _ in range(2)]
    writer = None
    if order == "producer-first":
        writer = WritableFolderQueue(queue, EXTENSION)
    for w in workers:
        w.start()
    print("ready", flush=True)
    if writer is None:
        time.sleep(0.05)  # the consumers look at yesterday's markers first
        writer = WritableFolderQueue(queue, EXTENSION)
    put_source(writer, source)
    for w in workers:
        w.join()
    if any(w.exitcode for w in workers):
        sys.exit(f"workers failed with exit codes {[w.exitcode for w in workers]}")


def run_chain(workdir: Path, rng: random.Random, kills: int) -> ChainReport:
    """Days until ``kills`` of them were killed once (and restarted); the others, and
    the last, run without a kill. Audited: every file of every day completed once, no
    day ending with files left, each day leaving its done marker."""
    report = ChainReport(family="folder queues, daily reruns on one folder (markers kept)")
    source, queue, done = (workdir / d for d in ("source", "queue", "done"))
    for directory in (source, queue, done):
        directory.mkdir()
    names: list[str] = []
    completed_in: dict[str, Counter[str]] = {}
    day, left_to_kill = 0, kills
    while left_to_kill or not completed_in:
        today = [f"day{day:02d}_item_{i:03d}{EXTENSION}" for i in range(PER_DAY)]
        names += today
        for name in today:
            (source / name).write_text(name)
        attempts = ["killed", "clean"] if left_to_kill and rng.random() < 0.5 else ["clean"]
        left_to_kill -= attempts[0] == "killed"
        for attempt, how in enumerate(attempts):
            run = f"day{day:02d}.{attempt}"
            order = rng.choice(["consumers-first", "producer-first"])
            before = set(os.listdir(done))
            stderr = workdir / f"{run}.stderr"
            args = (workdir / run, queue, done, source, workdir / "ledger.txt", order)
            proc = start(
                "tools.faults.folder_days",
                *map(str, args),
                str(attempt),  # 1: the day's earlier run was killed
                stderr=stderr,
            )
            killed = how == "killed"
            backlog = len(os.listdir(source)) + len(queued_work(queue))
            drive_run(proc, rng, report, run, stderr, kill=killed, backlog=backlog)
            if killed:
                report.mid_work_kills += bool(os.listdir(source) or queued_work(queue))
            expected = KILLED_RUN_ERRORS if killed else ()
            report.violations += [f"{run}: {line}" for line in crashes(stderr, expected=expected)]
            completed_in[run] = completions(set(os.listdir(done)) - before)
        _end_of_day(queue, source, f"day{day:02d} ({order})", report)
        day += 1
    audit_loads(workdir / "ledger.txt", names, completed_in, report)
    return report


def _end_of_day(queue: Path, source: Path, day: str, report: ChainReport) -> None:
    """After a day's clean run: nothing left, the day's markers kept; then the night
    (the markers age by a day, as they would)."""
    left = queued_work(queue) + sorted(os.listdir(source))
    if left:
        report.violations.append(f"{day} ended early: {len(left)} files left, {left[:3]}")
    markers = [queue / n for n in os.listdir(queue) if n not in queued_work(queue)]
    if not any(m.name.endswith(".done") for m in markers):
        report.violations.append(f"{day}: no done marker left for the next day")
    past = time.time() - NIGHT_SECONDS
    for marker in markers:
        os.utime(marker, (past, past))


if __name__ == "__main__":
    pipeline(*sys.argv[1:8])

"""The folder-queue campaign: a producer and 2 consumer processes on a queue folder,
SIGKILLed and restarted.

As a module (``python -m tools.faults.folder RUN QUEUE DONE SOURCE LEDGER``) it is the
pipeline: the producer moves each file of SOURCE into the queue; consumers claim one,
append ``<run> <name>`` to LEDGER ("load"), then ``task_done`` it into DONE. A restarted
run's readers take back the claims of killed consumers; its producer replaces the
killed producer's markers. ``run_chain`` drives killed runs and a final clean one.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from persistq import ReadableFolderQueue, WritableFolderQueue
from tools.faults.common import (
    NEW_PER_RUN,
    SECONDS_PER_ITEM,
    ChainReport,
    audit_loads,
    completions,
    drive_run,
    join_workers,
    start,
)

EXTENSION = ".dat"


def consume(
    queue: str, done: str, ledger: str, run: str, lease_seconds: float | None = None
) -> None:
    """A worker: claim each file, load it (a ledger line), then mark it done."""
    reader = ReadableFolderQueue(
        queue, EXTENSION, task_done_directory=done, lease_seconds=lease_seconds
    )
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for wip in reader:
        time.sleep(SECONDS_PER_ITEM)
        name = os.path.basename(reader.original_filename_from_wip(wip))
        os.write(fd, f"{run} {name}\n".encode())
        reader.task_done(wip)


def pipeline(run_dir: str, queue: str, done: str, source: str, ledger: str) -> None:
    """One run: announce the producer, start the workers, move the source files in."""
    writer = WritableFolderQueue(queue, EXTENSION)
    writer.purge_control_messages()  # the killed run's producer will never close
    ctx = multiprocessing.get_context("fork")
    run = os.path.basename(run_dir)
    workers = [ctx.Process(target=consume, args=(queue, done, ledger, run)) for _ in range(2)]
    for w in workers:
        w.start()
    print("ready", flush=True)
    put_source(writer, source)
    join_workers(workers)


def put_source(writer: WritableFolderQueue, source: str) -> None:
    """Move every file of folder ``source`` into the queue, in name order and paced as
    a real producer, then close the producer."""
    for n, name in enumerate(sorted(os.listdir(source))):
        writer.put(os.path.join(source, name))
        if n % 20 == 0:
            time.sleep(0.002)
    writer.close()


def lay_out(names: Iterable[str], feed: Path, *folders: Path) -> None:
    """Make a chain's folders and write each source file of ``names`` into ``feed``
    (its content is its name), where it waits for the run it arrives in."""
    for directory in (feed, *folders):
        directory.mkdir()
    for name in names:
        (feed / name).write_text(name)


def arrive(names: Iterable[str], feed: Path, source: Path) -> None:
    """Move the files of ``names`` still in ``feed`` to ``source``: a run's new files."""
    for name in names:
        if (feed / name).exists():
            (feed / name).rename(source / name)


def run_chain(
    workdir: Path, rng: random.Random, kills: int, items: int = 400, *, far: Path | None = None
) -> ChainReport:
    """``kills`` runs SIGKILLed at random moments, then one clean run; audited. With
    ``far`` (a directory on another file system) the source files and done/ live
    there: every put and task_done is a move across file systems."""
    report = ChainReport(family="folder queues")
    names = [f"item_{i:04d}{EXTENSION}" for i in range(items)]
    feed, source, done = ((far or workdir) / d for d in ("feed", "source", "done"))
    queue = workdir / "queue"
    lay_out(names, feed, source, queue, done)
    completed_in: dict[str, Counter[str]] = {}
    for k in range(kills + 1):
        run = f"run{k}"
        arrive(names if k == kills else names[: NEW_PER_RUN * (k + 1)], feed, source)
        backlog = len(os.listdir(source)) + len(os.listdir(queue))
        before = set(os.listdir(done))
        stderr = workdir / f"{run}.stderr"
        proc = start(
            "tools.faults.folder",
            str(workdir / run),
            str(queue),
            str(done),
            str(source),
            str(workdir / "ledger.txt"),
            stderr=stderr,
        )
        drive_run(proc, rng, report, run, stderr, kill=k < kills, backlog=backlog)
        if k < kills:
            report.mid_work_kills += bool(os.listdir(source) or queued_work(queue))
        completed_in[run] = completions(set(os.listdir(done)) - before)
    stranded = queued_work(queue) + sorted(os.listdir(source))
    if stranded:
        report.violations.append(f"left in the queue after the clean run: {stranded[:5]}")
    audit_loads(workdir / "ledger.txt", names, completed_in, report)
    return report


def run_cross_fs_chain(workdir: Path, rng: random.Random, kills: int) -> ChainReport:
    """:func:`run_chain` with the source folder and done/ on a tmpfs mounted under
    ``workdir`` (needs root, as in CI; elsewhere the chain runs on one file system and
    its family name says so)."""
    far = workdir / "other-fs"
    far.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount and umount:
        tmpfs = [mount, "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(far)]
        if subprocess.run(tmpfs, capture_output=True, check=False).returncode == 0:
            try:
                return _cross_fs(run_chain(workdir, rng, kills, far=far))
            finally:
                subprocess.run([umount, "-l", str(far)], check=False)
    report = run_chain(workdir, rng, kills)
    report.family = "folder queues (no second file system: mounting a tmpfs needs root)"
    return report


def _cross_fs(report: ChainReport) -> ChainReport:
    report.family = "folder queues across file systems"
    return report


CHAINS: list[Callable[[Path, random.Random, int], ChainReport]] = [run_chain, run_cross_fs_chain]
"""The folder family's topologies: one file system, and source/done on another."""


def queued_work(queue: Path) -> list[str]:
    """Messages and claims (wip files) in the queue folder; markers are not work."""
    return sorted(n for n in os.listdir(queue) if n.endswith((EXTENSION, ".wip")))


if __name__ == "__main__":
    pipeline(*sys.argv[1:6])

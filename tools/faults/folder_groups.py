"""The grouped folder-queue campaign: a producer and 2 consumer processes on a
:class:`~persistq.ReadableGroupedFileFolderQueue`, killed between the ``task_done``
calls of one group and at random.

As a module (``python -m tools.faults.folder_groups RUN QUEUE DONE SOURCE WORKDIR
DIE_AFTER``) it is the pipeline: files ``g0012_a.dat``, ``g0012_b.dat``, ... form group
``g0012``; a consumer records each group it is handed (``claims.txt``), loads its files
one by one (``ledger.txt``) and calls ``task_done`` after each. Consumer *i* SIGKILLs
itself right after its ``DIE_AFTER[i]``-th ``task_done`` (0: never) when that call did
not finish the group, so it dies between the ``task_done`` calls of one group
(``kills.txt`` says so); the other consumer goes on and must redo that group whole.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from persistq import ReadableGroupedFileFolderQueue, WritableFolderQueue
from tools.faults.common import (
    KILLED_RUN_ERRORS,
    NEW_PER_RUN,
    SECONDS_PER_ITEM,
    ChainReport,
    audit_loads,
    completions,
    crashes,
    drive_run,
    start,
)
from tools.faults.folder import EXTENSION, arrive, lay_out, put_source, queued_work

ITEMS = ("a", "b", "c")
"""The files of every group."""


def group_of(name: str) -> str:
    """``g0012_a.dat`` belongs to group ``g0012``."""
    return name.split("_", 1)[0]


def item_of(name: str) -> str:
    """``g0012_a.dat`` is item ``a`` of its group."""
    return name.split("_", 1)[1].removesuffix(EXTENSION)


def consume(queue: str, done: str, workdir: str, run: str, die_after: int) -> None:
    """A worker: for each group, record the claim, load and ``task_done`` each file."""
    reader = ReadableGroupedFileFolderQueue(
        queue,
        EXTENSION,
        task_done_directory=done,
        grouping_function=group_of,
        item_function=item_of,
        list_of_items_in_group=ITEMS,
    )
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    ledger, claims = (os.open(os.path.join(workdir, f), flags, 0o644) for f in FILES[:2])
    calls = 0
    while True:
        asked = time.monotonic()  # before the DONE decision (its return waits for watchdog)
        try:
            wips = next(reader)
        except StopIteration:  # DONE
            with open(os.path.join(workdir, FILES[3]), "a") as ends:
                ends.write(f"{run} {os.getpid()} {asked}\n")
            return
        names = [os.path.basename(reader.original_filename_from_wip(w)) for w in wips]
        os.write(claims, f"{run} {os.getpid()} {','.join(names)}\n".encode())
        for wip, name in zip(wips, names, strict=True):
            time.sleep(SECONDS_PER_ITEM)
            os.write(ledger, f"{run} {name}\n".encode())
            moved = reader.task_done(wip)
            calls += 1
            if die_after and calls >= die_after and moved is None:
                with open(os.path.join(workdir, FILES[2]), "a") as kills:
                    kills.write(f"{run} {group_of(name)} {time.monotonic()}\n")
                os.kill(os.getpid(), signal.SIGKILL)


FILES = ("ledger.txt", "claims.txt", "kills.txt", "ends.txt")
"""Loads, claims, self-kills (and when, just before), consumers that got DONE (and
when they asked for it); times on CLOCK_MONOTONIC, one clock for every process."""


def pipeline(run_dir: str, queue: str, done: str, source: str, workdir: str, die: str) -> None:
    """One run: announce the producer, start the workers, move the source files in;
    exit 0 if every worker ended well or by the SIGKILL it was told to send itself."""
    writer = WritableFolderQueue(queue, EXTENSION)
    writer.purge_control_messages()  # the killed run's producer will never close
    ctx = multiprocessing.get_context("fork")
    run = os.path.basename(run_dir)
    plans = [int(n) for n in die.split(",")]
    workers = [ctx.Process(target=consume, args=(queue, done, workdir, run, n)) for n in plans]
    for w in workers:
        w.start()
    print("ready", flush=True)
    put_source(writer, source)
    for w in workers:
        w.join()
    allowed = {0, -signal.SIGKILL}
    failed = [(w.exitcode, n) for w, n in zip(workers, plans, strict=True)]
    if any(code not in allowed or (code and not n) for code, n in failed):
        print(f"workers failed: (exit code, die_after) {failed}", file=sys.stderr)
        sys.exit(1)


def run_chain(workdir: Path, rng: random.Random, kills: int, groups: int = 130) -> ChainReport:
    """``kills`` killed runs, then one clean run; audited per file and per group.

    A killed run is one of: a random SIGKILL of the pipeline; a consumer dying between
    two ``task_done`` calls of a group and then the random SIGKILL; or that consumer
    death alone, the run going on to its end (the other consumer redoes the group).
    """
    report = ChainReport(family="grouped folder queues (kills between a group's task_done calls)")
    names = [f"g{g:04d}_{item}{EXTENSION}" for g in range(groups) for item in ITEMS]
    feed, source, queue, done = (workdir / d for d in ("feed", "source", "queue", "done"))
    lay_out(names, feed, source, queue, done)
    completed_in: dict[str, Counter[str]] = {}
    for k in range(kills + 1):
        run = f"run{k}"
        arrived = len(ITEMS) * (NEW_PER_RUN // len(ITEMS)) * (k + 1)  # whole groups
        arrive(names if k == kills else names[:arrived], feed, source)
        backlog = len(os.listdir(source)) + len(os.listdir(queue))
        mode = "clean" if k == kills else rng.choice(["random", "between", "between-only"])
        die = _deaths(mode, rng)
        before = set(os.listdir(done))
        stderr = workdir / f"{run}.stderr"
        proc = start(
            "tools.faults.folder_groups",
            *(str(p) for p in (workdir / run, queue, done, source, workdir)),
            ",".join(map(str, die)),
            stderr=stderr,
        )
        random_kill = mode in ("random", "between")
        drive_run(proc, rng, report, run, stderr, kill=random_kill, backlog=backlog)
        deaths = _lines(workdir / FILES[2], run)
        report.kills += len(deaths)
        if random_kill or deaths:
            report.mid_work_kills += bool(deaths or os.listdir(source) or queued_work(queue))
        left = queued_work(queue) or os.listdir(source)
        if not random_kill and left and not _died_after_the_others_finished(workdir, run):
            report.violations.append(f"{run} ended with work left: {queued_work(queue)[:5]}")
        expected = KILLED_RUN_ERRORS if random_kill else ()
        report.violations += [f"{run}: {line}" for line in crashes(stderr, expected=expected)]
        completed_in[run] = completions(set(os.listdir(done)) - before)
    audit_loads(workdir / FILES[0], names, completed_in, report)
    _audit_groups(workdir / FILES[1], report)
    return report


def _deaths(mode: str, rng: random.Random) -> list[int]:
    """After how many ``task_done`` calls each consumer dies (0: never); in
    ``between-only`` runs exactly one dies, so the other is left to redo its group."""
    if mode in ("clean", "random"):
        return [0, 0]
    if mode == "between-only":
        return rng.sample([rng.randint(1, 6), 0], 2)
    die = [rng.randint(1, 6) if rng.random() < 0.7 else 0 for _ in range(2)]
    return die if any(die) else [rng.randint(1, 6), 0]


def _audit_groups(claims: Path, report: ChainReport) -> None:
    """Every claim a consumer was handed is one whole group (never a part of one)."""
    for line in claims.read_text().splitlines() if claims.exists() else []:
        run, pid, names = line.split(" ")
        members = names.split(",")
        keys = {group_of(n) for n in members}
        if len(keys) != 1 or sorted(item_of(n) for n in members) != sorted(ITEMS):
            report.violations.append(f"{run}: PID {pid} was handed a split group: {members}")


def _died_after_the_others_finished(workdir: Path, run: str) -> bool:
    """Whether, in ``run``, every other consumer had asked for its DONE before a
    consumer killed itself. The group it held may then be for the next run to take
    back: a reader takes back the claims of owners that are gone when it decides DONE,
    and this owner may still have run then (it claimed the group late, say, while the
    other finished the rest). A DONE asked for after the death must have taken it back."""
    died = [float(line.split()[2]) for line in _lines(workdir / FILES[2], run)]
    ended = [float(line.split()[2]) for line in _lines(workdir / FILES[3], run)]
    return bool(died and ended) and max(ended) < min(died)


def _lines(path: Path, run: str) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line.split(" ")[0] == run]


if __name__ == "__main__":
    pipeline(*sys.argv[1:7])

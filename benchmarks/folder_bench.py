"""Folder queue benchmark (issue 3): pickup latency, claim throughput against
``dirq.QueueSimple``, and drain time as the folder grows.

Run ``.venv/bin/python benchmarks/folder_bench.py`` (about three minutes on 2 cores,
mostly spent creating the files) or add ``--quick`` for a smaller run. Prints
Markdown tables, every row measured in this run on the same disk:

* pickup latency p50/p99 from ``rename`` into the folder to ``get`` returning in a
  consumer process blocked in ``get``: with inotify events, with ``poll_interval``
  polling, and with watchdog's ``PollingObserver``;
* messages per second with 1 and 2 consumer processes draining a pre-filled queue, and
  end to end with 1 producer + 2 consumers, for the folder queue and ``dirq.QueueSimple``;
* drain time of one reader for 1k, 10k and 100k files, with the time per file and per
  ``n log n`` relative to the smallest run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import multiprocessing
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier, Event
from queue import Empty
from typing import Any

from dirq.QueueSimple import QueueSimple

from persistq import DONE, ReadableFolderQueue, WritableFolderQueue

CTX = multiprocessing.get_context("fork")
PAYLOAD = b"2024-01-01\tEAST\t1234.5\n" * 4


def fill(folder: str, n: int, prefix: str = "m") -> list[str]:
    """Create ``n`` small message files in ``folder``; return their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"{prefix}{i:07d}.tsv")
        with open(path, "wb") as f:
            f.write(PAYLOAD)
        paths.append(path)
    return paths


# -- pickup latency ----------------------------------------------------------------------


def _latency_consumer(qdir: str, options: dict[str, Any], samples: int, conn: Connection) -> None:
    r = ReadableFolderQueue(qdir, **options)
    with contextlib.suppress(Empty):
        r.get(timeout=1)
    conn.send("ready")
    for _ in range(samples):
        wip = r.get(timeout=30_000)
        conn.send(time.monotonic())
        assert isinstance(wip, str)
        r.task_done(wip)
    r.dispose()


def pickup_latency(options: dict[str, Any], samples: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds from rename into the folder to ``get`` returning."""
    latencies = pickup_latencies(options, samples)
    p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)]
    return statistics.median(latencies), p99


def pickup_latencies(options: dict[str, Any], samples: int) -> list[float]:
    """Each pickup's milliseconds from rename into the folder to ``get`` returning, sorted."""
    root = tempfile.mkdtemp(prefix="folder-bench-")
    try:
        qdir, staging = os.path.join(root, "q"), os.path.join(root, "staging")
        WritableFolderQueue(qdir)
        sources = fill(staging, samples)
        ours, theirs = CTX.Pipe()
        child = CTX.Process(target=_latency_consumer, args=(qdir, options, samples, theirs))
        child.start()
        ours.recv()
        latencies = []
        rng = random.Random(1)
        for source in sources:
            time.sleep(rng.uniform(0.005, 0.06))  # the consumer blocks in get() again
            started = time.monotonic()
            os.rename(source, os.path.join(qdir, os.path.basename(source)))
            latencies.append((ours.recv() - started) * 1000)
        child.join(30)
        return sorted(latencies)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- throughput: folder queue ------------------------------------------------------------


def _folder_consumer(qdir: str, barrier: Barrier) -> None:
    r = ReadableFolderQueue(qdir)
    with contextlib.suppress(Empty):  # start watching before the clock starts
        r.get(timeout=0)
    barrier.wait()
    for wip in r:
        r.task_done(wip)
    r.dispose()


def _folder_producer(qdir: str, sources: list[str], barrier: Barrier) -> None:
    w = WritableFolderQueue(qdir)
    barrier.wait()
    for source in sources:
        w.put(source)
    w.close()


def folder_rate(n: int, consumers: int, producer: bool) -> float:
    """Messages per second: consumers drain ``n`` files (pre-filled, or put meanwhile)."""
    root = tempfile.mkdtemp(prefix="folder-bench-")
    try:
        qdir = os.path.join(root, "q")
        if producer:
            sources = fill(os.path.join(root, "staging"), n)
        else:
            w = WritableFolderQueue(qdir)
            fill(qdir, n)
            w.close()
        barrier = CTX.Barrier(consumers + int(producer) + 1)
        procs = [
            CTX.Process(target=_folder_consumer, args=(qdir, barrier)) for _ in range(consumers)
        ]
        if producer:
            procs.append(CTX.Process(target=_folder_producer, args=(qdir, sources, barrier)))
        return _timed(procs, barrier, n)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- throughput: dirq.QueueSimple --------------------------------------------------------


def _dirq_consumer(path: str, finished: Event, barrier: Barrier) -> None:
    q = QueueSimple(path)
    barrier.wait()
    while True:
        name = q.first()
        while name:
            if q.lock(name):
                q.get(name)
                q.remove(name)
            name = q.next()
        if finished.is_set() and q.count() == 0:
            return
        time.sleep(0.001)


def _dirq_producer(path: str, n: int, finished: Event, barrier: Barrier) -> None:
    q = QueueSimple(path)
    barrier.wait()
    for _ in range(n):
        q.add(PAYLOAD)
    finished.set()


def dirq_rate(n: int, consumers: int, producer: bool) -> float:
    """Messages per second for ``dirq.QueueSimple`` in the same set-up as :func:`folder_rate`."""
    root = tempfile.mkdtemp(prefix="dirq-bench-")
    try:
        path = os.path.join(root, "q")
        q = QueueSimple(path)
        finished = CTX.Event()
        if not producer:
            for _ in range(n):
                q.add(PAYLOAD)
            finished.set()
        barrier = CTX.Barrier(consumers + int(producer) + 1)
        procs = [
            CTX.Process(target=_dirq_consumer, args=(path, finished, barrier))
            for _ in range(consumers)
        ]
        if producer:
            procs.append(CTX.Process(target=_dirq_producer, args=(path, n, finished, barrier)))
        return _timed(procs, barrier, n)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _timed(procs: Sequence[BaseProcess], barrier: Barrier, n: int) -> float:
    for p in procs:
        p.start()
    barrier.wait()
    started = time.perf_counter()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"benchmark process failed with exit code {p.exitcode}")
    return n / (time.perf_counter() - started)


# -- drain time --------------------------------------------------------------------------


def drain_seconds(n: int) -> float:
    """Seconds for one reader to claim and finish ``n`` files until DONE."""
    root = tempfile.mkdtemp(prefix="folder-bench-")
    try:
        qdir = os.path.join(root, "q")
        w = WritableFolderQueue(qdir, durability="none")
        fill(qdir, n)
        w.close()
        r = ReadableFolderQueue(qdir, durability="none")
        started = time.perf_counter()
        count = 0
        while (wip := r.get()) is not DONE:
            assert isinstance(wip, str)
            r.task_done(wip)
            count += 1
        elapsed = time.perf_counter() - started
        r.dispose()
        if count != n:
            raise RuntimeError(f"drained {count} of {n} files")
        return elapsed
    finally:
        shutil.rmtree(root, ignore_errors=True)


def median_of(measure: Callable[[], float], repeats: int) -> float:
    """The median of ``repeats`` runs (dirq's rate in particular varies from run to run)."""
    return statistics.median(measure() for _ in range(repeats))


def main() -> None:
    """Run the benchmark and print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run")
    args = parser.parse_args()
    samples = 100 if args.quick else 400
    n = 2_000 if args.quick else 10_000
    repeats = 1 if args.quick else 3
    sizes = [1_000, 3_000, 10_000] if args.quick else [1_000, 10_000, 100_000]

    print("### Pickup latency (rename into the folder -> get returns in another process)\n")
    print("| waking | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    modes: list[tuple[str, dict[str, Any], int]] = [
        ("inotify events (default)", {}, samples),
        ("poll_interval=0.05", {"poll_interval": 0.05}, samples // 4),
        ("PollingObserver", {"observer": "polling"}, samples // 10),
    ]
    for label, options, count in modes:
        p50, p99 = pickup_latency(options, count)
        print(f"| {label} | {p50:.2f} | {p99:.2f} |")

    print(f"\n### Throughput, messages/s ({n} small files, median of {repeats})\n")
    print("| set-up | persistq folder queue | dirq.QueueSimple | ratio |")
    print("|---|---:|---:|---:|")
    for label, consumers, producer in [
        ("drain, 1 consumer", 1, False),
        ("drain, 2 consumers", 2, False),
        ("1 producer + 2 consumers", 2, True),
    ]:
        ours = median_of(functools.partial(folder_rate, n, consumers, producer), repeats)
        theirs = median_of(functools.partial(dirq_rate, n, consumers, producer), repeats)
        print(f"| {label} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.1f}x |")

    print("\n### Drain time of one reader (get + task_done until DONE)\n")
    print("| files | seconds | µs per file | time / (n log n), relative |")
    print("|---:|---:|---:|---:|")
    base: float | None = None
    for size in sizes:
        seconds = drain_seconds(size)
        per_nlogn = seconds / (size * math.log2(size))
        base = base or per_nlogn
        print(f"| {size:,} | {seconds:.2f} | {seconds / size * 1e6:.0f} | {per_nlogn / base:.2f} |")


if __name__ == "__main__":
    main()

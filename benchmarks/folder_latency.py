"""Folder queue pickup latency (used by ``folder_bench.py`` and ``compare.py``): from the
rename of a file into the queue folder to ``get()`` returning in a consumer process
blocked in ``get()``."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from multiprocessing.connection import Connection
from queue import Empty
from typing import Any

from harness import markdown_table, percentile

from persistq import ReadableFolderQueue, WritableFolderQueue

CTX = multiprocessing.get_context("fork")
LATENCY_MODES: dict[str, tuple[dict[str, Any], float]] = {
    "inotify events (default)": ({}, 1.0),
    "poll_interval=0.05": ({"poll_interval": 0.05}, 0.25),
    "PollingObserver": ({"observer": "polling"}, 0.1),
}
"""Each way of waking: the reader's options and the share of the samples it takes."""
QUANTILES = (0.5, 0.9, 0.99)


def _consumer(qdir: str, options: dict[str, Any], samples: int, conn: Connection) -> None:
    reader = ReadableFolderQueue(qdir, **options)
    with contextlib.suppress(Empty):  # the folder is empty: this starts the watching
        reader.get(timeout=1)
    conn.send("ready")
    for _ in range(samples):
        wip = reader.get(timeout=30_000)
        conn.send(time.monotonic())
        assert isinstance(wip, str)
        reader.task_done(wip)
    reader.dispose()


def pickup_latencies(options: dict[str, Any], samples: int, root: str | None = None) -> list[float]:
    """Each pickup's milliseconds from rename into the folder to ``get`` returning."""
    directory = tempfile.mkdtemp(prefix="latency_", dir=root)
    try:
        qdir, staging = os.path.join(directory, "q"), os.path.join(directory, "staging")
        WritableFolderQueue(qdir)
        os.mkdir(staging)
        ours, theirs = CTX.Pipe()
        child = CTX.Process(target=_consumer, args=(qdir, options, samples, theirs))
        child.start()
        ours.recv()
        latencies = []
        rng = random.Random(1)
        for i in range(samples):
            source = os.path.join(staging, f"m{i:07d}.tsv")
            with open(source, "wb") as f:
                f.write(b"x\n")
            time.sleep(rng.uniform(0.005, 0.06))  # the consumer blocks in get() again
            started = time.monotonic()
            os.rename(source, os.path.join(qdir, os.path.basename(source)))
            latencies.append((ours.recv() - started) * 1000)
        child.join(30)
        return latencies
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def measure_latencies(samples: int, root: str | None = None) -> dict[str, list[float]]:
    """The latencies of every mode of :data:`LATENCY_MODES`."""
    return {
        mode: pickup_latencies(options, max(10, int(samples * share)), root)
        for mode, (options, share) in LATENCY_MODES.items()
    }


def latency_table(latencies: dict[str, list[float]]) -> str:
    """Pickups, p50, p90 and p99 (nearest rank) in ms per mode, with the load average."""
    header = ["waking", "pickups", *(f"p{round(q * 100)} ms" for q in QUANTILES)]
    rows = [
        [mode, str(len(values)), *(f"{percentile(values, q):.1f}" for q in QUANTILES)]
        for mode, values in latencies.items()
    ]
    return markdown_table(header, rows, "lrrrr")

"""Stress: 4 producer and 8 consumer processes share one folder queue of 10,000 files;
each file is claimed exactly once and no claim is left stranded."""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from persistq import ReadableFolderQueue, WritableFolderQueue

PRODUCERS, CONSUMERS, FILES = 4, 8, 10_000


def produce(queue: str, source: str, index: int) -> None:
    writer = WritableFolderQueue(queue, ".dat")
    os.makedirs(source)
    for i in range(index, FILES, PRODUCERS):
        path = os.path.join(source, f"m{i:05d}.dat")
        with open(path, "w") as f:
            f.write(str(i))
        writer.put(path)
    writer.close()


def consume(queue: str, ledger: str) -> None:
    reader = ReadableFolderQueue(queue, ".dat")
    with open(ledger, "w") as out:
        for wip in reader:
            out.write(os.path.basename(reader.original_filename_from_wip(wip)) + "\n")
            reader.task_done(wip)
    reader.dispose()


@pytest.mark.timeout(300)
def test_many_processes_claim_each_file_exactly_once(tmp_path: Path) -> None:
    ctx: Any = multiprocessing.get_context("fork")
    queue = tmp_path / "queue"
    announcer = WritableFolderQueue(queue, ".dat")  # a producer is known before consumers ask
    consumers = [
        ctx.Process(target=consume, args=(str(queue), str(tmp_path / f"ledger{c}")))
        for c in range(CONSUMERS)
    ]
    producers = [
        ctx.Process(target=produce, args=(str(queue), str(tmp_path / f"src{p}"), p))
        for p in range(PRODUCERS)
    ]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join(timeout=240)
        assert p.exitcode == 0
    announcer.close()
    for p in consumers:
        p.join(timeout=240)
        assert p.exitcode == 0
    claims: Counter[str] = Counter()
    for c in range(CONSUMERS):
        claims.update((tmp_path / f"ledger{c}").read_text().split())
    assert claims == Counter(f"m{i:05d}.dat" for i in range(FILES))
    assert sum(1 for c in range(CONSUMERS) if (tmp_path / f"ledger{c}").read_text()) > 1
    leftovers = [n for n in os.listdir(queue) if n.endswith((".dat", ".wip"))]
    assert leftovers == []

"""PersistentQueue shared by producer and consumer processes under every start method."""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from persistq import PersistentQueue
from persistq.journal import read_records
from persistq.journal.naming import parse_journal_name

ITEMS = 300


def produce(q: PersistentQueue, items: list[str]) -> None:
    for item in items:
        q.put(item)
    q.dispose()


def consume(q: PersistentQueue, results: multiprocessing.Queue[tuple[str, int]]) -> None:
    count = 0
    for msg in q:
        q.task_done(msg)
        count += 1
    results.put((str(os.getpid()), count))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_producers_and_three_consumers_share_the_queue(tmp_path: Path, method: str) -> None:
    ctx: Any = multiprocessing.get_context(method)
    q = PersistentQueue("items", tmp_path, number_of_workers=3, mp_context=ctx)
    results: multiprocessing.Queue[tuple[str, int]] = ctx.Queue()
    items = [f"file_{i:04d}.csv" for i in range(ITEMS)]
    consumers = [ctx.Process(target=consume, args=(q, results)) for _ in range(3)]
    producers = [ctx.Process(target=produce, args=(q, items[i::2])) for i in range(2)]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join(timeout=60)
        assert p.exitcode == 0
    q.close()
    reports = dict(results.get(timeout=60) for _ in consumers)  # every consumer saw DONE
    for p in consumers:
        p.join(timeout=30)
        assert p.exitcode == 0
    q.join()
    assert sum(reports.values()) == ITEMS

    requested = {p.name: read_records(p) for p in tmp_path.glob("items_requested_PID*.tsv")}
    completed = {p.name: read_records(p) for p in tmp_path.glob("items_completed_PID*.tsv")}
    assert {p.pid for p in producers} == {writer_pid(name) for name in requested}
    assert {int(pid) for pid, n in reports.items() if n} == {writer_pid(n) for n in completed}
    assert Counter(r[0] for rs in requested.values() for r in rs) == Counter(items)
    assert Counter(r[0] for rs in completed.values() for r in rs) == Counter(items)


def writer_pid(name: str) -> int | None:
    parsed = parse_journal_name(name, "items")
    assert parsed is not None and parsed.token is not None, name  # unique per writer
    return parsed.pid

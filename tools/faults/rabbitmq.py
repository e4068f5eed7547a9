"""The RabbitMQ campaign: a producer and 2 consumer processes on a broker queue,
SIGKILLed and restarted, against a throwaway broker node.

As a module (``python -m tools.faults.rabbitmq RUN URL QUEUE ITEMS_JSON LEDGER PUTS``)
it is the pipeline: the producer writes ``begin <item>`` to PUTS, puts the item (which
returns once the broker confirmed it), then writes ``put <item>``; consumers append
``<run> <item>`` to LEDGER ("load") before each task_done. A restarted run forgets the
killed producer's records (``purge_control_messages``) and puts what was never
confirmed; the broker gives the killed consumers' messages to the new ones.
``run_chain`` drives killed runs and a final clean one, then audits them:

- **lost**: an item never loaded;
- **completed twice**: an item loaded twice in the clean run (nothing was killed there),
  unless it may have been put twice (killed between its confirm and the ``put`` line);
- **reprocessed in flight**: the other extra loads (in flight at a kill: at least once);
- nothing is left in the queue or its dead-letter queue after the clean run.
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from persistq.rabbitmq import RabbitMQQueue
from tools.faults.common import (
    NEW_PER_RUN,
    SECONDS_PER_ITEM,
    ChainReport,
    drive_run,
    join_workers,
    start,
)
from tools.rabbitmq_node import Node

_node: Node | None = None


def broker_url() -> str:
    """The URL of this process's campaign broker (started on first use, removed at exit)."""
    global _node  # noqa: PLW0603 - one node per campaign process
    if _node is None:
        _node = Node()
        _node.start()
        atexit.register(_node.remove)
    return _node.url


def consume(q: RabbitMQQueue, ledger: str, run: str) -> None:
    """A worker: load each item (a ledger line), then acknowledge it."""
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for item in q:
        time.sleep(SECONDS_PER_ITEM)
        os.write(fd, f"{run} {item}\n".encode())
        q.task_done(item)


def pipeline(run: str, url: str, queue: str, items_json: str, ledger: str, puts: str) -> None:
    """One run: forget the killed producers, start the workers, put the new items."""
    q = RabbitMQQueue(url, queue)
    q.purge_control_messages()  # the killed run's producer will never close
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=consume, args=(q, ledger, run)) for _ in range(2)]
    for w in workers:
        w.start()
    print("ready", flush=True)
    with open(items_json) as f:
        items = json.load(f)
    fd = os.open(puts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for item in items:
        os.write(fd, f"begin {item}\n".encode())
        q.put(item)
        os.write(fd, f"put {item}\n".encode())
    q.close()
    join_workers(workers)


def _lines(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()]  # type: ignore[misc]


def run_chain(workdir: Path, rng: random.Random, kills: int, items: int = 400) -> ChainReport:
    """``kills`` runs SIGKILLed at random moments, then one clean run; audited."""
    report = ChainReport(family="RabbitMQ")
    url = broker_url()
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    names = [f"file_{i:04d}.csv" for i in range(items)]
    ledger, puts = workdir / "ledger.txt", workdir / "puts.txt"
    for k in range(kills + 1):
        run = f"run{k}"
        confirmed = {item for kind, item in _lines(puts) if kind == "put"}
        available = names if k == kills else names[: NEW_PER_RUN * (k + 1)]
        source = [item for item in available if item not in confirmed]
        loaded = {item for _, item in _lines(ledger)}
        backlog = len(source) + len(confirmed - loaded)
        items_file = workdir / f"{run}.json"
        items_file.write_text(json.dumps(source))
        stderr = workdir / f"{run}.stderr"
        args = (run, url, queue, str(items_file), str(ledger), str(puts))
        proc = start("tools.faults.rabbitmq", *args, stderr=stderr)
        drive_run(proc, rng, report, run, stderr, kill=k < kills, backlog=backlog)
        if k < kills:
            report.mid_work_kills += backlog > 0
    _audit(report, names, _lines(ledger), _lines(puts), f"run{kills}")
    check = RabbitMQQueue(url, queue)
    left = check.qsize()
    check.dispose()
    if left:
        report.violations.append(f"{left} message(s) left in {queue} after the clean run")
    return report


def _audit(
    report: ChainReport,
    names: list[str],
    loads: list[tuple[str, str]],
    puts: list[tuple[str, str]],
    clean_run: str,
) -> None:
    begun = Counter(item for kind, item in puts if kind == "begin")
    put = Counter(item for kind, item in puts if kind == "put")
    maybe_twice = {item for item in begun if begun[item] > put[item] or put[item] > 1}
    total = Counter(item for _, item in loads)
    in_clean = Counter(item for run, item in loads if run == clean_run)
    report.messages = len(names)
    report.lost = sum(1 for item in names if total[item] == 0)
    report.completed_twice = sum(
        1 for item, n in in_clean.items() if n > 1 and item not in maybe_twice
    )
    report.reprocessed_in_flight = sum(total.values()) - len(total) - report.completed_twice
    unknown = set(total) - set(names)
    if unknown:
        report.violations.append(f"loads of unknown items: {sorted(unknown)[:5]}")


if __name__ == "__main__":
    pipeline(*sys.argv[1:7])
